package dhcp6

// Privileged end-to-end tests: the server runs in a "hypervisor" network
// namespace with forwarding on and no address on the taps but their
// link-local ones, as the dataplane sets them up; ISC dhclient runs in
// "VM" namespaces behind veth pairs named like taps (the host end with
// spinel's host MAC).
//
// They need root and, from Debian: iproute2 (ip) and isc-dhcp-client
// (dhclient).

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agent/netnstest"
	"github.com/spinel-net/spinel/internal/agent/ra"
	"github.com/spinel-net/spinel/internal/agentapi"
)

const hostLinkLocal = "fe80::fcff:ffff:feff:ffff"

func requireTools(t *testing.T) {
	netnstest.Require(t, map[string]string{"dhclient": "isc-dhcp-client"})
}

func run(t *testing.T, args ...string) string { t.Helper(); return netnstest.Run(t, args...) }

// addNetns creates a network namespace deleted at the end of the test.
func addNetns(t *testing.T, role string) string { t.Helper(); return netnstest.Add(t, "spdhcp6", role) }

// inNetns runs f on a locked thread switched into network namespace ns;
// sockets f creates stay in ns.
func inNetns(t *testing.T, ns string, f func()) { t.Helper(); netnstest.In(t, ns, f) }

func sysctl(t *testing.T, ns, key, value string) { t.Helper(); netnstest.Sysctl(t, ns, key, value) }

// eventually polls cond until it returns "" or timeout passes, then
// fails with its last complaint.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	netnstest.Eventually(t, timeout, cond)
}

// testbed is a hypervisor namespace and the VMs plugged into it.
type testbed struct {
	hv  string
	srv *Server
	log *lockedBuffer // the server's log
}

type vm struct {
	ns, tap, mac string
}

func newTestbed(t *testing.T, cfg Config) *testbed {
	requireTools(t)
	tb := &testbed{hv: addNetns(t, "hv"), log: &lockedBuffer{}}
	run(t, "ip", "-n", tb.hv, "link", "set", "lo", "up")
	sysctl(t, tb.hv, "ipv6/conf/all/forwarding", "1")
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, tb.log),
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	tb.srv = New(cfg, log)
	t.Cleanup(func() { tb.srv.Close() })
	return tb
}

// plug creates the VM's namespace (once) and its veth pair, and waits
// until both ends' link-local addresses are past duplicate address
// detection: dhclient binds to the guest's, and the server answers from
// the host's.
func (tb *testbed) plug(t *testing.T, v *vm) {
	t.Helper()
	if v.ns == "" {
		v.ns = addNetns(t, "vm")
	}
	run(t, "ip", "-n", tb.hv, "link", "add", v.tap, "address", agentapi.HostMAC,
		"type", "veth", "peer", "name", "eth0", "netns", v.ns, "address", v.mac)
	sysctl(t, v.ns, "ipv6/conf/eth0/accept_ra", "2")
	run(t, "ip", "-n", tb.hv, "link", "set", v.tap, "up")
	run(t, "ip", "-n", v.ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", v.ns, "link", "set", "eth0", "up")
	for _, end := range [][2]string{{tb.hv, v.tap}, {v.ns, "eth0"}} {
		eventually(t, 10*time.Second, func() string {
			out := run(t, "ip", "-n", end[0], "-6", "addr", "show", "dev", end[1], "scope", "link")
			if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
				return ""
			}
			return end[1] + " has no usable link-local address: " + out
		})
	}
}

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

func port(id string, v *vm, ip string, subnet agentapi.Subnet) agentapi.Port {
	p := agentapi.Port{ID: id, Tap: v.tap, MAC: v.mac, MTU: 1500, AdminStateUp: true,
		Subnets: []agentapi.Subnet{subnet}}
	if ip != "" {
		p.FixedIPs = []agentapi.FixedIP{{SubnetID: subnet.ID, IPAddress: ip}}
	}
	return p
}

// The script writes the environment dhclient passes it to OUT.<reason>,
// and to OUT.<reason>.<address> too when it is about an address (dhclient
// calls it once per address), OUT baked in since dhclient scrubs the
// environment of its script. It configures the addresses as
// dhclient-script would, without touching the host's /etc/resolv.conf.
func dhclientScript(out string) string {
	return `#!/bin/sh
out=` + out + `.$reason
env | sort > "$out.tmp" && mv "$out.tmp" "$out"
[ -n "$new_ip6_address" ] && cp "$out" "$out.tmp" && mv "$out.tmp" "$out.$new_ip6_address"
case $reason in
BOUND6|RENEW6|REBIND6|REBOOT6)
	[ -z "$new_ip6_address" ] && exit 0
	if [ "$new_max_life" = 0 ]; then
		ip -6 addr del "$new_ip6_address/$new_ip6_prefixlen" dev "$interface"
	else
		ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" \
			valid_lft "$new_max_life" preferred_lft "$new_preferred_life"
	fi;;
EXPIRE6|RELEASE6|STOP6)
	[ -n "$old_ip6_address" ] && ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface";;
esac
exit 0
`
}

const dhclientConf = `request dhcp6.name-servers, dhcp6.domain-search;
timeout 10;
`

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is a dhclient process in a VM namespace.
type client struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    string // the script writes OUT.<reason>
	dir    string
	leases string
	stderr *lockedBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// dhclient starts dhclient -6 in the foreground, trying once (-1), with
// the given lease database, extra configuration and arguments.
func dhclient(t *testing.T, v *vm, leases, conf string, args ...string) *client {
	t.Helper()
	dir := t.TempDir()
	c := &client{t: t, dir: dir, out: filepath.Join(dir, "env"), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	script := writeFile(t, dir, "dhclient.sh", dhclientScript(c.out), 0o755)
	cf := writeFile(t, dir, "dhclient.conf", dhclientConf+conf, 0o644)
	c.leases = writeFile(t, dir, "dhclient6.leases", leases, 0o644)
	argv := append([]string{"netns", "exec", v.ns, "dhclient", "-6", "-d", "-1", "-v", "-cf", cf, "-sf", script,
		"-lf", c.leases, "-pf", filepath.Join(dir, "dhclient.pid")}, args...)
	c.cmd = exec.Command("ip", append(argv, "eth0")...)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.stop)
	return c
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

func (c *client) wait(timeout time.Duration) error {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(timeout):
		c.t.Fatalf("dhclient still running after %v\n%s", timeout, c.stderr)
		return nil
	}
}

// event waits for the script to have been called with reason and
// returns the environment it got.
func (c *client) event(reason string, timeout time.Duration) map[string]string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.Open(c.out + "." + reason)
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
			seen, _ := filepath.Glob(c.out + ".*")
			c.t.Fatalf("no %q event after %v (events: %v); dhclient said:\n%s", reason, timeout, seen, c.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *client) has(reason string) bool {
	_, err := os.Stat(c.out + "." + reason)
	return err == nil
}

func expect(t *testing.T, env map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got := env[k]; got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

// guestAddrs returns the global addresses on the guest's eth0.
func guestAddrs(t *testing.T, v *vm) string {
	return run(t, "ip", "-n", v.ns, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
}

func TestDhclient(t *testing.T) {
	tb := newTestbed(t, Config{LeaseTime: time.Hour, DomainName: "openstacklocal"})
	stateful := subnet6("subnet-stateful", "2001:db8:2::/64", ModeStateful, "2001:db8::53", "2001:db8::54")
	stateless := subnet6("subnet-stateless", "2001:db8:3::/64", ModeStateless, "2001:db8::55")
	vm1 := &vm{tap: agentapi.TapName("a1a1a1a1-0000-4000-8000-000000000001"), mac: "fa:16:3e:00:00:01"}
	vm2 := &vm{tap: agentapi.TapName("b2b2b2b2-0000-4000-8000-000000000002"), mac: "fa:16:3e:00:00:02"}
	tb.plug(t, vm1)
	tb.plug(t, vm2)
	p1 := port("a1a1a1a1-0000-4000-8000-000000000001", vm1, "2001:db8:2::15", stateful)
	p1.DNSDomain = "example.org."
	p2 := port("b2b2b2b2-0000-4000-8000-000000000002", vm2, "2001:db8:3:0:f816:3eff:fe00:2", stateless)
	tb.setPorts(t, p1, p2)

	var leases string // vm1's lease database after the first exchange
	t.Run("stateful: solicit, advertise, request, reply", func(t *testing.T) {
		c := dhclient(t, vm1, "", "")
		env := c.event("BOUND6", 30*time.Second)
		expect(t, env, map[string]string{
			"new_ip6_address": "2001:db8:2::15", "new_ip6_prefixlen": "128",
			"new_dhcp6_name_servers": "2001:db8::53 2001:db8::54", "new_dhcp6_domain_search": "example.org.",
			"new_max_life": "3600", "new_preferred_life": "3600", "new_renew": "1800", "new_rebind": "2880",
			"new_dhcp6_server_id": "0:3:0:1:fe:ff:ff:ff:ff:ff",
		})
		if out := guestAddrs(t, vm1); !strings.Contains(out, "inet6 2001:db8:2::15/128 scope global") {
			t.Errorf("the guest does not have its address:\n%s", out)
		}
		c.stop()
		b, err := os.ReadFile(c.leases)
		if err != nil {
			t.Fatal(err)
		}
		leases = string(b)
		for _, s := range []string{"request=SOLICIT reply=ADVERTISE", "request=REQUEST reply=REPLY"} {
			if !strings.Contains(tb.log.String(), s) {
				t.Errorf("server log lacks %q", s)
			}
		}
	})
	run(t, "ip", "-n", vm1.ns, "-6", "addr", "flush", "dev", "eth0", "scope", "global")

	t.Run("stateful with rapid commit", func(t *testing.T) {
		c := dhclient(t, vm1, "", "send dhcp6.rapid-commit;\n")
		env := c.event("BOUND6", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{"new_ip6_address": "2001:db8:2::15"})
		if !strings.Contains(tb.log.String(), "request=SOLICIT reply=REPLY") {
			t.Errorf("no rapid-commit reply to a solicit in the server log")
		}
	})
	run(t, "ip", "-n", vm1.ns, "-6", "addr", "flush", "dev", "eth0", "scope", "global")

	t.Run("a restarted client confirms its lease", func(t *testing.T) {
		if !strings.Contains(leases, "2001:db8:2::15") {
			t.Fatalf("lease database without the address:\n%s", leases)
		}
		c := dhclient(t, vm1, leases, "")
		env := c.event("BOUND6", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{"new_ip6_address": "2001:db8:2::15"})
		if out := c.stderr.String(); !strings.Contains(out, "Confirm on eth0") || strings.Contains(out, "Solicit on eth0") ||
			!strings.Contains(tb.log.String(), "request=CONFIRM reply=REPLY addresses=[2001:db8:2::15] status=Success") {
			t.Errorf("no confirm exchange alone; dhclient said:\n%s", out)
		}
	})
	run(t, "ip", "-n", vm1.ns, "-6", "addr", "flush", "dev", "eth0", "scope", "global")

	t.Run("a stale lease is not on link, then the port's address is bound", func(t *testing.T) {
		stale := strings.ReplaceAll(leases, "2001:db8:2::15", "2001:db8:2::99")
		c := dhclient(t, vm1, stale, "")
		env := c.event("BOUND6", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{"new_ip6_address": "2001:db8:2::15"})
		if out := c.stderr.String(); !strings.Contains(out, "Solicit on eth0") ||
			!strings.Contains(tb.log.String(), "request=CONFIRM reply=REPLY addresses=[2001:db8:2::15] status=NotOnLink") {
			t.Errorf("the stale address was not refused; dhclient said:\n%s", out)
		}
	})
	run(t, "ip", "-n", vm1.ns, "-6", "addr", "flush", "dev", "eth0", "scope", "global")

	t.Run("stateless: information request", func(t *testing.T) {
		c := dhclient(t, vm2, "", "", "-S")
		// ISC dhclient reports the answer to an information request as
		// RENEW6.
		env := c.event("RENEW6", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{
			"new_dhcp6_name_servers": "2001:db8::55", "new_dhcp6_domain_search": "openstacklocal.",
			"new_ip6_address": "",
		})
	})

	t.Run("stateless port has no address to give", func(t *testing.T) {
		c := dhclient(t, vm2, "", "")
		if err := c.wait(30 * time.Second); err == nil || c.has("BOUND6") {
			t.Errorf("dhclient bound on a stateless port:\n%s", c.stderr)
		}
		if !strings.Contains(tb.log.String(), "request=SOLICIT reply=ADVERTISE addresses=[] status=NoAddrsAvail") {
			t.Errorf("no NoAddrsAvail advertise in the server log")
		}
	})

	t.Run("removed port is not served", func(t *testing.T) {
		tb.setPorts(t, p1)
		if tb.listener(vm2.tap) != nil {
			t.Fatal("listener of the removed port still running")
		}
		c := dhclient(t, vm2, "", "", "-S")
		if err := c.wait(30 * time.Second); err == nil || c.has("RENEW6") {
			t.Errorf("the removed port got an answer:\n%s", c.stderr)
		}
		tb.setPorts(t, p1, p2)
	})

	t.Run("missing tap is skipped and served once it appears", func(t *testing.T) {
		vm3 := &vm{tap: agentapi.TapName("c3c3c3c3-0000-4000-8000-000000000003"), mac: "fa:16:3e:00:00:03"}
		p3 := port("c3c3c3c3-0000-4000-8000-000000000003", vm3, "2001:db8:2::33", stateful)
		var (
			ready map[string]bool
			err   error
		)
		inNetns(t, tb.hv, func() { ready, err = tb.srv.Apply(&agentapi.State{Ports: []agentapi.Port{p1, p2, p3}}) })
		if err != nil || !ready[p1.ID] || !ready[p2.ID] || ready[p3.ID] {
			t.Fatalf("ready %v, err %v", ready, err)
		}
		tb.plug(t, vm3)
		tb.setPorts(t, p1, p2, p3)
		c := dhclient(t, vm3, "", "")
		env := c.event("BOUND6", 30*time.Second)
		c.stop()
		expect(t, env, map[string]string{"new_ip6_address": "2001:db8:2::33"})
	})
}

// TestRenewal checks that a guest renewing picks up a changed port: new
// DNS servers, and its new address with the old one taken back, all
// without restarting the listener.
func TestRenewal(t *testing.T) {
	tb := newTestbed(t, Config{LeaseTime: 6 * time.Second})
	stateful := subnet6("subnet-stateful", "2001:db8:2::/64", ModeStateful, "2001:db8::53")
	v := &vm{tap: agentapi.TapName("d4d4d4d4-0000-4000-8000-000000000004"), mac: "fa:16:3e:00:00:04"}
	tb.plug(t, v)
	p := port("d4d4d4d4-0000-4000-8000-000000000004", v, "2001:db8:2::40", stateful)
	tb.setPorts(t, p)
	before := tb.listener(v.tap)

	c := dhclient(t, v, "", "")
	expect(t, c.event("BOUND6", 30*time.Second), map[string]string{
		"new_ip6_address": "2001:db8:2::40", "new_dhcp6_name_servers": "2001:db8::53", "new_renew": "3"})

	changed := port("d4d4d4d4-0000-4000-8000-000000000004", v, "2001:db8:2::41", stateful)
	changed.Subnets[0].DNSNameservers = []string{"2001:db8::99"}
	tb.setPorts(t, changed)
	if tb.listener(v.tap) != before {
		t.Error("listener restarted by a data change")
	}
	env := c.event("RENEW6.2001:db8:2::41", 15*time.Second)
	expect(t, env, map[string]string{"new_ip6_address": "2001:db8:2::41", "new_dhcp6_name_servers": "2001:db8::99"})
	if !strings.Contains(tb.log.String(), "request=RENEW reply=REPLY") {
		t.Error("no RENEW in the server log")
	}
	// The old address comes back with lifetimes 0: the guest drops it.
	expect(t, c.event("RENEW6.2001:db8:2::40", 5*time.Second), map[string]string{"new_max_life": "0"})
	eventually(t, 10*time.Second, func() string {
		out := guestAddrs(t, v)
		if strings.Contains(out, "2001:db8:2::41/128") && !strings.Contains(out, "2001:db8:2::40/") {
			return ""
		}
		return "guest addresses:\n" + out
	})
}

// TestWithRouterAdvertisements runs both halves of a dhcpv6-stateful
// subnet: package ra's advertisement (M flag, prefix off-link and not
// autonomous) gives the guest its default route and nothing else, DHCPv6
// its address.
func TestWithRouterAdvertisements(t *testing.T) {
	tb := newTestbed(t, Config{})
	sn := subnet6("subnet-stateful", "2001:db8:2::/64", ModeStateful, "2001:db8::53")
	sn.GatewayIP = "2001:db8:2::1"
	v := &vm{tap: agentapi.TapName("e5e5e5e5-0000-4000-8000-000000000005"), mac: "fa:16:3e:00:00:05"}
	tb.plug(t, v)
	p := port("e5e5e5e5-0000-4000-8000-000000000005", v, "2001:db8:2::50", sn)
	tb.setPorts(t, p)
	ras := ra.New(ra.Config{}, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	t.Cleanup(func() { ras.Close() })
	var err error
	inNetns(t, tb.hv, func() { err = ras.SetPorts([]agentapi.Port{p}) })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() string {
		out := run(t, "ip", "-n", v.ns, "-6", "route", "show", "default")
		if strings.Contains(out, "via "+hostLinkLocal+" dev eth0 proto ra") {
			return ""
		}
		return "no default route via the host: " + out
	})
	if out := guestAddrs(t, v); out != "" {
		t.Errorf("the guest configured an address from a stateful subnet's advertisement:\n%s", out)
	}
	c := dhclient(t, v, "", "")
	expect(t, c.event("BOUND6", 30*time.Second), map[string]string{"new_ip6_address": "2001:db8:2::50"})
	routes := run(t, "ip", "-n", v.ns, "-6", "route", "show")
	if strings.Contains(routes, "2001:db8:2::/64") {
		t.Errorf("the prefix is on-link in the guest:\n%s", routes)
	}
	if out := run(t, "ip", "-n", v.ns, "-6", "route", "get", "2001:db8:2::51"); !strings.Contains(out, "via "+hostLinkLocal) {
		t.Errorf("a same-subnet peer is not reached via the host: %s", out)
	}
}

// lockedBuffer collects output while a process or server runs.
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
