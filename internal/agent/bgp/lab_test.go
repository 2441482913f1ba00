package bgp

// Privileged lab test: a "hv" namespace with two veth uplinks to two "tor"
// namespaces running FRR (zebra + bgpd started by hand). The Speaker runs in
// a child PROCESS inside the hv namespace: GoBGP opens sockets from its own
// goroutines, which may run on any OS thread, so a LockOSThread+netns.Set in
// the test process would not put them in hv. The child is this test binary
// re-executed (TestMain sees SPINEL_BGP_CHILD=1) under `ip netns exec`, and
// it is driven over stdin/stdout with one-line commands.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestMain(m *testing.M) {
	if os.Getenv("SPINEL_BGP_CHILD") == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// childConfig is passed to the child in SPINEL_BGP_CONFIG.
type childConfig struct {
	Config  Config
	Initial []netip.Prefix // advertised before Run, as an agent restoring its state would
}

// childMain runs a Speaker and serves "adv p1,p2,..." and "peers" on stdin.
func childMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var cc childConfig
	if err := json.Unmarshal([]byte(os.Getenv("SPINEL_BGP_CONFIG")), &cc); err != nil {
		log.Error("config", "err", err)
		return 2
	}
	s, err := New(cc.Config, log)
	if err != nil {
		log.Error("new", "err", err)
		return 2
	}
	if cc.Initial != nil {
		if err := s.SetAdvertised(cc.Initial); err != nil {
			log.Error("initial", "err", err)
			return 2
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			cmd, arg, _ := strings.Cut(sc.Text(), " ")
			switch cmd {
			case "adv":
				var ps []netip.Prefix
				for _, f := range strings.Split(arg, ",") {
					if f == "" {
						continue
					}
					ps = append(ps, netip.MustParsePrefix(f))
				}
				if err := s.SetAdvertised(ps); err != nil {
					fmt.Println("err " + err.Error())
				} else {
					fmt.Println("ok")
				}
			case "peers":
				b, _ := json.Marshal(s.Peers())
				fmt.Println(string(b))
			default:
				fmt.Println("err unknown command")
			}
		}
		cancel() // stdin closed: the test is gone
	}()
	if err := s.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

// ---- lab plumbing ----

type lab struct {
	t      *testing.T
	dir    string
	hv     string
	tors   [2]string
	handle map[string]*netlink.Handle
	pids   []string // pid files of FRR daemons
	// unnumbered: the uplinks carry only IPv6 link-local addresses and
	// the sessions run over them (IPv4 and IPv6 unicast, extended next hop).
	unnumbered bool
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func needLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs (CI runs as root and installs it): root")
	}
	for _, f := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/bin/vtysh"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("needs FRR (apt-get install frr): %v", err)
		}
	}
}

func newLab(t *testing.T, unnumbered bool) *lab {
	needLab(t)
	sfx := fmt.Sprintf("%d%03d", os.Getpid()%100000, rand.IntN(1000))
	dir, err := os.MkdirTemp("", "spinel-bgp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &lab{t: t, dir: dir, hv: "sbhv" + sfx, tors: [2]string{"sbt1" + sfx, "sbt2" + sfx}, handle: map[string]*netlink.Handle{}, unnumbered: unnumbered}
	if err := os.Chmod(l.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{l.hv, l.tors[0], l.tors[1]} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		h, err := netns.GetFromName(ns)
		if err != nil {
			t.Fatal(err)
		}
		nh, err := netlink.NewHandleAt(h)
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nh.Close)
		l.handle[ns] = nh
	}
	t.Cleanup(l.killFRR)
	run(t, "ip", "-n", l.hv, "addr", "add", "10.253.1.1/32", "dev", "lo")
	for i, tor := range l.tors {
		n := i + 1
		up, down := fmt.Sprintf("up%d", n), "downhv"
		run(t, "ip", "-n", l.hv, "link", "add", up, "type", "veth", "peer", "name", down, "netns", tor)
		if !unnumbered {
			run(t, "ip", "-n", l.hv, "addr", "add", fmt.Sprintf("10.255.%d.1/31", n), "dev", up)
			run(t, "ip", "-n", tor, "addr", "add", fmt.Sprintf("10.255.%d.0/31", n), "dev", down)
		}
		run(t, "ip", "-n", l.hv, "link", "set", up, "up")
		run(t, "ip", "-n", tor, "link", "set", down, "up")
		l.startFRR(n, tor)
	}
	return l
}

func (l *lab) torDir(n int) string { return filepath.Join(l.dir, fmt.Sprintf("tor%d", n)) }

func (l *lab) startFRR(n int, ns string) {
	t := l.t
	dir := l.torDir(n)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // FRR drops to user frr
		t.Fatal(err)
	}
	extra := ""
	if n == 1 {
		extra = "  network 192.0.2.0/24\n" // not in the hv's import list
	}
	peer, v6 := fmt.Sprintf("10.255.%d.1", n), ""
	if l.unnumbered {
		peer = "downhv interface"
		v6 = " address-family ipv6 unicast\n  neighbor downhv activate\n  neighbor downhv default-originate\n exit-address-family\n"
	}
	zebra := fmt.Sprintf("hostname tor%d\nlog file %s/zebra.log\nno zebra nexthop kernel enable\n", n, dir)
	bgpd := fmt.Sprintf(`hostname tor%[1]d
log file %[2]s/bgpd.log
router bgp 6510%[1]d
 bgp router-id 10.254.0.%[1]d
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
 neighbor %[4]s remote-as 65000
 neighbor %[6]s timers connect 2
 neighbor %[6]s advertisement-interval 0
 address-family ipv4 unicast
  network 198.18.%[1]d.0/24
%[3]s  neighbor %[6]s default-originate
 exit-address-family
%[5]s!
`, n, dir, extra, peer, v6, strings.TrimSuffix(peer, " interface"))
	for f, c := range map[string]string{"zebra.conf": zebra, "bgpd.conf": bgpd} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"-d", "-F", "traditional", "-z", dir + "/zserv.api", "--vty_socket", dir, "-P", "0"}
	zargs := append([]string{"netns", "exec", ns, "/usr/lib/frr/zebra", "-f", dir + "/zebra.conf", "-i", dir + "/zebra.pid"}, common...)
	l.pids = append(l.pids, dir+"/zebra.pid")
	run(t, "ip", zargs...)
	waitFor(t, 10*time.Second, "zebra socket", func() bool { _, err := os.Stat(dir + "/zserv.api"); return err == nil })
	bargs := append([]string{"netns", "exec", ns, "/usr/lib/frr/bgpd", "-f", dir + "/bgpd.conf", "-i", dir + "/bgpd.pid"}, common...)
	l.pids = append(l.pids, dir+"/bgpd.pid")
	run(t, "ip", bargs...)
	waitFor(t, 10*time.Second, "bgpd vty", func() bool { _, err := os.Stat(dir + "/bgpd.vty"); return err == nil })
}

func (l *lab) killFRR() {
	for _, pf := range l.pids {
		b, err := os.ReadFile(pf)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (l *lab) vtysh(n int, cmd string) string {
	out, _ := exec.Command("vtysh", "--vty_socket", l.torDir(n), "-c", cmd).CombinedOutput()
	return string(out)
}

func waitFor(t testing.TB, d time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if f() {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
	return 0
}

// routes lists the routes of ns's main table in family v4 keyed by prefix.
func (l *lab) routes(ns string) map[netip.Prefix]netlink.Route {
	return l.routesFam(ns, netlink.FAMILY_V4)
}

func (l *lab) routesFam(ns string, fam int) map[netip.Prefix]netlink.Route {
	rs, err := l.handle[ns].RouteListFiltered(fam, &netlink.Route{Table: 254}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil
	}
	out := map[netip.Prefix]netlink.Route{}
	for _, r := range rs {
		out[routeDst(r, fam)] = r
	}
	return out
}

func (l *lab) hasRoute(ns string, p netip.Prefix) bool {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	_, ok := l.routesFam(ns, fam)[p]
	return ok
}

// hvDefaultDevs returns the uplinks of the hv's learned default route of
// family fam whose nexthop is usable, with the route's protocol.
func (l *lab) hvDefaultDevs(fam int) (devs []string, gws []string, proto netlink.RouteProtocol) {
	dst := netip.MustParsePrefix("0.0.0.0/0")
	if fam == netlink.FAMILY_V6 {
		dst = netip.MustParsePrefix("::/0")
	}
	r, ok := l.routesFam(l.hv, fam)[dst]
	if !ok {
		return nil, nil, 0
	}
	if r.Protocol != 251 {
		return []string{"proto " + r.Protocol.String()}, nil, r.Protocol
	}
	nhs := r.MultiPath
	if len(nhs) == 0 {
		nhs = []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw, Via: r.Via}}
	}
	for _, m := range nhs {
		if m.Flags&0x10 /* RTNH_F_LINKDOWN */ != 0 {
			continue
		}
		link, err := l.handle[l.hv].LinkByIndex(m.LinkIndex)
		if err != nil {
			continue
		}
		devs = append(devs, link.Attrs().Name)
		if v, ok := m.Via.(*netlink.Via); ok && v != nil {
			gws = append(gws, v.Addr.String())
		} else if m.Gw != nil {
			gws = append(gws, m.Gw.String())
		}
	}
	sort.Strings(devs)
	return devs, gws, r.Protocol
}

// hvDefault returns the hv's learned default route's nexthop gateways.
func (l *lab) hvDefault() (gws []string, proto netlink.RouteProtocol) {
	r, ok := l.routes(l.hv)[netip.MustParsePrefix("0.0.0.0/0")]
	if !ok {
		return nil, 0
	}
	if len(r.MultiPath) == 0 && r.Gw != nil {
		return []string{r.Gw.String()}, r.Protocol
	}
	for _, m := range r.MultiPath {
		if m.Flags&int(netlink.FLAG_ONLINK) == 0 && m.Flags&0x10 /* RTNH_F_LINKDOWN */ != 0 {
			continue
		}
		gws = append(gws, m.Gw.String())
	}
	sort.Strings(gws)
	return gws, r.Protocol
}

// ---- the speaker child ----

type child struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	mu  sync.Mutex
	log string
}

func (l *lab) startChild(initial []netip.Prefix) *child {
	cc := childConfig{Config: Config{
		ASN:      65000,
		RouterID: netip.MustParseAddr("10.253.1.1"),
		Uplinks: []Uplink{
			{Interface: "up1", PeerAddress: netip.MustParseAddr("10.255.1.0"), PeerASN: 65101},
			{Interface: "up2", PeerAddress: netip.MustParseAddr("10.255.2.0"), PeerASN: 65102},
		},
		Import: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24"), netip.MustParsePrefix("198.18.2.0/24")},
	}, Initial: initial}
	if l.unnumbered {
		cc.Config.Uplinks[0].PeerAddress = netip.Addr{}
		cc.Config.Uplinks[1].PeerAddress = netip.Addr{}
	}
	return l.startChildConfig(cc)
}

func (l *lab) startChildConfig(cc childConfig) *child {
	t := l.t
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cc)
	c := &child{t: t, log: filepath.Join(l.dir, fmt.Sprintf("speaker-%d.log", time.Now().UnixNano()))}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command("ip", "netns", "exec", l.hv, exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), "SPINEL_BGP_CHILD=1", "SPINEL_BGP_CONFIG="+string(b))
	c.cmd.Stderr = logf
	c.in, _ = c.cmd.StdinPipe()
	stdout, _ := c.cmd.StdoutPipe()
	c.out = bufio.NewScanner(stdout)
	c.out.Buffer(make([]byte, 1<<20), 1<<24)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			b, _ := os.ReadFile(c.log)
			lines := strings.Split(string(b), "\n")
			t.Logf("speaker log (tail):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return c
}

func (c *child) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

func (c *child) call(line string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("child: %v", err)
	}
	if !c.out.Scan() {
		c.t.Fatalf("child exited: %v", c.out.Err())
	}
	return c.out.Text()
}

func (c *child) advertise(ps []netip.Prefix) {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	if r := c.call("adv " + b.String()); r != "ok" {
		c.t.Fatalf("SetAdvertised: %s", r)
	}
}

func (c *child) peers() []PeerStatus {
	var ps []PeerStatus
	if err := json.Unmarshal([]byte(c.call("peers")), &ps); err != nil {
		c.t.Fatalf("peers: %v", err)
	}
	return ps
}

func (c *child) established() bool {
	ps := c.peers()
	return len(ps) == 2 && ps[0].State == "established" && ps[1].State == "established"
}

// ---- the test ----

func TestLabFRR(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := newLab(t, false)
	vm := netip.MustParsePrefix("10.0.0.11/32")
	base := []netip.Prefix{vm, netip.MustParsePrefix("10.253.1.1/32")}
	c := l.startChild(nil)
	start := time.Now()

	d := waitFor(t, 40*time.Second, "both sessions Established", c.established)
	t.Logf("sessions established after %v", d.Round(time.Millisecond))
	waitFor(t, 20*time.Second, "hv default route with two nexthops", func() bool {
		gws, _ := l.hvDefault()
		return len(gws) == 2
	})
	t.Logf("converged (default ECMP in hv kernel) %v after start", time.Since(start).Round(time.Millisecond))
	gws, proto := l.hvDefault()
	if proto != 251 || !slices.Equal(gws, []string{"10.255.1.0", "10.255.2.0"}) {
		t.Fatalf("hv default: %v proto %d", gws, proto)
	}

	t.Run("import filter", func(t *testing.T) {
		waitFor(t, 10*time.Second, "198.18.1.0/24 in hv", func() bool { return l.hasRoute(l.hv, netip.MustParsePrefix("198.18.1.0/24")) })
		r := l.routes(l.hv)
		if got := r[netip.MustParsePrefix("198.18.1.0/24")]; got.Protocol != 251 || got.Gw.String() != "10.255.1.0" && (len(got.MultiPath) != 1) {
			t.Errorf("198.18.1.0/24 in hv: %v", got)
		}
		if _, ok := r[netip.MustParsePrefix("192.0.2.0/24")]; ok {
			t.Errorf("192.0.2.0/24 (not in Import) installed in hv")
		}
	})

	t.Run("advertise and withdraw", func(t *testing.T) {
		c.advertise(base)
		for _, tor := range l.tors {
			waitFor(t, 10*time.Second, vm.String()+" in "+tor, func() bool { return l.hasRoute(tor, vm) })
		}
		// Latency of single changes, and withdrawal within 1 s.
		var add, del []time.Duration
		for i := range 20 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)}), 32)
			t0 := time.Now()
			c.advertise(append(slices.Clone(base), p))
			waitFor(t, 5*time.Second, p.String()+" at both ToRs", func() bool {
				return l.hasRoute(l.tors[0], p) && l.hasRoute(l.tors[1], p)
			})
			add = append(add, time.Since(t0))
			t0 = time.Now()
			c.advertise(base)
			waitFor(t, time.Second, p.String()+" withdrawn from both ToRs within 1s", func() bool {
				return !l.hasRoute(l.tors[0], p) && !l.hasRoute(l.tors[1], p)
			})
			del = append(del, time.Since(t0))
		}
		t.Logf("SetAdvertised -> /32 in both ToR kernels: p50 %v p90 %v max %v (n=20)", pct(add, 50), pct(add, 90), pct(add, 100))
		t.Logf("withdraw -> gone from both ToR kernels: p50 %v p90 %v max %v (n=20)", pct(del, 50), pct(del, 90), pct(del, 100))
	})

	t.Run("no transit", func(t *testing.T) {
		// tor1 sends 198.18.1.0/24, which hv imports: tor2 must not get it from hv.
		time.Sleep(500 * time.Millisecond)
		if l.hasRoute(l.tors[1], netip.MustParsePrefix("198.18.1.0/24")) {
			t.Errorf("tor2 learned tor1's prefix through hv")
		}
		for n := 1; n <= 2; n++ {
			var rib struct {
				Routes map[string]json.RawMessage `json:"routes"`
			}
			out := l.vtysh(n, "show ip bgp json")
			if err := json.Unmarshal([]byte(out), &rib); err != nil {
				t.Fatalf("tor%d show ip bgp json: %v: %s", n, err, out)
			}
			var got []string
			for p := range rib.Routes {
				got = append(got, p)
			}
			sort.Strings(got)
			for _, p := range got {
				if p == "0.0.0.0/0" || p == fmt.Sprintf("198.18.%d.0/24", 3-n) || p == "192.0.2.0/24" && n == 2 {
					t.Errorf("tor%d has %s: hv is a transit (RIB %v)", n, p, got)
				}
			}
			t.Logf("tor%d BGP RIB: %v", n, got)
		}
	})

	t.Run("1000 prefixes", func(t *testing.T) {
		many := slices.Clone(base)
		for i := range 1000 {
			many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), 32))
		}
		count := func(ns string) int {
			n := 0
			for p := range l.routes(ns) {
				if p.Addr().As4()[0] == 10 && p.Addr().As4()[1] == 1 && p.Bits() == 32 {
					n++
				}
			}
			return n
		}
		t0 := time.Now()
		c.advertise(many)
		api := time.Since(t0)
		waitFor(t, 20*time.Second, "1000 routes in tor1", func() bool { return count(l.tors[0]) == 1000 })
		d1 := time.Since(t0)
		waitFor(t, 20*time.Second, "1000 routes in tor2", func() bool { return count(l.tors[1]) == 1000 })
		d2 := time.Since(t0)
		t.Logf("1000 /32s: SetAdvertised returned in %v; all in tor1 kernel %v, tor2 %v", api.Round(time.Millisecond), d1.Round(time.Millisecond), d2.Round(time.Millisecond))
		ps := c.peers()
		t.Logf("peers: %+v", ps)
		if ps[0].Sent < 1002 {
			t.Errorf("peer counters: %+v", ps)
		}
		t0 = time.Now()
		c.advertise(base)
		t.Logf("SetAdvertised withdrawing 1000 returned in %v", time.Since(t0).Round(time.Millisecond))
		waitFor(t, 20*time.Second, "1000 routes withdrawn from tor1", func() bool { return count(l.tors[0]) == 0 })
		t.Logf("1000 /32s withdrawn from tor1 kernel in %v", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("uplink down", func(t *testing.T) {
		t0 := time.Now()
		run(t, "ip", "-n", l.hv, "link", "set", "up1", "down")
		d := waitFor(t, time.Second, "nexthop via up1 removed", func() bool {
			gws, _ := l.hvDefault()
			return slices.Equal(gws, []string{"10.255.2.0"})
		})
		t.Logf("up1 down -> default has only up2: %v", d)
		waitFor(t, 3*time.Second, "peer on up1 not established", func() bool { return c.peers()[0].State != "established" })
		// tor1 loses its direct route and hence the /32; tor2 keeps it.
		if !l.hasRoute(l.tors[1], vm) {
			t.Errorf("tor2 lost %v", vm)
		}
		gws, _ := l.hvDefault()
		if !slices.Equal(gws, []string{"10.255.2.0"}) {
			t.Errorf("default while up1 down: %v", gws)
		}
		run(t, "ip", "-n", l.hv, "link", "set", "up1", "up")
		d = waitFor(t, 30*time.Second, "both nexthops back", func() bool {
			gws, _ := l.hvDefault()
			return len(gws) == 2
		})
		t.Logf("up1 up -> both nexthops back after %v (total %v)", d.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		waitFor(t, 20*time.Second, vm.String()+" back in tor1", func() bool { return l.hasRoute(l.tors[0], vm) })
		waitFor(t, 20*time.Second, "both established", c.established)
	})

	t.Run("graceful restart", func(t *testing.T) {
		c.kill()
		killed := time.Now()
		// Watch the ToRs and hv while the speaker is away and coming back.
		stop := make(chan struct{})
		var lost sync.Map
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, tor := range l.tors {
					if !l.hasRoute(tor, vm) {
						lost.Store(tor, time.Since(killed))
					}
				}
				if gws, _ := l.hvDefault(); len(gws) == 0 {
					lost.Store("hv default", time.Since(killed))
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
		time.Sleep(2 * time.Second) // the speaker is down for 2 s
		out := l.vtysh(1, "show ip bgp "+vm.String())
		if !strings.Contains(out, "stale") && !strings.Contains(out, "STALE") {
			t.Logf("tor1 during restart (no stale mark seen):\n%s", out)
		}
		c2 := l.startChild(base)
		d := waitFor(t, 40*time.Second, "sessions re-established", c2.established)
		t.Logf("restarted speaker: sessions established %v after start", d.Round(time.Millisecond))
		time.Sleep(4 * time.Second) // past End-of-RIB and the sweep
		close(stop)
		wg.Wait()
		lost.Range(func(k, v any) bool {
			t.Errorf("%v lost during the graceful restart (first gap %v after the kill)", k, v)
			return true
		})
		gws, proto := l.hvDefault()
		if proto != 251 || len(gws) != 2 {
			t.Errorf("hv default after restart: %v proto %d", gws, proto)
		}
		b, _ := os.ReadFile(c2.log)
		if !strings.Contains(string(b), "graceful restart") {
			t.Errorf("restart not detected; log:\n%s", b)
		}
		out = l.vtysh(1, "show ip bgp "+vm.String())
		if strings.Contains(out, "STALE") || strings.Contains(out, "stale") {
			t.Errorf("tor1 still has a stale path after the restart:\n%s", out)
		}
	})
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

// TestLabFRRUnnumbered runs the speaker against FRR ToRs over uplinks that
// carry nothing but IPv6 link-local addresses: FRR's `neighbor IFACE
// interface` learns the speaker's address from its router advertisements,
// the speaker learns the ToR's by soliciting one; one session per uplink
// carries IPv4 (extended next hop) and IPv6, so VM /32s and /128s both
// reach the ToRs and the hypervisor gets both defaults over both uplinks.
func TestLabFRRUnnumbered(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := newLab(t, true)
	vm4 := netip.MustParsePrefix("10.0.0.11/32")
	vm6 := netip.MustParsePrefix("2001:db8:10::11/128")
	base := []netip.Prefix{vm4, vm6, netip.MustParsePrefix("10.253.1.1/32")}
	start := time.Now()
	c := l.startChild(base)
	d := waitFor(t, 40*time.Second, "both unnumbered sessions Established", c.established)
	t.Logf("sessions established after %v; peers %+v", d.Round(time.Millisecond), c.peers())
	for _, p := range c.peers() {
		if !strings.HasPrefix(p.Peer, "fe80::") {
			t.Errorf("peer %+v: want the ToR's link-local address", p)
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ok := false
		for range 200 {
			if devs, _, _ := l.hvDefaultDevs(fam); slices.Equal(devs, []string{"up1", "up2"}) {
				ok = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !ok {
			devs, gws, _ := l.hvDefaultDevs(fam)
			t.Fatalf("hv default (family %d) not over both uplinks: %v %v\n%s%s", fam, devs, gws,
				run(t, "ip", "-n", l.hv, "route"), run(t, "ip", "-n", l.hv, "-6", "route"))
		}
		devs, gws, proto := l.hvDefaultDevs(fam)
		if proto != 251 || len(gws) != 2 || !strings.HasPrefix(gws[0], "fe80::") || !strings.HasPrefix(gws[1], "fe80::") {
			t.Fatalf("hv default family %d: devs %v gws %v proto %d: want link-local nexthops on up1 and up2", fam, devs, gws, proto)
		}
	}
	t.Logf("converged (IPv4 and IPv6 defaults with link-local nexthops over both uplinks) %v after start", time.Since(start).Round(time.Millisecond))
	for _, tor := range l.tors {
		for _, p := range base[:2] {
			waitFor(t, 10*time.Second, p.String()+" in "+tor, func() bool { return l.hasRoute(tor, p) })
		}
	}

	t.Run("advertise and withdraw IPv6", func(t *testing.T) {
		var add []time.Duration
		for i := range 10 {
			p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 15: byte(0x20 + i)}), 128)
			t0 := time.Now()
			c.advertise(append(slices.Clone(base), p))
			waitFor(t, 5*time.Second, p.String()+" at both ToRs", func() bool {
				return l.hasRoute(l.tors[0], p) && l.hasRoute(l.tors[1], p)
			})
			add = append(add, time.Since(t0))
			c.advertise(base)
			waitFor(t, time.Second, p.String()+" withdrawn from both ToRs within 1s", func() bool {
				return !l.hasRoute(l.tors[0], p) && !l.hasRoute(l.tors[1], p)
			})
		}
		t.Logf("SetAdvertised -> /128 in both ToR kernels: p50 %v max %v (n=10)", pct(add, 50), pct(add, 100))
	})

	t.Run("uplink down and up", func(t *testing.T) {
		run(t, "ip", "-n", l.hv, "link", "set", "up1", "down")
		d := waitFor(t, time.Second, "IPv4 default only via up2", func() bool {
			devs, _, _ := l.hvDefaultDevs(netlink.FAMILY_V4)
			return slices.Equal(devs, []string{"up2"})
		})
		t.Logf("up1 down -> IPv4 default only via up2 after %v", d)
		waitFor(t, time.Second, "IPv6 default only via up2", func() bool {
			devs, _, _ := l.hvDefaultDevs(netlink.FAMILY_V6)
			return slices.Equal(devs, []string{"up2"})
		})
		if !l.hasRoute(l.tors[1], vm6) || !l.hasRoute(l.tors[1], vm4) {
			t.Errorf("tor2 lost the VM routes")
		}
		run(t, "ip", "-n", l.hv, "link", "set", "up1", "up")
		d = waitFor(t, 40*time.Second, "both sessions back", c.established)
		t.Logf("up1 up -> session re-established after %v", d.Round(time.Millisecond))
		waitFor(t, 20*time.Second, "IPv6 default over both uplinks again", func() bool {
			devs, _, _ := l.hvDefaultDevs(netlink.FAMILY_V6)
			return slices.Equal(devs, []string{"up1", "up2"})
		})
		waitFor(t, 20*time.Second, vm6.String()+" back in tor1", func() bool { return l.hasRoute(l.tors[0], vm6) })
	})
}
