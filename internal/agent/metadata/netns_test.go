package metadata

// Privileged end-to-end tests: the proxy runs in a "hypervisor" network
// namespace set up as internal/agent/dataplane does it (gateway as a /32
// on lo, no address on the taps, a /32 route and a permanent neighbour
// per VM via its tap, proxy ARP with no delay, strict rp_filter,
// forwarding on), a test Nova listens on 127.0.0.1 in that namespace, and
// guests in "VM" namespaces behind veth pairs named like taps fetch their
// metadata with busybox wget.
//
// They need root, iproute2 (ip) and busybox.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agent/dataplane"
	"github.com/spinel-net/spinel/internal/agent/netnstest"
	"github.com/spinel-net/spinel/internal/agentapi"
)

func requireTools(t *testing.T) {
	t.Helper()
	netnstest.Require(t, map[string]string{"busybox": "busybox"})
}

func run(t *testing.T, args ...string) string { t.Helper(); return netnstest.Run(t, args...) }

// addNetns creates a network namespace deleted at the end of the test.
func addNetns(t *testing.T, role string) string { t.Helper(); return netnstest.Add(t, "spmd", role) }

// inNetns runs f on a thread switched into network namespace ns; sockets
// f creates stay in ns.
func inNetns(t *testing.T, ns string, f func()) { t.Helper(); netnstest.In(t, ns, f) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const (
	secret  = "nova-shared-secret"
	gateway = "10.0.0.1"
)

// vm is a guest namespace behind a tap.
type vm struct {
	ns, tap, mac, ip string
	port             agentapi.Port
}

// testbed is a hypervisor namespace with its test Nova.
type testbed struct {
	hv   string
	nova *httptest.Server
}

func newTestbed(t *testing.T) *testbed {
	requireTools(t)
	tb := &testbed{hv: addNetns(t, "hv")}
	run(t, "ip", "-n", tb.hv, "link", "set", "lo", "up")
	// The gateway as the dataplane holds it.
	run(t, "ip", "-n", tb.hv, "addr", "add", gateway+"/32", "dev", "lo", "label", "lo:spinel")
	inNetns(t, tb.hv, func() {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	tb.nova = newNova(t, tb.hv)
	return tb
}

// newNova starts a test Nova metadata API on 127.0.0.1 in namespace ns.
// It checks the signature as Nova's handler does and answers
// /latest/meta-data/instance-id with the instance id and /headers with
// the request's headers, one "Name: value" a line.
func newNova(t *testing.T, ns string) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Instance-ID")
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(id))
		if id == "" || !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-Instance-ID-Signature"))) {
			http.Error(w, "invalid signature", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/instance-id":
			io.WriteString(w, id)
		case "/headers":
			var lines []string
			for k, vs := range r.Header {
				for _, v := range vs {
					lines = append(lines, k+": "+v)
				}
			}
			sort.Strings(lines)
			io.WriteString(w, strings.Join(lines, "\n")+"\n")
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewUnstartedServer(h)
	inNetns(t, ns, func() {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// newVM returns a guest with its port; plug creates it.
func newVM(n int, portID string) *vm {
	ip := fmt.Sprintf("10.0.0.%d", 10+n)
	return &vm{
		tap: agentapi.TapName(portID), mac: fmt.Sprintf("fa:16:3e:00:00:%02x", n), ip: ip,
		port: agentapi.Port{
			ID: portID, Tap: agentapi.TapName(portID), MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", n),
			NetworkID: "net", MTU: 1500, AdminStateUp: true, PortSecurityEnabled: true,
			FixedIPs: []agentapi.FixedIP{{SubnetID: "sub4", IPAddress: ip}},
			Subnets:  []agentapi.Subnet{{ID: "sub4", CIDR: "10.0.0.0/24", IPVersion: 4, GatewayIP: gateway, EnableDHCP: true}},
			DeviceID: fmt.Sprintf("instance-%d", n), ProjectID: fmt.Sprintf("project-%d", n),
		},
	}
}

// plug creates the VM's namespace (once) and its veth pair, and sets both
// ends up as the dataplane and DHCP would: the host end named like a tap,
// with the host MAC, no address, proxy ARP without delay, strict
// rp_filter, a /32 route and a permanent neighbour to the VM; the guest
// with its address and the /32 route to the metadata address via its
// gateway that DHCP option 121 gives it.
func (tb *testbed) plug(t *testing.T, v *vm) {
	t.Helper()
	if v.ns == "" {
		v.ns = addNetns(t, "vm")
		run(t, "ip", "-n", v.ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", tb.hv, "link", "add", v.tap, "address", agentapi.HostMAC,
		"type", "veth", "peer", "name", "eth0", "netns", v.ns, "address", v.mac)
	run(t, "ip", "-n", tb.hv, "link", "set", v.tap, "up")
	inNetns(t, tb.hv, func() {
		for _, knob := range []struct{ path, value string }{
			{"/proc/sys/net/ipv4/conf/" + v.tap + "/proxy_arp", "1"},
			{"/proc/sys/net/ipv4/conf/" + v.tap + "/rp_filter", "1"},
			{"/proc/sys/net/ipv4/neigh/" + v.tap + "/proxy_delay", "0"},
		} {
			// /proc/sys/net is the namespace of the thread that opens it.
			if err := os.WriteFile(knob.path, []byte(knob.value), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	run(t, "ip", "-n", tb.hv, "route", "add", v.ip+"/32", "dev", v.tap)
	run(t, "ip", "-n", tb.hv, "neigh", "replace", v.ip, "lladdr", v.mac, "dev", v.tap, "nud", "permanent")
	run(t, "ip", "-n", v.ns, "addr", "add", v.ip+"/24", "dev", "eth0")
	run(t, "ip", "-n", v.ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", v.ns, "route", "add", "169.254.169.254/32", "via", gateway)
}

// wget fetches path from the metadata service inside the VM.
func wget(t *testing.T, v *vm, path string, headers ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"netns", "exec", v.ns, "busybox", "wget", "-q", "-O", "-"}
	for _, h := range headers {
		args = append(args, "--header", h)
	}
	args = append(args, "http://169.254.169.254"+path)
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("wget %s from %s: %v: %s", path, v.ns, err, stderr.String())
	}
	return stdout.String(), nil
}

func instanceID(t *testing.T, v *vm) string {
	t.Helper()
	out, err := wget(t, v, "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newProxy creates a proxy in the hypervisor namespace.
func (tb *testbed) newProxy(t *testing.T) *Proxy {
	t.Helper()
	var (
		p   *Proxy
		err error
	)
	inNetns(t, tb.hv, func() {
		p, err = New(Config{NovaURL: tb.nova.URL, Secret: secret}, testLogger(t))
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// apply calls Apply from the test's goroutine, which is not in the
// hypervisor namespace: the proxy must get there by itself.
func apply(t *testing.T, p *Proxy, ports ...agentapi.Port) []string {
	t.Helper()
	ready, err := p.Apply(&agentapi.State{Host: "hv", Ports: ports})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var ids []string
	for id, ok := range ready {
		if ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// loAddrs returns the IPv4 addresses on lo of ns as "address label" lines.
func loAddrs(t *testing.T, ns string) string {
	return run(t, "ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "lo")
}

func hasMetadataAddr(t *testing.T, ns string) bool {
	for _, line := range strings.Split(loAddrs(t, ns), "\n") {
		if strings.Contains(line, "169.254.169.254/32") {
			if !strings.Contains(line, LoLabel) {
				t.Fatalf("metadata address without the label %s: %s", LoLabel, line)
			}
			return true
		}
	}
	return false
}

func TestProxyEndToEnd(t *testing.T) {
	tb := newTestbed(t)
	vm1, vm2 := newVM(1, "11111111-aaaa-4aaa-8aaa-000000000001"), newVM(2, "22222222-bbbb-4bbb-8bbb-000000000002")
	absent := newVM(3, "33333333-cccc-4ccc-8ccc-000000000003") // its VM has not started: no tap
	tb.plug(t, vm1)
	tb.plug(t, vm2)
	p := tb.newProxy(t)
	t.Cleanup(func() { p.Close() })

	if hasMetadataAddr(t, tb.hv) {
		t.Fatal("New changed the kernel")
	}
	if got, want := apply(t, p, vm1.port, vm2.port, absent.port), []string{vm1.port.ID, vm2.port.ID}; !slices.Equal(got, want) {
		t.Fatalf("ready %v, want %v", got, want)
	}
	if !hasMetadataAddr(t, tb.hv) {
		t.Fatalf("no metadata address on lo:\n%s", loAddrs(t, tb.hv))
	}

	t.Run("identity by tap", func(t *testing.T) {
		if got := instanceID(t, vm1); got != "instance-1" {
			t.Fatalf("VM1 got %q", got)
		}
		if got := instanceID(t, vm2); got != "instance-2" {
			t.Fatalf("VM2 got %q", got)
		}
	})

	t.Run("spoofed headers are replaced", func(t *testing.T) {
		spoof := []string{
			"X-Instance-ID: instance-2",
			"X-Instance-ID-Signature: " + vm2Signature(),
			"X-Tenant-ID: project-2",
			"X-Forwarded-For: 10.0.0.12",
			"X-Instance_ID: instance-2",
			"X-Tenant_ID: project-2",
		}
		got, err := wget(t, vm1, "/latest/meta-data/instance-id", spoof...)
		if err != nil || got != "instance-1" {
			t.Fatalf("spoofing VM1 got %q, %v", got, err)
		}
		headers, err := wget(t, vm1, "/headers", spoof...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"X-Instance-Id: instance-1\n",
			"X-Tenant-Id: project-1\n",
			"X-Forwarded-For: 10.0.0.11\n",
			"X-Instance-Id-Signature: " + Sign(secret, "instance-1") + "\n",
		} {
			if !strings.Contains(headers, want) {
				t.Errorf("Nova did not get %q; it got:\n%s", want, headers)
			}
		}
		if strings.Contains(headers, "instance-2") || strings.Contains(headers, "project-2") || strings.Contains(headers, "_") {
			t.Errorf("spoofed headers reached Nova:\n%s", headers)
		}
	})

	t.Run("port without instance gets 404", func(t *testing.T) {
		noInstance := vm2.port
		noInstance.DeviceID = ""
		if got, want := apply(t, p, vm1.port, noInstance), []string{vm1.port.ID, vm2.port.ID}; !slices.Equal(got, want) {
			t.Fatalf("ready %v, want %v", got, want)
		}
		_, err := wget(t, vm2, "/latest/meta-data/instance-id")
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("VM2 without instance: %v, want a 404", err)
		}
		apply(t, p, vm1.port, vm2.port)
		if got := instanceID(t, vm2); got != "instance-2" {
			t.Fatalf("VM2 got %q", got)
		}
	})

	t.Run("removed port is not served", func(t *testing.T) {
		if got, want := apply(t, p, vm1.port), []string{vm1.port.ID}; !slices.Equal(got, want) {
			t.Fatalf("ready %v, want %v", got, want)
		}
		if out, err := wget(t, vm2, "/latest/meta-data/instance-id"); err == nil {
			t.Fatalf("removed port still served: %q", out)
		}
		if got := instanceID(t, vm1); got != "instance-1" {
			t.Fatalf("VM1 got %q", got)
		}
	})

	t.Run("recreated tap is served again", func(t *testing.T) {
		// The VM is restarted: its tap comes back with a new ifindex, to
		// which the old listener is not bound.
		run(t, "ip", "-n", tb.hv, "link", "del", vm1.tap)
		if got := apply(t, p, vm1.port); len(got) != 0 {
			t.Fatalf("ready %v without a tap", got)
		}
		tb.plug(t, vm1)
		if got, want := apply(t, p, vm1.port), []string{vm1.port.ID}; !slices.Equal(got, want) {
			t.Fatalf("ready %v, want %v", got, want)
		}
		if got := instanceID(t, vm1); got != "instance-1" {
			t.Fatalf("VM1 got %q", got)
		}
	})

	t.Run("empty state removes the address", func(t *testing.T) {
		if got := apply(t, p); len(got) != 0 {
			t.Fatalf("ready %v", got)
		}
		if hasMetadataAddr(t, tb.hv) {
			t.Fatalf("metadata address left on lo:\n%s", loAddrs(t, tb.hv))
		}
		if !strings.Contains(loAddrs(t, tb.hv), gateway+"/32") {
			t.Fatalf("the dataplane's gateway was removed:\n%s", loAddrs(t, tb.hv))
		}
		if out, err := wget(t, vm1, "/latest/meta-data/instance-id"); err == nil {
			t.Fatalf("still served: %q", out)
		}
	})
}

func vm2Signature() string { return Sign(secret, "instance-2") }

// TestCoexistsWithDataplane runs the real dataplane next to the proxy:
// the dataplane's sweep leaves the metadata address alone, the proxy's
// leaves the dataplane's gateways alone, and a restarted proxy recognises
// its address.
func TestCoexistsWithDataplane(t *testing.T) {
	tb := newTestbed(t)
	v := newVM(1, "44444444-dddd-4ddd-8ddd-000000000004")
	tb.plug(t, v)
	p := tb.newProxy(t)
	t.Cleanup(func() { p.Close() })
	var (
		dp  *dataplane.Dataplane
		err error
	)
	inNetns(t, tb.hv, func() { dp, err = dataplane.New(dataplane.Config{}, testLogger(t)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })

	// The dataplane programs the port (its gateway replaces the test's).
	run(t, "ip", "-n", tb.hv, "addr", "del", gateway+"/32", "dev", "lo")
	if _, err := dp.Apply([]agentapi.Port{v.port}); err != nil {
		t.Fatalf("dataplane: %v", err)
	}
	if got := apply(t, p, v.port); len(got) != 1 {
		t.Fatalf("ready %v", got)
	}
	if got := instanceID(t, v); got != "instance-1" {
		t.Fatalf("got %q", got)
	}

	// The dataplane sweeps with no port at all: its gateway goes, the
	// metadata address stays.
	if _, err := dp.Apply(nil); err != nil {
		t.Fatalf("dataplane: %v", err)
	}
	if strings.Contains(loAddrs(t, tb.hv), gateway+"/32") {
		t.Fatalf("the dataplane did not sweep its gateway:\n%s", loAddrs(t, tb.hv))
	}
	if !hasMetadataAddr(t, tb.hv) {
		t.Fatalf("the dataplane swept the metadata address:\n%s", loAddrs(t, tb.hv))
	}

	// A restarted proxy finds its address and, with nothing to serve,
	// removes it; the dataplane's gateway stays.
	if _, err := dp.Apply([]agentapi.Port{v.port}); err != nil {
		t.Fatalf("dataplane: %v", err)
	}
	p.Close()
	if !hasMetadataAddr(t, tb.hv) {
		t.Fatal("Close removed the metadata address")
	}
	p2 := tb.newProxy(t)
	t.Cleanup(func() { p2.Close() })
	if got := apply(t, p2, v.port); len(got) != 1 {
		t.Fatalf("ready %v", got)
	}
	if got := instanceID(t, v); got != "instance-1" {
		t.Fatalf("after restart got %q", got)
	}
	apply(t, p2)
	if hasMetadataAddr(t, tb.hv) {
		t.Fatalf("metadata address left on lo:\n%s", loAddrs(t, tb.hv))
	}
	if !strings.Contains(loAddrs(t, tb.hv), gateway+"/32") {
		t.Fatalf("the proxy removed the dataplane's gateway:\n%s", loAddrs(t, tb.hv))
	}
}
