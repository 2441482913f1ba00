package dhcp

// Privileged end-to-end tests: the server runs in a "hypervisor" network
// namespace with spinel's addressing (gateways as local /32s, no address
// on the taps, a /32 route per VM via its tap, proxy ARP), and real DHCP
// clients run in "VM" namespaces behind veth pairs named like taps, set
// up as internal/agent/dataplane does (gateways on lo, proxy ARP and
// strict rp_filter on the tap).
//
// They need root and, from Debian: iproute2 (ip), busybox (udhcpc) and
// isc-dhcp-client (dhclient).

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agent/netnstest"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// requireTools skips without root and fails, naming the Debian package,
// when a client binary is missing.
func requireTools(t *testing.T) {
	netnstest.Require(t, map[string]string{"busybox": "busybox", "dhclient": "isc-dhcp-client"})
}

func run(t *testing.T, args ...string) string { t.Helper(); return netnstest.Run(t, args...) }

// addNetns creates a network namespace deleted at the end of the test.
func addNetns(t *testing.T, role string) string { t.Helper(); return netnstest.Add(t, "spdhcp", role) }

// inNetns runs f on a thread switched into network namespace ns; sockets
// f creates stay in ns.
func inNetns(t *testing.T, ns string, f func()) { t.Helper(); netnstest.In(t, ns, f) }

// testbed is a hypervisor namespace and the VMs plugged into it.
type testbed struct {
	hv  string
	srv *Server
	log *lockedBuffer // the server's log
}

type vm struct {
	ns, tap, mac, ip string
	mtu              int
}

func newTestbed(t *testing.T, gateways ...string) *testbed {
	requireTools(t)
	tb := &testbed{hv: addNetns(t, "hv"), log: &lockedBuffer{}}
	run(t, "ip", "-n", tb.hv, "link", "set", "lo", "up")
	for _, gw := range gateways {
		run(t, "ip", "-n", tb.hv, "addr", "add", gw+"/32", "dev", "lo")
	}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, tb.log),
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	tb.srv = New(Config{DomainName: "openstacklocal", LeaseTime: time.Hour}, log)
	t.Cleanup(func() { tb.srv.Close() })
	return tb
}

// plug creates the VM's namespace (once) and its veth pair: the host end
// named like a tap, with spinel's host MAC and no address, a /32 route to
// the VM's address, proxy ARP and strict rp_filter as the dataplane sets
// them up.
func (tb *testbed) plug(t *testing.T, v *vm) {
	t.Helper()
	if v.ns == "" {
		v.ns = addNetns(t, "vm")
	}
	mtu := fmt.Sprint(v.mtu)
	run(t, "ip", "-n", tb.hv, "link", "add", v.tap, "mtu", mtu, "address", agentapi.HostMAC,
		"type", "veth", "peer", "name", "eth0", "netns", v.ns, "address", v.mac, "mtu", mtu)
	run(t, "ip", "-n", tb.hv, "link", "set", v.tap, "up")
	inNetns(t, tb.hv, func() {
		for _, knob := range []string{"proxy_arp", "rp_filter"} {
			// /proc/sys/net is the namespace of the thread that opens it.
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+v.tap+"/"+knob, []byte("1"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	run(t, "ip", "-n", tb.hv, "route", "add", v.ip+"/32", "dev", v.tap)
	run(t, "ip", "-n", v.ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", v.ns, "link", "set", "eth0", "up")
}

// setPorts calls SetPorts from the hypervisor namespace, where the
// listeners' sockets must be created.
func (tb *testbed) setPorts(t *testing.T, ports ...agentapi.Port) {
	t.Helper()
	var err error
	inNetns(t, tb.hv, func() { err = tb.srv.SetPorts(ports) })
	if err != nil {
		t.Fatalf("SetPorts: %v", err)
	}
}

func (tb *testbed) listener(tap string) *listener {
	ln, _ := tb.srv.lns.Running(tap)
	return ln
}

// The client scripts write the environment the client passes them to
// OUT.<event>, OUT baked in since dhclient scrubs the environment of its
// script. With configure, udhcpc's also configures the address, so that
// the client can renew by unicast.
func udhcpcScript(out string, configure bool) string {
	s := "#!/bin/sh\nout=" + out + ".$1\nenv | sort > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n"
	if configure {
		s += "[ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\n"
	}
	return s + "exit 0\n"
}

func dhclientScript(out string) string {
	return "#!/bin/sh\nout=" + out + ".$reason\nenv | sort > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\nexit 0\n"
}

const dhclientConf = `option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers,
	host-name, interface-mtu, rfc3442-classless-static-routes;
timeout 20;
retry 1;
`

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is a DHCP client process in a VM namespace.
type client struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    string // the script writes OUT.<event>
	dir    string
	stderr *lockedBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

func newClient(t *testing.T) *client {
	dir := t.TempDir()
	return &client{t: t, dir: dir, out: filepath.Join(dir, "env"), stderr: &lockedBuffer{},
		exited: make(chan struct{})}
}

func (c *client) start(v *vm, args ...string) {
	c.t.Helper()
	c.cmd = exec.Command("ip", append([]string{"netns", "exec", v.ns}, args...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	c.t.Cleanup(c.stop)
}

// stop ends the client (ip netns exec execs it, so the pid is the
// client's own) and waits for it.
func (c *client) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// wait waits for the client to exit and returns its error.
func (c *client) wait(timeout time.Duration) error {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(timeout):
		c.t.Fatalf("client still running after %v\n%s", timeout, c.stderr)
		return nil
	}
}

// event waits for the script to have been called with event and returns
// the environment it got.
func (c *client) event(event string, timeout time.Duration) map[string]string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.Open(c.out + "." + event)
		if err == nil {
			env := map[string]string{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok {
					env[k] = strings.Trim(v, "'")
				}
			}
			f.Close()
			return env
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %q event after %v; client output:\n%s", event, timeout, c.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *client) has(event string) bool {
	_, err := os.Stat(c.out + "." + event)
	return err == nil
}

// udhcpc starts busybox udhcpc: with once, -q (quit once bound) and -n
// (fail when nothing answers 3 discovers, one second apart), and waits
// for it to exit; otherwise it keeps running, configuring its address.
func udhcpc(t *testing.T, v *vm, once bool) (*client, error) {
	c := newClient(t)
	script := writeFile(t, c.dir, "udhcpc.sh", udhcpcScript(c.out, !once), 0o755)
	args := []string{"busybox", "udhcpc", "-i", "eth0", "-f", "-t", "3", "-T", "1",
		"-O", "mtu", "-O", "staticroutes", "-s", script}
	if !once {
		c.start(v, args...)
		return c, nil
	}
	c.start(v, append(args, "-q", "-n")...)
	return c, c.wait(30 * time.Second)
}

// dhclient starts ISC dhclient in the foreground, trying once, with the
// given lease database.
func dhclient(t *testing.T, v *vm, leases string) *client {
	c := newClient(t)
	script := writeFile(t, c.dir, "dhclient.sh", dhclientScript(c.out), 0o755)
	conf := writeFile(t, c.dir, "dhclient.conf", dhclientConf, 0o644)
	lf := writeFile(t, c.dir, "dhclient.leases", leases, 0o644)
	c.start(v, "dhclient", "-d", "-1", "-v", "-cf", conf, "-sf", script, "-lf", lf,
		"-pf", filepath.Join(c.dir, "dhclient.pid"), "eth0")
	return c
}

func port(id string, v *vm, subnet agentapi.Subnet) agentapi.Port {
	return agentapi.Port{ID: id, Tap: v.tap, MAC: v.mac, MTU: v.mtu, AdminStateUp: true,
		FixedIPs: []agentapi.FixedIP{{SubnetID: subnet.ID, IPAddress: v.ip}},
		Subnets:  []agentapi.Subnet{subnet}}
}

func expect(t *testing.T, env map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got := env[k]; got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

func TestRealClients(t *testing.T) {
	tb := newTestbed(t, "10.10.0.1", "10.20.0.1")
	subnetA := agentapi.Subnet{ID: "subnet-a", CIDR: "10.10.0.0/24", IPVersion: 4, EnableDHCP: true,
		GatewayIP: "10.10.0.1", DNSNameservers: []string{"192.0.2.53", "198.51.100.53"},
		HostRoutes: []agentapi.HostRoute{{Destination: "172.16.0.0/12", Nexthop: "10.10.0.254"}}}
	subnetB := agentapi.Subnet{ID: "subnet-b", CIDR: "10.20.0.0/16", IPVersion: 4, EnableDHCP: true,
		GatewayIP: "10.20.0.1", DNSNameservers: []string{"203.0.113.53"}}
	vm1 := &vm{tap: agentapi.TapName("a1a1a1a1-0000-4000-8000-000000000001"), mac: "fa:16:3e:00:00:01",
		ip: "10.10.0.5", mtu: 1450}
	vm2 := &vm{tap: agentapi.TapName("b2b2b2b2-0000-4000-8000-000000000002"), mac: "fa:16:3e:00:00:02",
		ip: "10.20.3.7", mtu: 9000}
	tb.plug(t, vm1)
	tb.plug(t, vm2)
	p1 := port("a1a1a1a1-0000-4000-8000-000000000001", vm1, subnetA)
	p1.Hostname, p1.DNSDomain = "web-1", "example.org"
	p2 := port("b2b2b2b2-0000-4000-8000-000000000002", vm2, subnetB)
	tb.setPorts(t, p1, p2)

	t.Run("udhcpc", func(t *testing.T) {
		c, err := udhcpc(t, vm1, true)
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s", err, c.stderr)
		}
		env := c.event("bound", 0)
		expect(t, env, map[string]string{
			"ip": "10.10.0.5", "subnet": "255.255.255.0", "mask": "24", "router": "10.10.0.1",
			"dns": "192.0.2.53 198.51.100.53", "domain": "example.org", "hostname": "web-1",
			"mtu": "1450", "serverid": "10.10.0.1", "lease": "3600",
			"staticroutes": "172.16.0.0/12 10.10.0.254 169.254.169.254/32 10.10.0.1 0.0.0.0/0 10.10.0.1",
		})
	})

	t.Run("second port gets its own answer", func(t *testing.T) {
		c, err := udhcpc(t, vm2, true)
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s", err, c.stderr)
		}
		expect(t, c.event("bound", 0), map[string]string{
			"ip": "10.20.3.7", "subnet": "255.255.0.0", "router": "10.20.0.1", "dns": "203.0.113.53",
			"domain": "openstacklocal", "hostname": "host-10-20-3-7", "mtu": "9000", "serverid": "10.20.0.1",
			"staticroutes": "169.254.169.254/32 10.20.0.1 0.0.0.0/0 10.20.0.1",
		})
	})

	t.Run("dhclient", func(t *testing.T) {
		c := dhclient(t, vm1, "")
		env := c.event("BOUND", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{
			"new_ip_address": "10.10.0.5", "new_subnet_mask": "255.255.255.0", "new_routers": "10.10.0.1",
			"new_domain_name_servers": "192.0.2.53 198.51.100.53", "new_domain_name": "example.org",
			"new_host_name": "web-1", "new_interface_mtu": "1450", "new_dhcp_server_identifier": "10.10.0.1",
			"new_dhcp_lease_time": "3600", "new_dhcp_renewal_time": "1800", "new_dhcp_rebinding_time": "3150",
			"new_rfc3442_classless_static_routes": "12 172 16 10 10 0 254 32 169 254 169 254 10 10 0 1 0 10 10 0 1",
		})
	})

	t.Run("dhclient with a stale lease is NAKed, then served", func(t *testing.T) {
		stale := `lease {
  interface "eth0";
  fixed-address 10.10.0.99;
  option subnet-mask 255.255.255.0;
  option dhcp-server-identifier 10.10.0.1;
  renew 4 2099/01/01 00:00:00;
  rebind 4 2099/01/01 00:00:00;
  expire 4 2099/01/01 00:00:00;
}
`
		c := dhclient(t, vm1, stale)
		env := c.event("BOUND", 30*time.Second)
		c.stop()
		if !strings.Contains(c.stderr.String(), "DHCPNAK from 10.10.0.1") {
			t.Errorf("no NAK for the stale address; dhclient said:\n%s", c.stderr)
		}
		expect(t, env, map[string]string{"new_ip_address": "10.10.0.5"})
	})

	t.Run("foreign MAC gets nothing", func(t *testing.T) {
		run(t, "ip", "-n", vm1.ns, "link", "set", "eth0", "address", "fa:16:3e:00:00:99")
		defer run(t, "ip", "-n", vm1.ns, "link", "set", "eth0", "address", vm1.mac)
		c, err := udhcpc(t, vm1, true)
		if err == nil || c.has("bound") {
			t.Fatalf("a client with a foreign MAC got a lease:\n%s", c.stderr)
		}
	})

	t.Run("renewal picks up changed options without restarting the listener", func(t *testing.T) {
		before := tb.listener(vm1.tap)
		c, _ := udhcpc(t, vm1, false)
		defer run(t, "ip", "-n", vm1.ns, "addr", "flush", "dev", "eth0")
		defer c.stop()
		expect(t, c.event("bound", 30*time.Second), map[string]string{"dns": "192.0.2.53 198.51.100.53"})

		changed := p1
		changed.Subnets = []agentapi.Subnet{subnetA}
		changed.Subnets[0].DNSNameservers = []string{"192.0.2.99"}
		changed.MTU = 1400
		tb.setPorts(t, changed, p2)
		if after := tb.listener(vm1.tap); after != before {
			t.Errorf("listener restarted by an option change")
		}
		// SIGUSR1 makes udhcpc renew now: a unicast REQUEST from
		// 10.10.0.5 to the server identifier 10.10.0.1, which is local
		// on lo, not on the tap.
		c.cmd.Process.Signal(syscall.SIGUSR1)
		expect(t, c.event("renew", 10*time.Second), map[string]string{
			"ip": "10.10.0.5", "dns": "192.0.2.99", "mtu": "1400"})
		if !strings.Contains(tb.log.String(), "from=10.10.0.5:68 request=REQUEST reply=ACK") {
			t.Errorf("no REQUEST from the leased address: the renewal did not come by unicast")
		}
		tb.setPorts(t, p1, p2)
	})

	t.Run("re-created tap gets a new listener", func(t *testing.T) {
		before := tb.listener(vm2.tap)
		run(t, "ip", "-n", tb.hv, "link", "del", vm2.tap)
		tb.plug(t, vm2)
		tb.setPorts(t, p1, p2)
		after := tb.listener(vm2.tap)
		if after == nil || after == before || after.ifindex == before.ifindex {
			t.Fatalf("listener not restarted on the new tap")
		}
		if c, err := udhcpc(t, vm2, true); err != nil {
			t.Fatalf("udhcpc on the re-created tap: %v\n%s", err, c.stderr)
		}
	})

	t.Run("removed port is not served", func(t *testing.T) {
		tb.setPorts(t, p2)
		if tb.listener(vm1.tap) != nil {
			t.Fatal("listener of the removed port still running")
		}
		if c, err := udhcpc(t, vm1, true); err == nil || c.has("bound") {
			t.Fatalf("the removed port got a lease:\n%s", c.stderr)
		}
		if c, err := udhcpc(t, vm2, true); err != nil {
			t.Fatalf("the remaining port is no longer served: %v\n%s", err, c.stderr)
		}
	})

	t.Run("missing tap is skipped and served once it appears", func(t *testing.T) {
		vm3 := &vm{tap: agentapi.TapName("c3c3c3c3-0000-4000-8000-000000000003"), mac: "fa:16:3e:00:00:03",
			ip: "10.10.0.9", mtu: 1500}
		p3 := port("c3c3c3c3-0000-4000-8000-000000000003", vm3, subnetA)
		tb.setPorts(t, p2, p3)
		var (
			ready map[string]bool
			err   error
		)
		inNetns(t, tb.hv, func() { ready, err = tb.srv.Apply(&agentapi.State{Ports: []agentapi.Port{p2, p3}}) })
		if err != nil || !ready[p2.ID] || ready[p3.ID] {
			t.Fatalf("ready %v, err %v; want only %s", ready, err, p2.ID)
		}
		tb.plug(t, vm3)
		tb.setPorts(t, p2, p3)
		c, err := udhcpc(t, vm3, true)
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s", err, c.stderr)
		}
		expect(t, c.event("bound", 0), map[string]string{"ip": "10.10.0.9", "mtu": "1500"})
	})
}

// TestSetPortsNoTaps checks reconciliation without a namespace: ports
// whose taps do not exist get no listener and are not ready.
func TestSetPortsNoTaps(t *testing.T) {
	srv := New(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer srv.Close()
	p := testPort()
	p.Tap = "tapdoesnotexi"
	v6 := testPort()
	v6.ID, v6.Tap, v6.FixedIPs = "v6-only", "tapv6only0000", v6.FixedIPs[:1]
	bad := testPort()
	bad.ID, bad.Tap, bad.MAC = "bad", "tapbad0000000", "zz"
	ready, err := srv.Apply(&agentapi.State{Ports: []agentapi.Port{p, v6, bad}})
	if err == nil || !strings.Contains(err.Error(), "port bad") {
		t.Errorf("error %v, want one about port bad", err)
	}
	if ids := mapsKeys(ready); !slices.Equal(ids, []string{"v6-only"}) {
		t.Errorf("ready %v", ids)
	}
	for _, tap := range []string{p.Tap, v6.Tap, bad.Tap} {
		if _, ok := srv.lns.Running(tap); ok {
			t.Errorf("listener on %s", tap)
		}
	}
	srv.Close()
	if err := srv.SetPorts(nil); err == nil {
		t.Error("SetPorts after Close succeeded")
	}
}

func mapsKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// lockedBuffer collects a client's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
