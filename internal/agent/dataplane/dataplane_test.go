package dataplane

// Privileged tests: real netlink in a fresh network namespace per test
// (and one per VM), created with ip(8) for convenience. The test
// goroutine's thread is locked and moved into the test's "host"
// namespace; nothing touches the machine's own namespace. They skip when
// not run as root.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agentapi"
)

const proto = DefaultRouteProtocol

var nsSeq atomic.Int64

func requirePrivileges(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("this test needs (CI runs as root and installs it): root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Fatal("this test needs (CI runs as root and installs it): ip(8) to create test namespaces")
	}
}

func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// enterNewNS creates a named namespace, moves the calling goroutine's
// (locked) thread into it with lo up, and returns its name and a function
// that moves back and deletes it.
func enterNewNS(tb testing.TB) (string, func()) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	name := fmt.Sprintf("spdp%d-%d", os.Getpid(), nsSeq.Add(1))
	run(tb, "ip", "netns", "add", name)
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := netns.Set(h); err != nil {
		tb.Fatal(err)
	}
	leave := func() {
		if err := netns.Set(orig); err != nil {
			tb.Errorf("restoring the original namespace: %v", err) // the thread stays locked and dies
		} else {
			runtime.UnlockOSThread()
		}
		h.Close()
		orig.Close()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v %s", name, err, out)
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		leave()
		tb.Fatal(err)
	}
	return name, leave
}

// hostNS is enterNewNS for a test, undone at cleanup.
func hostNS(t *testing.T) string {
	name, leave := enterNewNS(t)
	t.Cleanup(leave)
	return name
}

func newDataplane(tb testing.TB) *Dataplane {
	tb.Helper()
	d, err := New(Config{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// addVeth creates a veth pair in the current namespace.
func addVeth(tb testing.TB, name, peer string) netlink.Link {
	tb.Helper()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}); err != nil {
		tb.Fatalf("veth %s: %v", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// vmSpec is a VM: a namespace on the far end of a port's tap.
type vmSpec struct {
	port  agentapi.Port
	cidr  string // the guest's v4 address with its subnet's mask
	gw    string
	cidr6 string // optional: the guest's v6 address, with noprefixroute
}

// hostLinkLocal is the host taps' IPv6 link-local address, derived from
// agentapi.HostMAC: the guests' IPv6 gateway.
const hostLinkLocal = "fe80::fcff:ffff:feff:ffff"

// addVM creates the tap (host end of a veth) and the VM namespace on its
// other end, configured as a guest: address, mask, default route via the
// gateway. It returns the VM namespace's name.
func addVM(t *testing.T, host string, vm vmSpec) string {
	t.Helper()
	name := fmt.Sprintf("%s-vm%d", host, nsSeq.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	vmNS, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer vmNS.Close()
	peer := "v" + vm.port.Tap[3:]
	addVeth(t, vm.port.Tap, peer)
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(pl, int(vmNS)); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(vmNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lo, err := h.LinkByName("lo")
	must(err)
	must(h.LinkSetUp(lo))
	eth, err := h.LinkByName(peer)
	must(err)
	must(h.LinkSetName(eth, "eth0"))
	mac, err := net.ParseMAC(vm.port.MAC)
	must(err)
	must(h.LinkSetHardwareAddr(eth, mac))
	must(h.LinkSetMTU(eth, vm.port.MTU))
	addr, err := netlink.ParseAddr(vm.cidr)
	must(err)
	must(h.AddrAdd(eth, addr))
	if vm.cidr6 != "" {
		a6, err := netlink.ParseAddr(vm.cidr6)
		must(err)
		a6.Flags = unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE
		must(h.AddrAdd(eth, a6))
	}
	must(h.LinkSetUp(eth))
	must(h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(vm.gw), Flags: int(netlink.FLAG_ONLINK)}))
	if vm.cidr6 != "" {
		must(h.RouteAdd(&netlink.Route{
			LinkIndex: eth.Attrs().Index,
			Dst:       &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
			Gw:        net.ParseIP(hostLinkLocal),
		}))
	}
	return name
}

// ping pings addr from VM namespace vm, tries times times, and returns the
// round-trip time of the successful echo.
func ping(t *testing.T, vm, addr string, tries int) (time.Duration, error) {
	t.Helper()
	var (
		out []byte
		err error
	)
	for range tries {
		out, err = exec.Command("ip", "netns", "exec", vm, "ping", "-n", "-c1", "-W1", addr).CombinedOutput()
		if err == nil {
			m := regexp.MustCompile(`time=([0-9.]+) ms`).FindSubmatch(out)
			if m == nil {
				return 0, fmt.Errorf("no time in ping output: %s", out)
			}
			ms, _ := strconv.ParseFloat(string(m[1]), 64)
			return time.Duration(ms * float64(time.Millisecond)), nil
		}
	}
	return 0, fmt.Errorf("ping %s from %s: %v\n%s", addr, vm, err, out)
}

// vmNeigh returns the VM's neighbour entry for ip on eth0.
func vmNeigh(t *testing.T, vm, ip string) (netlink.Neigh, bool) {
	t.Helper()
	h, err := netns.GetFromName(vm)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	ns, err := nh.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.IP.Equal(net.ParseIP(ip)) {
			return n, true
		}
	}
	return netlink.Neigh{}, false
}

// spinelRoutes returns the routes with spinel's protocol, by destination.
func spinelRoutes(t testing.TB) map[string]netlink.Route {
	t.Helper()
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: proto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]netlink.Route{}
	for _, r := range rs {
		m[r.Dst.String()] = r
	}
	return m
}

// permNeighs returns the permanent neighbour entries on a link, ip -> MAC.
func permNeighs(t testing.TB, link string) map[string]string {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := netlink.NeighList(l.Attrs().Index, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.State&netlink.NUD_PERMANENT != 0 {
				m[n.IP.String()] = n.HardwareAddr.String()
			}
		}
	}
	return m
}

// loAddrs returns lo's addresses as "prefix" -> "label/proto".
func loAddrs(t testing.TB, d *Dataplane) map[string]string {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	as, err := (&applier{d: d}).listLoAddrs(lo.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, a := range as {
		m[a.prefix.String()] = fmt.Sprintf("%s/%d", a.label, a.proto)
	}
	return m
}

func sysctl(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// testPort builds a port on the v4 subnet 10.0.0.0/24 (gateway
// 10.0.0.1) and, with ip6, the v6 subnet fd00::/64 (gateway fd00::1).
func testPort(id, mac, ip, ip6 string) agentapi.Port {
	p := agentapi.Port{
		ID: id, Tap: agentapi.TapName(id), MAC: mac, MTU: 1450, AdminStateUp: true,
		FixedIPs: []agentapi.FixedIP{{SubnetID: "sub4", IPAddress: ip}},
		Subnets:  []agentapi.Subnet{{ID: "sub4", CIDR: "10.0.0.0/24", IPVersion: 4, GatewayIP: "10.0.0.1"}},
	}
	if ip6 != "" {
		p.FixedIPs = append(p.FixedIPs, agentapi.FixedIP{SubnetID: "sub6", IPAddress: ip6})
		p.Subnets = append(p.Subnets, agentapi.Subnet{ID: "sub6", CIDR: "fd00::/64", IPVersion: 6, GatewayIP: "fd00::1"})
	}
	return p
}

func mustApply(t *testing.T, d *Dataplane, ports ...agentapi.Port) Result {
	t.Helper()
	res, err := d.Apply(ports)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Failed) > 0 || len(res.Pending) > 0 || len(res.Ready) != len(ports) {
		t.Fatalf("Apply result %+v, want all %d ready", res, len(ports))
	}
	return res
}

func TestApplyRoutesTwoVMs(t *testing.T) {
	requirePrivileges(t)
	host := hostNS(t)
	p1 := testPort("11111111-aaaa-4000-8000-000000000001", "fa:16:3e:00:00:11", "10.0.0.11", "fd00::11")
	p1.AllowedAddressPairs = []agentapi.AddressPair{{IPAddress: "10.0.5.0/24"}}
	p2 := testPort("22222222-bbbb-4000-8000-000000000002", "fa:16:3e:00:00:12", "10.0.0.12", "fd00::12")
	vm1 := addVM(t, host, vmSpec{port: p1, cidr: "10.0.0.11/24", gw: "10.0.0.1", cidr6: "fd00::11/64"})
	vm2 := addVM(t, host, vmSpec{port: p2, cidr: "10.0.0.12/24", gw: "10.0.0.1", cidr6: "fd00::12/64"})

	d := newDataplane(t)
	mustApply(t, d, p1, p2)

	// Taps.
	for _, p := range []agentapi.Port{p1, p2} {
		l, err := netlink.LinkByName(p.Tap)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Attrs().HardwareAddr.String(); got != agentapi.HostMAC {
			t.Errorf("%s MAC %s, want %s", p.Tap, got, agentapi.HostMAC)
		}
		if l.Attrs().MTU != 1450 {
			t.Errorf("%s MTU %d, want 1450", p.Tap, l.Attrs().MTU)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s is down", p.Tap)
		}
		for name, want := range map[string]string{
			"net.ipv4.conf." + p.Tap + ".proxy_arp":    "1",
			"net.ipv4.neigh." + p.Tap + ".proxy_delay": "0",
			"net.ipv4.conf." + p.Tap + ".forwarding":   "1",
			"net.ipv6.conf." + p.Tap + ".forwarding":   "1",
			"net.ipv4.conf." + p.Tap + ".rp_filter":    "1",
		} {
			if got := sysctl(t, name); got != want {
				t.Errorf("%s = %s, want %s", name, got, want)
			}
		}
	}
	for name, want := range map[string]string{
		"net.ipv4.ip_forward":                           "1",
		"net.ipv6.conf.all.forwarding":                  "1",
		"net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
		"net.ipv6.conf.all.ignore_routes_with_linkdown": "1",
		"net.ipv4.fib_multipath_hash_policy":            "1",
		"net.ipv6.fib_multipath_hash_policy":            "1",
	} {
		if got := sysctl(t, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}

	// Routes with spinel's protocol, one per fixed IP and pair.
	routes := spinelRoutes(t)
	tap1, _ := netlink.LinkByName(p1.Tap)
	tap2, _ := netlink.LinkByName(p2.Tap)
	wantRoutes := map[string]int{
		"10.0.0.11/32": tap1.Attrs().Index, "fd00::11/128": tap1.Attrs().Index, "10.0.5.0/24": tap1.Attrs().Index,
		"10.0.0.12/32": tap2.Attrs().Index, "fd00::12/128": tap2.Attrs().Index,
	}
	if len(routes) != len(wantRoutes) {
		t.Errorf("spinel routes %v, want %v", routes, wantRoutes)
	}
	for dst, idx := range wantRoutes {
		r, ok := routes[dst]
		switch {
		case !ok:
			t.Errorf("no route to %s", dst)
		case r.LinkIndex != idx || r.Gw != nil || r.Priority != DefaultRouteMetric:
			t.Errorf("route %s = %+v, want dev ifindex %d metric %d", dst, r, idx, DefaultRouteMetric)
		case r.Family == netlink.FAMILY_V4 && r.Scope != netlink.SCOPE_LINK:
			t.Errorf("route %s scope %v, want link", dst, r.Scope)
		}
	}

	// Permanent neighbours: fixed IPs -> the port's MAC.
	if got, want := permNeighs(t, p1.Tap), map[string]string{"10.0.0.11": p1.MAC, "fd00::11": p1.MAC}; !mapsEqual(got, want) {
		t.Errorf("neighbours on %s = %v, want %v", p1.Tap, got, want)
	}
	if got, want := permNeighs(t, p2.Tap), map[string]string{"10.0.0.12": p2.MAC, "fd00::12": p2.MAC}; !mapsEqual(got, want) {
		t.Errorf("neighbours on %s = %v, want %v", p2.Tap, got, want)
	}

	// Gateways on lo, once, marked as spinel's.
	wantLo := map[string]string{
		"127.0.0.1/8": "lo/0", "::1/128": "/1",
		"10.0.0.1/32": LoLabel + "/250", "fd00::1/128": "/250",
	}
	if got := loAddrs(t, d); !mapsEqual(got, wantLo) {
		t.Errorf("lo addresses %v, want %v", got, wantLo)
	}

	// VM1 reaches VM2 (same subnet: the VM ARPs for it, the host
	// answers by proxy ARP at once and routes) and its gateway (a local
	// address on lo, though the host has no default route).
	rtt, err := ping(t, vm1, "10.0.0.12", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rtt > 250*time.Millisecond {
		t.Errorf("first ping to 10.0.0.12 (with ARP) took %v: proxy_delay not 0?", rtt)
	}
	if _, err := ping(t, vm1, "10.0.0.1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := ping(t, vm2, "10.0.0.11", 1); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"10.0.0.12", "10.0.0.1"} {
		n, ok := vmNeigh(t, vm1, ip)
		if !ok || n.HardwareAddr.String() != agentapi.HostMAC || n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) == 0 {
			t.Errorf("vm1's ARP entry for %s = %+v (found %v), want %s resolved by the host", ip, n, ok, agentapi.HostMAC)
		}
	}
	// IPv6: everything goes to the host's link-local (derived from the
	// host MAC), routed to the other VM's /128. Retried: the taps'
	// link-local addresses are tentative for a second after they come up.
	if _, err := ping(t, vm1, "fd00::12", 5); err != nil {
		t.Error(err)
	}
}

func TestApplyIsNoOpAndSweeps(t *testing.T) {
	requirePrivileges(t)
	host := hostNS(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p1 := testPort("11111111-aaaa-4000-8000-000000000001", "fa:16:3e:00:00:11", "10.0.0.11", "fd00::11")
	p2 := testPort("22222222-bbbb-4000-8000-000000000002", "fa:16:3e:00:00:12", "10.0.0.12", "fd00::12")
	p3 := testPort("33333333-cccc-4000-8000-000000000003", "fa:16:3e:00:00:13", "10.1.0.13", "")
	p3.Subnets[0] = agentapi.Subnet{ID: "sub4b", CIDR: "10.1.0.0/24", IPVersion: 4, GatewayIP: "10.1.0.1"}
	addVM(t, host, vmSpec{port: p1, cidr: "10.0.0.11/24", gw: "10.0.0.1"})
	addVM(t, host, vmSpec{port: p2, cidr: "10.0.0.12/24", gw: "10.0.0.1"})
	addVeth(t, p3.Tap, "peer3")

	// Foreign things, which must survive everything.
	upl := addVeth(t, "uplink0", "uplink0peer")
	must(netlink.LinkSetUp(upl))
	must(netlink.AddrAdd(upl, &netlink.Addr{IPNet: mustIPNet("192.0.2.1/24")}))
	must(netlink.RouteAdd(&netlink.Route{Dst: mustIPNet("198.51.100.0/24"), Gw: net.ParseIP("192.0.2.2"), LinkIndex: upl.Attrs().Index, Protocol: unix.RTPROT_STATIC}))
	lo, err := netlink.LinkByName("lo")
	must(err)
	must(netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("192.0.2.200/32")}))
	must(netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("192.0.2.201/32"), Label: "lo:other"}))
	must(netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("2001:db8::200/128")}))
	must(netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("10.1.0.1/32")})) // p3's gateway, put there by an operator
	must(netlink.NeighAdd(&netlink.Neigh{LinkIndex: upl.Attrs().Index, IP: net.ParseIP("192.0.2.9"), HardwareAddr: mustMAC("02:00:00:00:00:09"), State: netlink.NUD_PERMANENT}))
	foreignTap := addVeth(t, "tapforeign001", "foreignpeer") // a tap that is not spinel's: random MAC, no port
	must(netlink.LinkSetUp(foreignTap))
	must(netlink.NeighAdd(&netlink.Neigh{LinkIndex: foreignTap.Attrs().Index, IP: net.ParseIP("10.2.0.9"), HardwareAddr: mustMAC("02:00:00:00:00:0a"), State: netlink.NUD_PERMANENT}))

	// Leftovers of an earlier run of spinel, which must be swept.
	staleTap := addVeth(t, "tapstale00001", "stalepeer") // a spinel tap (host MAC) whose port is gone
	must(netlink.LinkSetHardwareAddr(staleTap, mustMAC(agentapi.HostMAC)))
	must(netlink.LinkSetUp(staleTap))
	must(netlink.NeighAdd(&netlink.Neigh{LinkIndex: staleTap.Attrs().Index, IP: net.ParseIP("10.0.0.77"), HardwareAddr: mustMAC("fa:16:3e:00:00:77"), State: netlink.NUD_PERMANENT}))
	must(netlink.RouteAdd(&netlink.Route{Dst: mustIPNet("10.0.0.77/32"), LinkIndex: staleTap.Attrs().Index, Scope: netlink.SCOPE_LINK, Protocol: proto, Priority: DefaultRouteMetric}))
	must(netlink.RouteAdd(&netlink.Route{Dst: mustIPNet("10.0.0.50/32"), LinkIndex: upl.Attrs().Index, Scope: netlink.SCOPE_LINK, Protocol: proto}))
	must(netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("10.9.9.1/32"), Label: LoLabel}))
	d := newDataplane(t)
	must((&applier{d: d}).addLoAddr(lo.Attrs().Index, netip.MustParseAddr("2001:db8:9::1")))

	foreignLo := map[string]string{
		"127.0.0.1/8": "lo/0", "::1/128": "/1",
		"192.0.2.200/32": "lo/0", "192.0.2.201/32": "lo:other/0", "2001:db8::200/128": "/0", "10.1.0.1/32": "lo/0",
	}
	checkForeign := func(stage string) {
		t.Helper()
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: unix.RTPROT_STATIC}, netlink.RT_FILTER_PROTOCOL)
		must(err)
		if len(rs) != 1 || rs[0].Dst.String() != "198.51.100.0/24" {
			t.Errorf("%s: static routes %v, want 198.51.100.0/24 only", stage, rs)
		}
		got := loAddrs(t, d)
		for a, want := range foreignLo {
			if got[a] != want {
				t.Errorf("%s: lo address %s = %q, want %q", stage, a, got[a], want)
			}
		}
		if got := permNeighs(t, "uplink0"); len(got) != 1 {
			t.Errorf("%s: uplink0 neighbours %v", stage, got)
		}
		if got := permNeighs(t, "tapforeign001"); len(got) != 1 {
			t.Errorf("%s: foreign tap neighbours %v", stage, got)
		}
	}

	mustApply(t, d, p1, p2, p3)
	checkForeign("first apply")
	routes := spinelRoutes(t)
	for _, dst := range []string{"10.0.0.77/32", "10.0.0.50/32"} {
		if _, ok := routes[dst]; ok {
			t.Errorf("stale spinel route %s not swept", dst)
		}
	}
	if len(routes) != 5 {
		t.Errorf("spinel routes %v, want 5", routes)
	}
	if got := permNeighs(t, "tapstale00001"); len(got) != 0 {
		t.Errorf("stale tap neighbours %v not swept", got)
	}
	lorest := loAddrs(t, d)
	for _, a := range []string{"10.9.9.1/32", "2001:db8:9::1/128"} {
		if _, ok := lorest[a]; ok {
			t.Errorf("stale spinel lo address %s not swept", a)
		}
	}
	for _, a := range []string{"10.0.0.1/32", "fd00::1/128"} {
		if _, ok := lorest[a]; !ok {
			t.Errorf("gateway %s not on lo", a)
		}
	}

	// A foreign route through a spinel tap survives too.
	tap1, err := netlink.LinkByName(p1.Tap)
	must(err)
	must(netlink.RouteAdd(&netlink.Route{Dst: mustIPNet("10.0.0.99/32"), LinkIndex: tap1.Attrs().Index, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_BOOT}))

	// A second Apply, and one by a restarted agent, write nothing.
	d.writes = 0
	mustApply(t, d, p1, p2, p3)
	if d.writes != 0 {
		t.Errorf("second Apply wrote %d changes, want 0", d.writes)
	}
	d.Close()
	d = newDataplane(t)
	mustApply(t, d, p3, p2, p1)
	if d.writes != 0 {
		t.Errorf("Apply after a restart wrote %d changes, want 0", d.writes)
	}

	// p2 leaves: its route and neighbours go, the gateway stays (p1).
	mustApply(t, d, p1, p3)
	routes = spinelRoutes(t)
	if _, ok := routes["10.0.0.12/32"]; ok {
		t.Error("p2's route survived its removal")
	}
	if _, ok := routes["10.0.0.11/32"]; !ok {
		t.Error("p1's route is gone")
	}
	if got := permNeighs(t, p2.Tap); len(got) != 0 {
		t.Errorf("p2's neighbours %v survived its removal", got)
	}
	if _, ok := loAddrs(t, d)["10.0.0.1/32"]; !ok {
		t.Error("gateway 10.0.0.1 removed while p1 needs it")
	}
	checkForeign("p2 removed")

	// Everyone leaves: nothing of spinel's remains, foreign things do.
	mustApply(t, d)
	if routes := spinelRoutes(t); len(routes) != 0 {
		t.Errorf("spinel routes %v left with no ports", routes)
	}
	for _, tap := range []string{p1.Tap, p2.Tap, p3.Tap} {
		if got := permNeighs(t, tap); len(got) != 0 {
			t.Errorf("neighbours %v left on %s", got, tap)
		}
	}
	if got := loAddrs(t, d); !mapsEqual(got, foreignLo) {
		t.Errorf("lo addresses %v with no ports, want %v", got, foreignLo)
	}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: unix.RTPROT_BOOT}, netlink.RT_FILTER_PROTOCOL)
	must(err)
	if len(rs) != 1 || rs[0].Dst.String() != "10.0.0.99/32" {
		t.Errorf("foreign route through a spinel tap: %v", rs)
	}
	checkForeign("no ports")
}

func TestApplyPendingAdminDownAndFailures(t *testing.T) {
	requirePrivileges(t)
	host := hostNS(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pA := testPort("aaaaaaaa-0000-4000-8000-00000000000a", "fa:16:3e:00:00:0a", "10.0.0.10", "")
	pB := testPort("bbbbbbbb-0000-4000-8000-00000000000b", "fa:16:3e:00:00:0b", "10.0.0.11", "fd00::11")
	pB.AdminStateUp = false
	pC := testPort("cccccccc-0000-4000-8000-00000000000c", "fa:16:3e:00:00:0c", "10.0.0.30", "")
	pC.FixedIPs = append(pC.FixedIPs, agentapi.FixedIP{SubnetID: "sub4", IPAddress: "10.0.0.31"}, agentapi.FixedIP{SubnetID: "sub4", IPAddress: "10.0.0.x"})
	addVeth(t, pB.Tap, "peerB")
	tapC := addVeth(t, pC.Tap, "peerC")
	upl := addVeth(t, "uplink0", "uplink0peer")
	must(netlink.LinkSetUp(upl))
	// A foreign route holds one of C's addresses.
	must(netlink.RouteAdd(&netlink.Route{Dst: mustIPNet("10.0.0.30/32"), LinkIndex: upl.Attrs().Index, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC, Priority: DefaultRouteMetric}))

	d := newDataplane(t)
	res, err := d.Apply([]agentapi.Port{pA, pB, pC})
	if err == nil {
		t.Error("Apply with a bad port returned no error")
	}
	if !slices.Equal(res.Pending, []string{pA.ID}) || !slices.Equal(res.Ready, []string{pB.ID}) || len(res.Failed) != 1 || res.Failed[pC.ID] == nil {
		t.Fatalf("result %+v, want A pending, B ready, C failed", res)
	}
	for _, want := range []string{"10.0.0.x", "10.0.0.30", "not spinel's"} {
		if !strings.Contains(res.Failed[pC.ID].Error(), want) {
			t.Errorf("C's error %q does not mention %q", res.Failed[pC.ID], want)
		}
	}
	// C's other items were applied; the foreign route is untouched.
	routes := spinelRoutes(t)
	if r, ok := routes["10.0.0.31/32"]; !ok || r.LinkIndex != tapC.Attrs().Index {
		t.Errorf("C's good address has no route: %v", routes)
	}
	if _, ok := routes["10.0.0.30/32"]; ok {
		t.Error("spinel took over a foreign route")
	}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: unix.RTPROT_STATIC}, netlink.RT_FILTER_PROTOCOL)
	must(err)
	if len(rs) != 1 || rs[0].LinkIndex != upl.Attrs().Index {
		t.Errorf("foreign route changed: %v", rs)
	}
	if got := permNeighs(t, pC.Tap); got["10.0.0.31"] != pC.MAC || got["10.0.0.30"] != pC.MAC {
		t.Errorf("C's neighbours %v", got)
	}
	// B is administratively down: a configured tap, down, with nothing
	// routed to it.
	tapB, err := netlink.LinkByName(pB.Tap)
	must(err)
	if tapB.Attrs().Flags&net.FlagUp != 0 || tapB.Attrs().HardwareAddr.String() != agentapi.HostMAC || tapB.Attrs().MTU != 1450 {
		t.Errorf("admin-down tap %+v", tapB.Attrs())
	}
	if _, ok := routes["10.0.0.11/32"]; ok {
		t.Error("admin-down port routed")
	}

	// A's tap appears; B comes up; C's route is freed: all ready.
	addVM(t, host, vmSpec{port: pA, cidr: "10.0.0.10/24", gw: "10.0.0.1"})
	pB.AdminStateUp = true
	pC.FixedIPs = pC.FixedIPs[:2]
	must(netlink.RouteDel(&rs[0]))
	mustApply(t, d, pA, pB, pC)
	routes = spinelRoutes(t)
	for _, dst := range []string{"10.0.0.10/32", "10.0.0.11/32", "fd00::11/128", "10.0.0.30/32", "10.0.0.31/32"} {
		if _, ok := routes[dst]; !ok {
			t.Errorf("no route to %s", dst)
		}
	}
	// And B down again loses its routes and neighbours.
	pB.AdminStateUp = false
	mustApply(t, d, pA, pB, pC)
	routes = spinelRoutes(t)
	if _, ok := routes["10.0.0.11/32"]; ok {
		t.Error("admin-down port still routed")
	}
	if got := permNeighs(t, pB.Tap); len(got) != 0 {
		t.Errorf("admin-down port's neighbours %v", got)
	}
	d.writes = 0
	mustApply(t, d, pA, pB, pC)
	if d.writes != 0 {
		t.Errorf("repeated Apply wrote %d changes", d.writes)
	}
}

// TestApplyFromAnotherThread checks that Apply programs the Dataplane's
// namespace whatever namespace the calling thread is in (sysctls are
// per thread namespace).
func TestApplyFromAnotherThread(t *testing.T) {
	requirePrivileges(t)
	hostNS(t)
	p := testPort("dddddddd-0000-4000-8000-00000000000d", "fa:16:3e:00:00:0d", "10.0.0.40", "")
	addVeth(t, p.Tap, "peerD")
	d := newDataplane(t)
	done := make(chan error)
	go func() {
		// A new goroutine, on whatever thread, in whatever namespace.
		_, err := d.Apply([]agentapi.Port{p})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sysctl(t, "net.ipv4.conf."+p.Tap+".proxy_arp"); got != "1" {
		t.Errorf("proxy_arp = %s in the dataplane's namespace", got)
	}
	if _, ok := spinelRoutes(t)["10.0.0.40/32"]; !ok {
		t.Error("no route")
	}
}

// BenchmarkApply500 measures a cold-start Apply of 500 dual-stack ports
// on 500 fresh veth taps (no VM namespaces): taps, sysctls, 1 000 routes
// (plus 50 pair routes), 1 000 neighbours and two gateways. It also
// reports the following no-op Apply (noop-ns) and the writes of each.
func BenchmarkApply500(b *testing.B) {
	requirePrivileges(b)
	const n = 500
	ports := make([]agentapi.Port, n)
	for i := range ports {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
		p := agentapi.Port{
			ID: id, Tap: agentapi.TapName(id), MAC: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i/256, i%256),
			MTU: 1450, AdminStateUp: true,
			FixedIPs: []agentapi.FixedIP{
				{SubnetID: "s4", IPAddress: fmt.Sprintf("10.20.%d.%d", i/200, i%200+10)},
				{SubnetID: "s6", IPAddress: fmt.Sprintf("fd20::%x", i+16)},
			},
			Subnets: []agentapi.Subnet{
				{ID: "s4", CIDR: "10.20.0.0/16", IPVersion: 4, GatewayIP: "10.20.0.1"},
				{ID: "s6", CIDR: "fd20::/64", IPVersion: 6, GatewayIP: "fd20::1"},
			},
		}
		if i%10 == 0 {
			p.AllowedAddressPairs = []agentapi.AddressPair{{IPAddress: fmt.Sprintf("10.30.%d.0/24", i/10)}}
		}
		ports[i] = p
	}
	var noop time.Duration
	var coldWrites, noopWrites int
	for b.Loop() {
		b.StopTimer()
		_, leave := enterNewNS(b)
		for i, p := range ports {
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.Tap}, PeerName: fmt.Sprintf("bp%d", i)}); err != nil {
				leave()
				b.Fatal(err)
			}
		}
		d, err := New(Config{}, nil)
		if err != nil {
			leave()
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := d.Apply(ports)
		b.StopTimer()
		if err != nil || len(res.Ready) != n {
			d.Close()
			leave()
			b.Fatalf("Apply: %v, %d ready", err, len(res.Ready))
		}
		coldWrites = d.writes
		d.writes = 0
		start := time.Now()
		if _, err := d.Apply(ports); err != nil {
			b.Fatal(err)
		}
		noop = time.Since(start)
		noopWrites = d.writes
		if got := len(spinelRoutes(b)); got != 2*n+n/10 {
			b.Errorf("%d spinel routes, want %d", got, 2*n+n/10)
		}
		d.Close()
		leave()
		b.StartTimer()
	}
	b.ReportMetric(float64(noop.Nanoseconds()), "noop-ns")
	b.ReportMetric(float64(coldWrites), "cold-writes")
	b.ReportMetric(float64(noopWrites), "noop-writes")
}

func mustIPNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
