package nat

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/vishvananda/netns"
)

// The privileged test builds a hypervisor namespace "hv" as spinel's
// dataplane would (a /32 route per VM over its tap, proxy ARP, forwarding,
// the gateway 10.0.0.1 on lo), two VM namespaces behind taps, and an
// "inet" namespace on the hypervisor's uplink (203.0.113.0/24) that routes
// the floating IPs (198.51.100.0/24) to the hypervisor, as BGP would, and
// has no route to the cloud's fixed IPs. Traffic comes from sockets the
// test binary opens inside the namespaces; servers answer with the peer
// address they saw.

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs (CI runs as root and installs it): root (network namespaces and nftables)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("this test needs (CI runs as root and installs it): ip (iproute2)")
	}
}

var seq atomic.Int64

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sysctl(t testing.TB, ns, key, val string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	run(t, "ip", "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %s > %s", val, path))
}

func newNS(t testing.TB, name string) netns.NsHandle {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	h, err := netns.GetFromName(name)
	if err != nil {
		exec.Command("ip", "netns", "del", name).Run()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return h
}

// inNS runs fn on a thread inside ns; sockets it opens stay in ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

type node struct {
	name string // namespace name
	h    netns.NsHandle
}

type lab struct {
	t                  testing.TB
	hv, inet, vm1, vm2 node
}

const (
	fip1   = "198.51.100.11"
	fip2   = "198.51.100.12"
	fixed1 = "10.0.0.11"
	fixed2 = "10.0.0.12"
	extIP  = "203.0.113.1"
	udpP   = 7001
	tcpP   = 5201
)

func newLab(t *testing.T) *lab {
	t.Helper()
	requireRoot(t)
	id := fmt.Sprintf("spnat%d-%d", os.Getpid(), seq.Add(1))
	l := &lab{t: t}
	mk := func(s string) node { n := id + "-" + s; return node{n, newNS(t, n)} }
	l.hv, l.inet, l.vm1, l.vm2 = mk("hv"), mk("inet"), mk("vm1"), mk("vm2")
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
	} {
		sysctl(t, l.hv.name, kv[0], kv[1])
	}
	run(t, "ip", "-n", l.hv.name, "addr", "add", "10.0.0.1/32", "dev", "lo")
	// Uplink.
	run(t, "ip", "-n", l.hv.name, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", l.inet.name)
	run(t, "ip", "-n", l.hv.name, "addr", "add", "203.0.113.2/24", "dev", "up0")
	run(t, "ip", "-n", l.hv.name, "link", "set", "up0", "up")
	run(t, "ip", "-n", l.inet.name, "addr", "add", extIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", l.inet.name, "link", "set", "eth0", "up")
	run(t, "ip", "-n", l.inet.name, "route", "add", "198.51.100.0/24", "via", "203.0.113.2")
	// The hypervisor's default route points to the fabric, as BGP would
	// have it; the floating IPs have no route of their own here.
	run(t, "ip", "-n", l.hv.name, "route", "add", "default", "via", extIP)
	// VMs.
	for _, v := range []struct {
		n  node
		ip string
	}{{l.vm1, fixed1}, {l.vm2, fixed2}} {
		tap := "tap" + v.n.name[len(v.n.name)-3:]
		run(t, "ip", "-n", l.hv.name, "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", v.n.name)
		run(t, "ip", "-n", l.hv.name, "link", "set", tap, "address", agentapi.HostMAC, "up")
		sysctl(t, l.hv.name, "net.ipv4.conf."+tap+".proxy_arp", "1")
		sysctl(t, l.hv.name, "net.ipv4.conf."+tap+".rp_filter", "0")
		sysctl(t, l.hv.name, "net.ipv4.neigh."+tap+".proxy_delay", "0")
		run(t, "ip", "-n", l.hv.name, "route", "add", v.ip+"/32", "dev", tap)
		run(t, "ip", "-n", v.n.name, "link", "set", "eth0", "up")
		run(t, "ip", "-n", v.n.name, "addr", "add", v.ip+"/24", "dev", "eth0")
		run(t, "ip", "-n", v.n.name, "route", "add", "default", "via", "10.0.0.1")
	}
	// Servers that answer with the address of the peer they saw.
	for _, n := range []node{l.inet, l.vm1, l.vm2} {
		l.serve(n)
	}
	return l
}

// serve runs a UDP and a TCP "who am I" server in n until the test ends.
func (l *lab) serve(n node) {
	t := l.t
	var uc *net.UDPConn
	var tl net.Listener
	if err := inNS(n.h, func() error {
		var err error
		if uc, err = net.ListenUDP("udp4", &net.UDPAddr{Port: udpP}); err != nil {
			return err
		}
		tl, err = net.Listen("tcp4", fmt.Sprintf(":%d", tcpP))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close(); tl.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, peer, err := uc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			uc.WriteToUDP([]byte(peer.IP.String()), peer)
		}
	}()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s\n", host)
			c.Close()
		}
	}()
}

// udpAsk sends from n to dst:udpP on a fresh socket (a new flow) and
// returns the source address the server saw, "" when no answer came from
// dst (a connected socket takes answers from dst only).
func (l *lab) udpAsk(n node, dst string, wait time.Duration) string {
	l.t.Helper()
	var c *net.UDPConn
	if err := inNS(n.h, func() error {
		var err error
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: udpP})
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	defer c.Close()
	return askOn(c, wait)
}

func askOn(c *net.UDPConn, wait time.Duration) string {
	buf := make([]byte, 100)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		c.Write([]byte("who"))
		c.SetReadDeadline(time.Now().Add(min(200*time.Millisecond, time.Until(deadline))))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	return ""
}

// tcpAsk connects from n to dst:tcpP and returns the peer address the
// server saw, "" when the connection failed.
func (l *lab) tcpAsk(n node, dst string, wait time.Duration) string {
	l.t.Helper()
	var c net.Conn
	err := inNS(n.h, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", net.JoinHostPort(dst, fmt.Sprint(tcpP)), wait)
		return err
	})
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func (l *lab) ping(n node, dst string) bool {
	return exec.Command("ip", "netns", "exec", n.name, "ping", "-c", "1", "-W", "1", dst).Run() == nil
}

func (l *lab) newNAT(cloud ...string) *NAT {
	l.t.Helper()
	cfg := Config{}
	for _, c := range cloud {
		cfg.CloudPrefixes = append(cfg.CloudPrefixes, netip.MustParsePrefix(c))
	}
	var n *NAT
	if err := inNS(l.hv.h, func() error {
		var err error
		n, err = New(cfg, testLogger(l.t))
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { n.Close() })
	return n
}

func mustApply(t *testing.T, n *NAT, plans ...agentapi.NATPlan) ApplyStats {
	t.Helper()
	realized, err := n.Apply(plans)
	if err != nil {
		t.Fatal(err)
	}
	if len(realized) != len(plans) {
		t.Fatalf("realized %v of %d plans", realized, len(plans))
	}
	return n.LastApply()
}

type testWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const (
	pass = 2 * time.Second
	drop = 500 * time.Millisecond
)

func TestFloatingIPLab(t *testing.T) {
	l := newLab(t)
	plan1 := agentapi.NATPlan{ID: "fip-1", FloatingIP: fip1, FixedIP: fixed1, PortID: "port-vm1"}
	plan2 := agentapi.NATPlan{ID: "fip-2", FloatingIP: fip2, FixedIP: fixed2, PortID: "port-vm2"}

	// The lab itself: east-west works, nothing reaches the floating IP.
	if got := l.udpAsk(l.vm2, fixed1, pass); got != fixed2 {
		t.Fatalf("lab: vm2 → vm1 seen as %q", got)
	}
	if got := l.udpAsk(l.inet, fip1, drop); got != "" {
		t.Fatalf("lab: the floating IP answers before any NAT (%q)", got)
	}

	n := l.newNAT("10.0.0.0/8")
	st := mustApply(t, n, plan1)
	t.Logf("first apply: %d messages in %v, resynced %v", st.Messages, st.Took, st.Resynced)
	if !st.Resynced || st.Messages == 0 {
		t.Fatalf("first apply: %+v", st)
	}
	if out, err := exec.Command("ip", "netns", "exec", l.hv.name, "nft", "list", "table", "ip", TableName).CombinedOutput(); err == nil {
		t.Logf("ruleset:\n%s", out)
		for _, s := range []string{
			"dnat to ip daddr map @" + MapDNAT,
			"snat to ip saddr map @" + MapSNAT,
			"ct original ip daddr 10.0.0.0/8 return",
			fip1 + " : " + fixed1,
			fixed1 + " : " + fip1,
		} {
			if !strings.Contains(string(out), s) {
				t.Errorf("ruleset lacks %q", s)
			}
		}
	}

	// Inbound: ping, TCP and UDP from outside reach vm1, which sees the
	// real outside source (DNAT only).
	if !l.ping(l.inet, fip1) {
		t.Error("inbound: ping to the floating IP failed")
	}
	if got := l.tcpAsk(l.inet, fip1, pass); got != extIP {
		t.Errorf("inbound: TCP to %s:%d seen by vm1 as %q, want %s", fip1, tcpP, got, extIP)
	}
	if got := l.udpAsk(l.inet, fip1, pass); got != extIP {
		t.Errorf("inbound: UDP seen as %q", got)
	}
	// Outbound: vm1's traffic leaves from its floating IP (inet has no
	// route to 10.0.0.0/8, so the answer also proves the reverse NAT).
	if got := l.udpAsk(l.vm1, extIP, pass); got != fip1 {
		t.Errorf("outbound: UDP from vm1 seen outside as %q, want %s", got, fip1)
	}
	if got := l.tcpAsk(l.vm1, extIP, pass); got != fip1 {
		t.Errorf("outbound: TCP from vm1 seen outside as %q, want %s", got, fip1)
	}
	// vm2 has no floating IP: nothing goes out for it.
	if got := l.udpAsk(l.vm2, extIP, drop); got != "" {
		t.Errorf("outbound: vm2 without a floating IP answered from outside (%q)", got)
	}
	// East-west keeps fixed IPs, both ways.
	if got := l.udpAsk(l.vm2, fixed1, pass); got != fixed2 {
		t.Errorf("east-west: vm2 → vm1 seen as %q, want %s", got, fixed2)
	}
	if got := l.udpAsk(l.vm1, fixed2, pass); got != fixed1 {
		t.Errorf("east-west: vm1 → vm2 seen as %q, want %s (SNATed inside the cloud)", got, fixed1)
	}
	// Hairpin: vm2 (no floating IP) reaches vm1's floating IP; the answer
	// comes back from the floating IP (connected socket).
	if got := l.udpAsk(l.vm2, fip1, pass); got != fixed2 {
		t.Errorf("hairpin: vm2 → fip1 seen as %q, want %s", got, fixed2)
	}
	if got := l.tcpAsk(l.vm2, fip1, pass); got != fixed2 {
		t.Errorf("hairpin: TCP vm2 → fip1 seen as %q, want %s", got, fixed2)
	}
	// vm1 reaching its own floating IP.
	if got := l.udpAsk(l.vm1, fip1, pass); got != fip1 {
		t.Errorf("self hairpin: vm1 → fip1 seen as %q, want %s", got, fip1)
	}
	// The hypervisor's own traffic (output hook).
	if got := l.udpAsk(l.hv, fip1, pass); got == "" {
		t.Error("local: the hypervisor cannot reach the floating IP")
	}

	// A second floating IP, for vm2: one delta, then hairpin is SNATed to
	// the sender's floating IP.
	st = mustApply(t, n, plan1, plan2)
	t.Logf("add a plan: %d messages %v in %v", st.Messages, st.Ops, st.Took)
	if st.Resynced || st.Messages != 2 {
		t.Errorf("adding a plan: %+v, want 2 element additions", st)
	}
	if got := l.udpAsk(l.vm2, fip1, pass); got != fip2 {
		t.Errorf("hairpin: vm2 (with %s) → fip1 seen as %q", fip2, got)
	}
	if got := l.udpAsk(l.vm1, fip2, pass); got != fip1 {
		t.Errorf("hairpin: vm1 → fip2 seen as %q, want %s", got, fip1)
	}
	if got := l.udpAsk(l.vm2, fixed1, pass); got != fixed2 {
		t.Errorf("east-west with floating IPs: vm2 → vm1 seen as %q", got)
	}

	// A second Apply with the same plans sends nothing.
	st = mustApply(t, n, plan2, plan1)
	if st.Messages != 0 {
		t.Errorf("second apply sent %d messages: %v", st.Messages, st.Ops)
	}

	// Restart: a new NAT on the existing table reads it back and changes
	// nothing, while new flows keep being NATed.
	var sent, answered atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var c *net.UDPConn
			if inNS(l.inet.h, func() error {
				var err error
				c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(fip1), Port: udpP})
				return err
			}) != nil {
				return
			}
			sent.Add(1)
			if askOn(c, 300*time.Millisecond) == extIP {
				answered.Add(1)
			}
			c.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	n.Close()
	n2 := l.newNAT("10.0.0.0/8")
	st = mustApply(t, n2, plan1, plan2)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	<-done
	t.Logf("restart: resynced %v, %d messages, took %v; %d/%d new flows answered during it", st.Resynced, st.Messages, st.Took, answered.Load(), sent.Load())
	if !st.Resynced || st.Messages != 0 {
		t.Errorf("restart: %+v, want a read-back and no messages", st)
	}
	if sent.Load() == 0 || answered.Load() != sent.Load() {
		t.Errorf("restart: %d of %d new flows answered", answered.Load(), sent.Load())
	}
	n = n2

	// A restart with plans that changed meanwhile sends only the delta.
	n.Close()
	n = l.newNAT("10.0.0.0/8")
	st = mustApply(t, n, plan1)
	if !st.Resynced || st.Messages != 2 || strings.Contains(strings.Join(st.Ops, ";"), "chain") {
		t.Errorf("restart with a plan gone: %+v, want two element deletions", st)
	}
	if got := l.udpAsk(l.inet, fip2, drop); got != "" {
		t.Errorf("the removed floating IP %s still answers (%q)", fip2, got)
	}
	st = mustApply(t, n, plan1, plan2)

	// A hand edit (the postrouting chain flushed) is repaired by a resync,
	// touching that chain only.
	run(t, "ip", "netns", "exec", l.hv.name, "nft", "flush", "chain", "ip", TableName, ChainPost)
	if got := l.udpAsk(l.vm1, extIP, drop); got != "" {
		t.Errorf("without SNAT vm1 still got an answer from outside (%q)", got)
	}
	n.Resync()
	st = mustApply(t, n, plan1, plan2)
	t.Logf("repair: %v", st.Ops)
	if ops := strings.Join(st.Ops, ";"); !strings.Contains(ops, "flush chain "+ChainPost) || strings.Contains(ops, ChainPre) || strings.Contains(ops, "map") {
		t.Errorf("repair: %v", st.Ops)
	}
	if got := l.udpAsk(l.vm1, extIP, pass); got != fip1 {
		t.Errorf("after repair: vm1 seen outside as %q", got)
	}

	// Removal: an established flow to the floating IP and new ones stop.
	var flow *net.UDPConn
	if err := inNS(l.inet.h, func() error {
		var err error
		flow, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(fip1), Port: udpP})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	if got := askOn(flow, pass); got != extIP {
		t.Fatalf("flow before removal: %q", got)
	}
	st = mustApply(t, n, plan2)
	t.Logf("remove a plan: %d messages %v, %d conntrack entries deleted (err %v)", st.Messages, st.Ops, st.Conntrack, st.ConntrackErr)
	if st.Messages != 2 || st.ConntrackErr != nil || st.Conntrack == 0 {
		t.Errorf("removal: %+v", st)
	}
	if got := askOn(flow, drop); got != "" {
		t.Errorf("removal: the established flow still answers (%q)", got)
	}
	if l.ping(l.inet, fip1) {
		t.Error("removal: ping to the removed floating IP still works")
	}
	if got := l.tcpAsk(l.inet, fip1, drop); got != "" {
		t.Errorf("removal: TCP to the removed floating IP works (%q)", got)
	}
	if got := l.udpAsk(l.vm1, extIP, drop); got != "" {
		t.Errorf("removal: vm1 still SNATed (%q)", got)
	}
	if got := l.udpAsk(l.inet, fip2, pass); got != extIP {
		t.Errorf("removal: the other floating IP broke (%q)", got)
	}

	// Remapping a floating IP to another VM.
	moved := agentapi.NATPlan{ID: "fip-1", FloatingIP: fip1, FixedIP: fixed2, PortID: "port-vm2"}
	if _, err := n.Apply([]agentapi.NATPlan{moved}); err != nil {
		t.Fatal(err)
	}
	if got := l.tcpAsk(l.inet, fip1, pass); got != extIP {
		t.Errorf("remap: TCP to %s failed (%q)", fip1, got)
	}
	if got := l.udpAsk(l.vm2, extIP, pass); got != fip1 {
		t.Errorf("remap: vm2 seen outside as %q, want %s", got, fip1)
	}
}

// TestRepairShapes starts on a table someone else shaped wrongly (a map of
// the wrong type holding a stale element, a chain at the wrong priority, a
// foreign chain) and with new cloud prefixes: one Apply repairs it, the next
// sends nothing, and a restart with other cloud prefixes refills only the
// postrouting chain.
func TestRepairShapes(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("this test needs (CI runs as root and installs it): nft")
	}
	name := fmt.Sprintf("spnat%d-%d-x", os.Getpid(), seq.Add(1))
	h := newNS(t, name)
	l := &lab{t: t, hv: node{name, h}}
	script := `table ip spinel-nat {
	map fip-to-fixed { type ipv4_addr : inet_service; elements = { 192.0.2.1 : 80 } }
	chain prerouting { type nat hook prerouting priority 0; counter; }
	chain foreign { counter; }
}`
	cmd := exec.Command("ip", "netns", "exec", name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	plan := agentapi.NATPlan{ID: "p", FloatingIP: fip1, FixedIP: fixed1}
	n := l.newNAT("10.0.0.0/8")
	st := mustApply(t, n, plan)
	t.Logf("repair: %v", st.Ops)
	st = mustApply(t, n, plan)
	if st.Messages != 0 {
		t.Errorf("second apply: %v", st.Ops)
	}
	out := run(t, "ip", "netns", "exec", name, "nft", "list", "table", "ip", TableName)
	for _, s := range []string{"type nat hook prerouting priority dstnat", fip1 + " : " + fixed1, "chain foreign", "type ipv4_addr : ipv4_addr"} {
		if !strings.Contains(out, s) {
			t.Errorf("ruleset lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "192.0.2.1") {
		t.Errorf("stale element left:\n%s", out)
	}
	n.Close()
	n = l.newNAT("10.0.0.0/8", "172.16.0.0/12")
	st = mustApply(t, n, plan)
	if ops := strings.Join(st.Ops, ";"); st.Messages != 4 || !strings.Contains(ops, "flush chain "+ChainPost) {
		t.Errorf("new cloud prefixes: %v", st.Ops)
	}
	out = run(t, "ip", "netns", "exec", name, "nft", "list", "table", "ip", TableName)
	if !strings.Contains(out, "ct original ip daddr 172.16.0.0/12 return") {
		t.Errorf("new cloud prefix missing:\n%s", out)
	}
}
