package ra

// Privileged end-to-end tests: the server runs in a "hypervisor" network
// namespace with forwarding on, as the dataplane sets it up, and the
// guests are the Linux kernels of "VM" namespaces behind veth pairs named
// like taps (the host end with spinel's host MAC). The guests' kernels
// process the advertisements, and a raw socket in a VM namespace captures
// them for the options the kernel does not act on (RDNSS).
//
// They need root and iproute2 (ip).

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv6"

	"github.com/spinel-net/spinel/internal/agent/netnstest"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// hostLinkLocal is the EUI-64 link-local address of agentapi.HostMAC: the
// guests' IPv6 router.
const hostLinkLocal = "fe80::fcff:ffff:feff:ffff"

func requireRoot(t *testing.T) { t.Helper(); netnstest.Require(t, nil) }

func run(t *testing.T, args ...string) string { t.Helper(); return netnstest.Run(t, args...) }

// addNetns creates a network namespace deleted at the end of the test.
func addNetns(t *testing.T, role string) string { t.Helper(); return netnstest.Add(t, "spra", role) }

// inNetns runs f on a locked thread switched into network namespace ns;
// sockets f creates stay in ns.
func inNetns(t *testing.T, ns string, f func()) { t.Helper(); netnstest.In(t, ns, f) }

func sysctl(t *testing.T, ns, key, value string) { t.Helper(); netnstest.Sysctl(t, ns, key, value) }

func readSysctl(t *testing.T, ns, key string) string {
	t.Helper()
	return netnstest.ReadSysctl(t, ns, key)
}

// testbed is a hypervisor namespace and the VMs plugged into it.
type testbed struct {
	hv  string
	srv *Server
}

type vm struct {
	ns, tap, mac string
	mtu          int
}

// slaacAddr is the address a guest forms from a /64 with its MAC's EUI-64.
func (v *vm) slaacAddr(t *testing.T, pfx string) string {
	mac, err := net.ParseMAC(v.mac)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParsePrefix(pfx).Addr().As16()
	copy(a[8:], []byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
	return netip.AddrFrom16(a).String()
}

func newTestbed(t *testing.T, cfg Config) *testbed {
	requireRoot(t)
	tb := &testbed{hv: addNetns(t, "hv")}
	run(t, "ip", "-n", tb.hv, "link", "set", "lo", "up")
	sysctl(t, tb.hv, "ipv6/conf/all/forwarding", "1")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tb.srv = New(cfg, log)
	t.Cleanup(func() { tb.srv.Close() })
	return tb
}

// plug creates the VM's namespace (once) and its veth pair: the host end
// named like a tap, with spinel's host MAC, the guest end eth0 accepting
// router advertisements.
func (tb *testbed) plug(t *testing.T, v *vm) {
	t.Helper()
	if v.ns == "" {
		v.ns = addNetns(t, "vm")
	}
	mtu := fmt.Sprint(v.mtu)
	run(t, "ip", "-n", tb.hv, "link", "add", v.tap, "mtu", mtu, "address", agentapi.HostMAC,
		"type", "veth", "peer", "name", "eth0", "netns", v.ns, "address", v.mac, "mtu", mtu)
	sysctl(t, v.ns, "ipv6/conf/eth0/accept_ra", "2")
	run(t, "ip", "-n", tb.hv, "link", "set", v.tap, "up")
	run(t, "ip", "-n", v.ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", v.ns, "link", "set", "eth0", "up")
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

func port(id string, v *vm, subnets ...agentapi.Subnet) agentapi.Port {
	return agentapi.Port{ID: id, Tap: v.tap, MAC: v.mac, MTU: v.mtu, AdminStateUp: true, Subnets: subnets}
}

// eventually polls cond until it returns "" or timeout passes, then
// fails with its last complaint.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	netnstest.Eventually(t, timeout, cond)
}

// waitDefaultRoute waits for the guest to have the host as its default
// router, learnt from an advertisement.
func waitDefaultRoute(t *testing.T, v *vm, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() string {
		out := run(t, "ip", "-n", v.ns, "-6", "route", "show", "default")
		if strings.Contains(out, "via "+hostLinkLocal+" dev eth0 proto ra") {
			return ""
		}
		return "no default route via the host's link-local; routes:\n" + run(t, "ip", "-n", v.ns, "-6", "route")
	})
}

// globalAddrs returns the guest's global addresses on eth0 with their
// flags, one line each.
func globalAddrs(t *testing.T, v *vm) []string {
	var lines []string
	for _, l := range strings.Split(run(t, "ip", "-n", v.ns, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"), "\n") {
		if f := strings.Fields(l); len(f) >= 4 {
			lines = append(lines, strings.Join(f[3:], " "))
		}
	}
	return lines
}

// sniffer captures the router advertisements a guest receives.
type sniffer struct {
	pc      *ipv6.PacketConn
	conn    *net.IPConn
	ifindex int // the guest's eth0
}

func sniff(t *testing.T, v *vm) *sniffer {
	t.Helper()
	var (
		c   net.PacketConn
		err error
	)
	var ifc *net.Interface
	inNetns(t, v.ns, func() {
		if ifc, err = net.InterfaceByName("eth0"); err == nil {
			c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &sniffer{conn: c.(*net.IPConn), pc: ipv6.NewPacketConn(c), ifindex: ifc.Index}
	t.Cleanup(func() { s.conn.Close() })
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	if err := s.pc.SetICMPFilter(&f); err != nil {
		t.Fatal(err)
	}
	if err := s.pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true); err != nil {
		t.Fatal(err)
	}
	if err := s.pc.SetMulticastHopLimit(255); err != nil {
		t.Fatal(err)
	}
	return s
}

// solicit sends a router solicitation to all routers, as a guest does.
func (s *sniffer) solicit(t *testing.T) {
	t.Helper()
	rs := []byte{typeRouterSolicitation, 0, 0, 0, 0, 0, 0, 0}
	if _, err := s.pc.WriteTo(rs, &ipv6.ControlMessage{IfIndex: s.ifindex}, &net.IPAddr{IP: allRouters}); err != nil {
		t.Fatal(err)
	}
}

// next returns the next advertisement for which ok holds.
func (s *sniffer) next(t *testing.T, timeout time.Duration, ok func(*parsedRA) bool) *parsedRA {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := s.pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no matching router advertisement: %v", err)
		}
		ra := parseRA(t, buf[:n])
		ra.src, _ = netip.AddrFromSlice(src.(*net.IPAddr).IP)
		if cm != nil {
			ra.hopLimit = cm.HopLimit
			if !cm.Dst.Equal(allNodes) {
				t.Errorf("advertisement sent to %v, not to all nodes", cm.Dst)
			}
		}
		if ok == nil || ok(ra) {
			return ra
		}
	}
}

func TestGuests(t *testing.T) {
	tb := newTestbed(t, Config{InitialInterval: 500 * time.Millisecond, MinDelayBetweenRAs: 200 * time.Millisecond})
	slaac := subnet6("subnet-slaac", "2001:db8:1::/64", ModeSLAAC, "2001:db8::53", "2001:db8::54")
	stateful := subnet6("subnet-stateful", "2001:db8:2::/64", ModeStateful, "2001:db8::53")
	stateless := subnet6("subnet-stateless", "2001:db8:3::/64", ModeStateless, "2001:db8::55")
	v4 := agentapi.Subnet{ID: "subnet-v4", CIDR: "10.0.0.0/24", IPVersion: 4, GatewayIP: "10.0.0.1", EnableDHCP: true}
	vms := map[string]*vm{}
	ports := map[string]agentapi.Port{}
	for i, mode := range []string{ModeSLAAC, ModeStateful, ModeStateless} {
		id := fmt.Sprintf("%d%d%d%d%d%d%d%d-0000-4000-8000-00000000000%d", i, i, i, i, i, i, i, i, i)
		v := &vm{tap: agentapi.TapName(id), mac: fmt.Sprintf("fa:16:3e:00:00:%02x", i+1), mtu: 1500}
		tb.plug(t, v)
		vms[mode] = v
		sn := map[string]agentapi.Subnet{ModeSLAAC: slaac, ModeStateful: stateful, ModeStateless: stateless}[mode]
		p := port(id, v, v4, sn)
		p.MTU = 1400 // below the device's: the guest's IPv6 MTU shows the option was applied
		ports[mode] = p
	}
	noRA := &vm{tap: agentapi.TapName("99999999-0000-4000-8000-000000000009"), mac: "fa:16:3e:00:00:09", mtu: 1500}
	noRAPort := port("99999999-0000-4000-8000-000000000009", noRA, v4)
	all := []agentapi.Port{ports[ModeSLAAC], ports[ModeStateful], ports[ModeStateless], noRAPort}
	tb.setPorts(t, all...)
	if tb.listener(noRA.tap) != nil {
		t.Error("a listener for a port without ipv6_ra_mode")
	}

	for _, tc := range []struct {
		mode           string
		prefix         string
		managed, other bool
		slaac          bool
		dns            []string
	}{
		{ModeSLAAC, "2001:db8:1::/64", false, false, true, []string{"2001:db8::53", "2001:db8::54"}},
		{ModeStateful, "2001:db8:2::/64", true, false, false, []string{"2001:db8::53"}},
		{ModeStateless, "2001:db8:3::/64", false, true, true, []string{"2001:db8::55"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			v := vms[tc.mode]
			// The guest's kernel checks hop limit 255 and a link-local
			// source: a default route proves both.
			waitDefaultRoute(t, v, 20*time.Second)
			want := v.slaacAddr(t, tc.prefix)
			eventually(t, 10*time.Second, func() string {
				addrs := globalAddrs(t, v)
				switch {
				case !tc.slaac && len(addrs) == 0:
					return ""
				case !tc.slaac:
					return fmt.Sprintf("global addresses %q without A flag", addrs)
				case len(addrs) == 1 && strings.HasPrefix(addrs[0], want+"/64 ") && !strings.Contains(addrs[0], "tentative"):
					return ""
				}
				return fmt.Sprintf("global addresses %q, want %s/64", addrs, want)
			})
			// Off-link: no prefix route; same-prefix peers go via the host.
			routes := run(t, "ip", "-n", v.ns, "-6", "route", "show", "table", "all")
			t.Logf("guest addresses %q; routes:\n%s", globalAddrs(t, v), routes)
			if strings.Contains(routes, tc.prefix+" ") {
				t.Errorf("the prefix is on-link in the guest:\n%s", routes)
			}
			peer := netip.MustParsePrefix(tc.prefix).Addr().Next().Next().Next().String()
			if out := run(t, "ip", "-n", v.ns, "-6", "route", "get", peer); !strings.Contains(out, "via "+hostLinkLocal+" dev eth0") {
				t.Errorf("a same-prefix peer is not routed via the host: %s", out)
			}
			if mtu := readSysctl(t, v.ns, "ipv6/conf/eth0/mtu"); mtu != "1400" {
				t.Errorf("guest IPv6 MTU %s, want 1400 from the advertisement", mtu)
			}

			// What the kernel does not show: the message itself, here
			// the answer to a solicitation.
			sn := sniff(t, v)
			sn.solicit(t)
			ra := sn.next(t, 5*time.Second, nil)
			if ra.src.String() != hostLinkLocal || ra.hopLimit != 255 || ra.managed != tc.managed ||
				ra.other != tc.other || ra.routerLifetime != 1800 || ra.mtu != 1400 ||
				ra.sllao.String() != agentapi.HostMAC {
				t.Errorf("advertisement %+v", ra)
			}
			if len(ra.prefixes) != 1 || ra.prefixes[0].prefix.String() != tc.prefix || ra.prefixes[0].onLink ||
				ra.prefixes[0].autonomous != tc.slaac {
				t.Errorf("prefixes %+v", ra.prefixes)
			}
			if got := fmt.Sprint(ra.rdnss); got != fmt.Sprint(tc.dns) {
				t.Errorf("RDNSS %s, want %v", got, tc.dns)
			}
		})
	}

	t.Run("a changed port is re-advertised at once, without restarting the listener", func(t *testing.T) {
		v := vms[ModeSLAAC]
		before := tb.listener(v.tap)
		s := sniff(t, v)
		changed := ports[ModeSLAAC]
		changed.Subnets = []agentapi.Subnet{v4, slaac}
		changed.Subnets[1].DNSNameservers = []string{"2001:db8::99"}
		changed.MTU = 1300
		tb.setPorts(t, changed, ports[ModeStateful], ports[ModeStateless], noRAPort)
		if tb.listener(v.tap) != before {
			t.Error("listener restarted by a data change")
		}
		start := time.Now()
		ra := s.next(t, 5*time.Second, func(ra *parsedRA) bool { return ra.mtu == 1300 })
		if got := fmt.Sprint(ra.rdnss); got != "[2001:db8::99]" || time.Since(start) > 2*time.Second {
			t.Errorf("RDNSS %s after %v", got, time.Since(start))
		}
		eventually(t, 5*time.Second, func() string {
			if mtu := readSysctl(t, v.ns, "ipv6/conf/eth0/mtu"); mtu != "1300" {
				return "guest IPv6 MTU " + mtu
			}
			return ""
		})
		tb.setPorts(t, all...)
	})

	t.Run("removed port is not served; a port whose tap is missing is not ready", func(t *testing.T) {
		v := vms[ModeStateless]
		gone := ports[ModeStateless]
		gone.Tap = "tapmissing000"
		var (
			ready map[string]bool
			err   error
		)
		inNetns(t, tb.hv, func() {
			ready, err = tb.srv.Apply(&agentapi.State{Ports: []agentapi.Port{ports[ModeSLAAC], gone, noRAPort}})
		})
		if err != nil || !ready[ports[ModeSLAAC].ID] || !ready[noRAPort.ID] || ready[gone.ID] || len(ready) != 2 {
			t.Errorf("ready %v, err %v", ready, err)
		}
		if tb.listener(v.tap) != nil || tb.listener(vms[ModeStateful].tap) != nil {
			t.Error("listeners of removed ports still running")
		}
		s := sniff(t, v)
		s.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, _, err := s.pc.ReadFrom(make([]byte, 1500)); err == nil {
			t.Error("the removed port still gets advertisements")
		}
		tb.setPorts(t, all...)
	})
}

// TestSolicitation checks that a guest soliciting gets an answer at once:
// the unsolicited advertisements are an hour apart, after the first.
func TestSolicitation(t *testing.T) {
	tb := newTestbed(t, Config{MinInterval: time.Hour, MaxInterval: time.Hour, InitialAdvertisements: 1,
		MinDelayBetweenRAs: 100 * time.Millisecond})
	v := &vm{tap: agentapi.TapName("abababab-0000-4000-8000-000000000001"), mac: "fa:16:3e:00:01:01", mtu: 9000}
	tb.plug(t, v)
	tb.setPorts(t, port("abababab-0000-4000-8000-000000000001", v,
		subnet6("s", "2001:db8:10::/64", ModeSLAAC, "2001:db8::53")))
	waitDefaultRoute(t, v, 20*time.Second)
	sent := tb.srv.Stats().Sent

	// Taking the guest's link down removes what it learnt; bringing it
	// up makes it solicit.
	for i := range 2 {
		run(t, "ip", "-n", v.ns, "link", "set", "eth0", "down")
		if out := run(t, "ip", "-n", v.ns, "-6", "route", "show", "default"); out != "" {
			t.Fatalf("default route survived link down: %s", out)
		}
		solicited := tb.srv.Stats().Solicitations
		run(t, "ip", "-n", v.ns, "link", "set", "eth0", "up")
		waitDefaultRoute(t, v, 15*time.Second)
		st := tb.srv.Stats()
		if st.Solicitations <= solicited || st.Sent <= sent {
			t.Errorf("round %d: stats %+v, before: %d solicitations, %d sent", i, st, solicited, sent)
		}
		sent = st.Sent
	}
	if addrs := globalAddrs(t, v); len(addrs) != 1 || !strings.HasPrefix(addrs[0], v.slaacAddr(t, "2001:db8:10::/64")+"/64") {
		t.Errorf("addresses %q", addrs)
	}
}

// TestRecreatedTap checks that a listener follows its tap: a missing tap
// is skipped, served once it appears, and served again once re-created.
func TestRecreatedTap(t *testing.T) {
	tb := newTestbed(t, Config{InitialInterval: 300 * time.Millisecond, MinDelayBetweenRAs: 100 * time.Millisecond})
	v := &vm{tap: agentapi.TapName("cdcdcdcd-0000-4000-8000-000000000001"), mac: "fa:16:3e:00:02:01", mtu: 1500}
	p := port("cdcdcdcd-0000-4000-8000-000000000001", v, subnet6("s", "2001:db8:20::/64", ModeStateful))
	var (
		ready map[string]bool
		err   error
	)
	inNetns(t, tb.hv, func() { ready, err = tb.srv.Apply(&agentapi.State{Ports: []agentapi.Port{p}}) })
	if err != nil || ready[p.ID] {
		t.Fatalf("ready %v, err %v before the tap exists", ready, err)
	}
	tb.plug(t, v)
	tb.setPorts(t, p)
	waitDefaultRoute(t, v, 20*time.Second)
	before := tb.listener(v.tap)

	run(t, "ip", "-n", tb.hv, "link", "del", v.tap)
	tb.plug(t, v)
	tb.setPorts(t, p)
	after := tb.listener(v.tap)
	if after == nil || after == before || after.ifindex == before.ifindex {
		t.Fatal("listener not restarted on the re-created tap")
	}
	waitDefaultRoute(t, v, 20*time.Second)
}

// TestSetPortsNoTaps checks reconciliation without a namespace.
func TestSetPortsNoTaps(t *testing.T) {
	srv := New(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p := agentapi.Port{ID: "p", Tap: "tapdoesnotexi", Subnets: []agentapi.Subnet{subnet6("s", "2001:db8::/64", ModeSLAAC)}}
	none := agentapi.Port{ID: "v4-only", Tap: "tapv4only0000"}
	bad := agentapi.Port{ID: "bad", Tap: "tapbad0000000", Subnets: []agentapi.Subnet{subnet6("s", "2001:db8::/64", "bogus")}}
	ready, err := srv.Apply(&agentapi.State{Ports: []agentapi.Port{p, none, bad}})
	if err == nil || !strings.Contains(err.Error(), "port bad") {
		t.Errorf("error %v, want one about port bad", err)
	}
	if len(ready) != 1 || !ready["v4-only"] {
		t.Errorf("ready %v", ready)
	}
	srv.Close()
	if err := srv.SetPorts(nil); err == nil {
		t.Error("SetPorts after Close succeeded")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
