package firewall

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/spinel-net/spinel/internal/agentapi"
)

func ptr[T any](v T) *T { return &v }

func anyRule(id, dir, ethertype string) agentapi.Rule {
	return agentapi.Rule{ID: id, Direction: dir, Ethertype: ethertype}
}

// openGroup lets everything in and out.
func openGroup(id string, members ...string) agentapi.SecurityGroup {
	return agentapi.SecurityGroup{ID: id, Stateful: true, Members: members, Rules: []agentapi.Rule{
		anyRule(id+"-e4", "egress", "IPv4"), anyRule(id+"-e6", "egress", "IPv6"),
		anyRule(id+"-i4", "ingress", "IPv4"), anyRule(id+"-i6", "ingress", "IPv6"),
	}}
}

// egressGroup lets everything out and nothing in.
func egressGroup(id string, members ...string) agentapi.SecurityGroup {
	return agentapi.SecurityGroup{ID: id, Stateful: true, Members: members, Rules: []agentapi.Rule{
		anyRule(id+"-e4", "egress", "IPv4"), anyRule(id+"-e6", "egress", "IPv6"),
	}}
}

func mustApply(t testing.TB, f *Firewall, ports []agentapi.Port, groups []agentapi.SecurityGroup) ApplyStats {
	t.Helper()
	if err := f.Apply(ports, groups); err != nil {
		t.Fatal(err)
	}
	return f.LastApply()
}

func TestAntiSpoofingIP(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v3 := l.addVM("vm3", "10.0.0.13", "02:00:00:00:00:13")
	f := l.firewall()
	groups := []agentapi.SecurityGroup{openGroup("open")}
	p1 := v1.port("open")
	mustApply(t, f, []agentapi.Port{p1, v3.port("open")}, groups)
	defer func() {
		if t.Failed() {
			l.dumpRuleset()
		}
	}()

	if !l.udpProbe(v1, "10.0.0.11", 4000, v3, "10.0.0.13", 9000, passWait) {
		t.Fatal("the VM's own address did not get through")
	}
	run(t, "ip", "-n", v1.ns, "addr", "add", "10.0.0.12/32", "dev", "eth0")
	if l.udpProbe(v1, "10.0.0.12", 4000, v3, "10.0.0.13", 9000, dropWait) {
		t.Error("a spoofed source address got through")
	}
	if l.udpProbe(v1, "10.0.0.11", 67, v3, "10.0.0.13", 9000, dropWait) {
		t.Error("a DHCP server packet (udp sport 67) from a guest got through")
	}
	if l.udpProbe(v1, "10.0.0.11", 4001, v3, "10.0.0.13", 68, dropWait) {
		t.Error("a packet to a DHCP client (udp dport 68) from a guest got through")
	}

	// An allowed address pair (a prefix) makes its addresses usable.
	run(t, "ip", "-n", v1.ns, "addr", "add", "10.0.5.7/32", "dev", "eth0")
	if l.udpProbe(v1, "10.0.5.7", 4000, v3, "10.0.0.13", 9000, dropWait) {
		t.Error("an address outside the port's got through")
	}
	p1.AllowedAddressPairs = []agentapi.AddressPair{{IPAddress: "10.0.5.0/24"}}
	mustApply(t, f, []agentapi.Port{p1, v3.port("open")}, groups)
	if !l.udpProbe(v1, "10.0.5.7", 4000, v3, "10.0.0.13", 9000, passWait) {
		t.Error("an allowed address pair's address did not get through")
	}

	// Another source MAC is refused.
	run(t, "ip", "-n", v1.ns, "link", "set", "eth0", "address", "02:00:00:00:00:99")
	if l.udpProbe(v1, "10.0.0.11", 4000, v3, "10.0.0.13", 9000, dropWait) {
		t.Error("a spoofed source MAC got through")
	}
	run(t, "ip", "-n", v1.ns, "link", "set", "eth0", "address", v1.mac)
	if !l.udpProbe(v1, "10.0.0.11", 4000, v3, "10.0.0.13", 9000, passWait) {
		t.Error("traffic did not resume with the port's MAC")
	}

	// Port security off: the source checks are lifted.
	p1.PortSecurityEnabled = false
	mustApply(t, f, []agentapi.Port{p1, v3.port("open")}, groups)
	if !l.udpProbe(v1, "10.0.0.12", 4000, v3, "10.0.0.13", 9000, passWait) {
		t.Error("with port security off, another source address was still refused")
	}
}

func TestAntiSpoofingARP(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	groups := []agentapi.SecurityGroup{openGroup("open")}
	p1 := v1.port("open")
	mustApply(t, f, []agentapi.Port{p1, v2.port("open")}, groups)

	if !l.arpProbe(v1, v1.mac, "10.0.0.11", "10.0.0.1", passWait) {
		t.Fatal("the gateway did not answer the VM's own ARP request")
	}
	if l.arpProbe(v1, v1.mac, "10.0.0.12", "10.0.0.1", dropWait) {
		t.Error("an ARP request with another VM's sender IP was answered")
	}
	if n := l.neighbour("10.0.0.12", v1.tap); n != "" {
		t.Errorf("the host learnt a spoofed neighbour: %s", n)
	}
	if l.arpProbe(v1, "02:00:00:00:00:99", "10.0.0.11", "10.0.0.1", dropWait) {
		t.Error("an ARP request with another sender MAC was answered")
	}
	// An ARP probe (sender 0.0.0.0: duplicate address detection) passes;
	// the host answers it for an address of its own.
	if !l.arpProbe(v1, v1.mac, "0.0.0.0", "10.0.0.1", passWait) {
		t.Error("an ARP probe (sender 0.0.0.0) was refused")
	}

	p1.PortSecurityEnabled = false
	mustApply(t, f, []agentapi.Port{p1, v2.port("open")}, groups)
	if !l.arpProbe(v1, v1.mac, "10.0.0.12", "10.0.0.1", passWait) {
		t.Error("with port security off, ARP with another sender IP was still refused")
	}
}

func TestSecurityGroupICMPRule(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	client := egressGroup("client")
	server := egressGroup("server")
	ports := []agentapi.Port{v1.port("client"), v2.port("server")}
	mustApply(t, f, ports, []agentapi.SecurityGroup{client, server})

	if l.pinger(v1).ping("10.0.0.12", 1, dropWait) {
		t.Fatal("ping got through with no ingress rule")
	}
	withICMP := server
	withICMP.Rules = append(slices.Clone(server.Rules), agentapi.Rule{ID: "icmp", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("icmp")})
	st := mustApply(t, f, ports, []agentapi.SecurityGroup{client, withICMP})
	t.Logf("adding the rule: %d messages: %v", st.Messages, st.Ops)
	if st.Revoked != 0 {
		t.Errorf("adding a rule revoked %d addresses' flows", st.Revoked)
	}
	p := l.pinger(v1)
	if !p.pingOK("10.0.0.12") {
		t.Fatal("ping failed with an ingress icmp rule")
	}
	st = mustApply(t, f, ports, []agentapi.SecurityGroup{client, server})
	if st.Revoked != 1 {
		t.Errorf("removing the rule revoked %d addresses' flows, want 1 (vm2's)", st.Revoked)
	}
	if l.pinger(v1).ping("10.0.0.12", 1, dropWait) {
		t.Error("ping still got through after the icmp rule was removed")
	}
	// The same echo id: its conntrack entry was established while the rule
	// existed, and must not outlive it.
	if p.ping("10.0.0.12", 2000, dropWait) {
		t.Error("the flow admitted by the removed rule still gets through (stale conntrack entry)")
	}
}

func TestSecurityGroupTCPPort(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	server := egressGroup("server")
	server.Rules = append(server.Rules, agentapi.Rule{ID: "iperf", Direction: "ingress", Ethertype: "IPv4",
		Protocol: ptr("tcp"), PortRangeMin: ptr(5201), PortRangeMax: ptr(5201)})
	mustApply(t, f, []agentapi.Port{v1.port("client"), v2.port("server")},
		[]agentapi.SecurityGroup{egressGroup("client"), server})
	l.listenTCP(v2.h, "10.0.0.12:5201")
	l.listenTCP(v2.h, "10.0.0.12:5202")

	if !l.tcpConnect(v1, "10.0.0.12:5201", passWait) {
		t.Error("tcp/5201 refused despite the rule")
	}
	if l.tcpConnect(v1, "10.0.0.12:5202", dropWait) {
		t.Error("tcp/5202 got through without a rule")
	}
	if l.pinger(v1).ping("10.0.0.12", 1, dropWait) {
		t.Error("icmp got through without a rule")
	}
	// The other way round: the server's egress is open, but the client's
	// group has no ingress rule.
	l.listenTCP(v1.h, "10.0.0.11:5201")
	if l.tcpConnect(v2, "10.0.0.11:5201", dropWait) {
		t.Error("a connection to a VM whose groups allow no ingress got through")
	}
}

func TestSecurityGroupRemoteGroup(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	v3 := l.addVM("vm3", "10.0.0.13", "02:00:00:00:00:13")
	f := l.firewall()
	db := egressGroup("db", "10.0.0.12")
	db.Rules = append(db.Rules, agentapi.Rule{ID: "pg", Direction: "ingress", Ethertype: "IPv4",
		Protocol: ptr("tcp"), PortRangeMin: ptr(5432), PortRangeMax: ptr(5432), RemoteGroupID: ptr("web")})
	web := egressGroup("web", "10.0.0.11")
	other := egressGroup("other", "10.0.0.13")
	ports := []agentapi.Port{v1.port("web"), v2.port("db"), v3.port("other")}
	mustApply(t, f, ports, []agentapi.SecurityGroup{db, web, other})
	l.listenTCP(v2.h, "10.0.0.12:5432")

	if !l.tcpConnect(v1, "10.0.0.12:5432", passWait) {
		t.Fatal("a member of the remote group was refused")
	}
	if l.tcpConnect(v3, "10.0.0.12:5432", dropWait) {
		t.Fatal("a non-member of the remote group got through")
	}

	// vm3 joins web: its address is added to the member set in place.
	web.Members = []string{"10.0.0.11", "10.0.0.13"}
	st := mustApply(t, f, ports, []agentapi.SecurityGroup{db, web, other})
	t.Logf("member added: %d messages: %v", st.Messages, st.Ops)
	if st.Messages != 1 || len(st.Ops) != 1 || !strings.Contains(st.Ops[0], "add 1 ranges to set sg4-web") {
		t.Errorf("a new member took %d messages (%v), want one element addition", st.Messages, st.Ops)
	}
	if !l.tcpConnect(v3, "10.0.0.12:5432", passWait) {
		t.Error("a new member of the remote group was refused")
	}

	web.Members = []string{"10.0.0.11"}
	st = mustApply(t, f, ports, []agentapi.SecurityGroup{db, web, other})
	if st.Messages != 1 || !strings.Contains(st.Ops[0], "delete 1 ranges from set sg4-web") {
		t.Errorf("a removed member took %d messages (%v), want one element deletion", st.Messages, st.Ops)
	}
	if l.tcpConnect(v3, "10.0.0.12:5432", dropWait) {
		t.Error("a former member of the remote group got through")
	}
}

func TestPortSecurityDisabled(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	p2 := v2.port()
	p2.PortSecurityEnabled = false
	mustApply(t, f, []agentapi.Port{v1.port("open"), p2}, []agentapi.SecurityGroup{openGroup("open")})
	l.listenTCP(v2.h, "10.0.0.12:6000")
	if !l.tcpConnect(v1, "10.0.0.12:6000", passWait) {
		t.Error("tcp to a port without port security was refused")
	}
	if !l.pinger(v1).pingOK("10.0.0.12") {
		t.Error("ping to a port without port security failed")
	}
	run(t, "ip", "-n", v2.ns, "addr", "add", "10.0.9.9/32", "dev", "eth0")
	if !l.udpProbe(v2, "10.0.9.9", 4000, v1, "10.0.0.11", 9000, passWait) {
		t.Error("a port without port security could not use another source address")
	}
	if !l.arpProbe(v2, "02:00:00:00:00:77", "10.0.0.77", "10.0.0.1", passWait) {
		t.Error("a port without port security could not send ARP for another address")
	}
}

func TestHostGuard(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v4 := l.addVM("vm4", "10.0.0.14", "02:00:00:00:00:14") // no port: an unknown tap
	f := l.firewall()
	mustApply(t, f, []agentapi.Port{v1.port("open")}, []agentapi.SecurityGroup{openGroup("open")})
	run(t, "ip", "-n", l.hv, "addr", "add", "169.254.169.254/32", "dev", "lo")
	l.listenTCP(l.hvNS, "169.254.169.254:80")
	l.listenTCP(l.hvNS, "10.0.0.1:2222")
	l.listenTCP(l.hvNS, "10.0.0.1:80")

	if !l.pinger(v1).pingOK("10.0.0.1") {
		t.Error("the VM cannot ping its gateway")
	}
	if !l.tcpConnect(v1, "169.254.169.254:80", passWait) {
		t.Error("the VM cannot reach the metadata service")
	}
	if l.tcpConnect(v1, "10.0.0.1:2222", dropWait) {
		t.Error("the VM reached another service of the host")
	}
	if l.tcpConnect(v1, "10.0.0.1:80", dropWait) {
		t.Error("the VM reached the host's port 80 at an address other than the metadata one")
	}
	if l.pinger(v4).ping("10.0.0.1", 1, dropWait) {
		t.Error("a tap no port claims reached the host")
	}
	if l.pinger(v4).ping("10.0.0.11", 1, dropWait) {
		t.Error("a tap no port claims reached a VM")
	}
}

func TestIPv6(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	// Routed IPv6: a /128 per VM, the host's tap link-local (from the fixed
	// host MAC) as the gateway, found by neighbour discovery through the
	// anti-spoofing chain.
	hostLL := eui64LinkLocal(mustMAC(agentapi.HostMAC)).String()
	for _, v := range []*vm{v1, v2} {
		ip6 := "fd00::" + v.ip.String()[len("10.0.0."):]
		run(t, "ip", "-n", v.ns, "-6", "addr", "add", ip6+"/128", "dev", "eth0", "nodad")
		run(t, "ip", "-n", v.ns, "-6", "route", "add", "default", "via", hostLL, "dev", "eth0")
		run(t, "ip", "-n", l.hv, "-6", "route", "add", ip6+"/128", "dev", v.tap)
	}
	f := l.firewall()
	server := egressGroup("server")
	server.Rules = append(server.Rules, agentapi.Rule{ID: "icmp6", Direction: "ingress", Ethertype: "IPv6", Protocol: ptr("icmp")},
		agentapi.Rule{ID: "udp6", Direction: "ingress", Ethertype: "IPv6", Protocol: ptr("udp"), PortRangeMin: ptr(9000), PortRangeMax: ptr(9000)})
	p1, p2 := v1.port("client"), v2.port("server")
	p1.FixedIPs = append(p1.FixedIPs, agentapi.FixedIP{IPAddress: "fd00::11"})
	p2.FixedIPs = append(p2.FixedIPs, agentapi.FixedIP{IPAddress: "fd00::12"})
	mustApply(t, f, []agentapi.Port{p1, p2}, []agentapi.SecurityGroup{egressGroup("client"), server})

	// The host's link-local may still be tentative: allow some time.
	ok := false
	p := l.pingerOf(v1, true)
	for i := range 20 {
		if p.ping("fd00::12", uint16(i), 250*time.Millisecond) {
			ok = true
			break
		}
	}
	if !ok {
		l.dumpRuleset()
		t.Fatal("ping6 between VMs failed (neighbour discovery or the icmpv6 rule)")
	}
	if !l.udpProbe(v1, "fd00::11", 4000, v2, "fd00::12", 9000, passWait) {
		t.Error("udp6 from the VM's own address was refused")
	}
	run(t, "ip", "-n", v1.ns, "-6", "addr", "add", "fd00::99/128", "dev", "eth0", "nodad")
	if l.udpProbe(v1, "fd00::99", 4000, v2, "fd00::12", 9000, dropWait) {
		t.Error("a spoofed IPv6 source got through")
	}
}

func mustMAC(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestSecondApplyIsEmpty(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	web := egressGroup("web", "10.0.0.11", "10.0.0.12")
	web.Rules = append(web.Rules,
		agentapi.Rule{ID: "a", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(80), PortRangeMax: ptr(80)},
		agentapi.Rule{ID: "b", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("udp"), RemoteGroupID: ptr("web")})
	ports := []agentapi.Port{v1.port("web"), v2.port("web", "open")}
	groups := []agentapi.SecurityGroup{web, openGroup("open")}
	first := mustApply(t, f, ports, groups)
	if first.Messages == 0 || !first.Resynced {
		t.Fatalf("first Apply: %+v", first)
	}
	second := mustApply(t, f, ports, groups)
	if second.Messages != 0 {
		t.Errorf("second Apply with the same input sent %d messages: %v", second.Messages, second.Ops)
	}
	// The same input in another order is the same state.
	slices.Reverse(ports)
	slices.Reverse(groups)
	slices.Reverse(groups[1].Rules)
	groups[1].Members = []string{"10.0.0.12", "10.0.0.11"}
	ports[0].SecurityGroups = []string{"open", "web"}
	third := mustApply(t, f, ports, groups)
	if third.Messages != 0 {
		t.Errorf("reordered input sent %d messages: %v", third.Messages, third.Ops)
	}
}

// TestRestart re-creates the Firewall on an existing table, as a restarted
// agent does, under traffic.
func TestRestart(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	v3 := l.addVM("vm3", "10.0.0.13", "02:00:00:00:00:13")
	server := egressGroup("server", "10.0.0.12")
	server.Rules = append(server.Rules,
		agentapi.Rule{ID: "icmp", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("icmp")},
		agentapi.Rule{ID: "tcp", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(5201), PortRangeMax: ptr(5201), RemoteGroupID: ptr("client")})
	client := egressGroup("client", "10.0.0.11", "10.0.0.13")
	portsA := []agentapi.Port{v1.port("client"), v2.port("server"), v3.port("client")}
	groupsA := []agentapi.SecurityGroup{server, client}

	f1 := l.firewall()
	mustApply(t, f1, portsA, groupsA)

	// Something of someone else's, in spinel's table and beside it.
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		other := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "other"})
		c.AddChain(&nftables.Chain{Name: "keepme", Table: other})
		c.AddChain(&nftables.Chain{Name: "foreign", Table: tableObj(inet)})
		return c.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}

	fl := l.startFlow(v1, "10.0.0.12", time.Millisecond)
	defer fl.stop()

	// Restart with the same desired state: nothing to send.
	f1.Close()
	f2 := l.firewall()
	st := mustApply(t, f2, portsA, groupsA)
	if !st.Resynced || st.Messages != 0 {
		t.Errorf("restart with unchanged state: resynced=%v, %d messages: %v", st.Resynced, st.Messages, st.Ops)
	}

	// Restart with a changed state: vm3 gone, the server's tcp rule
	// dropped, the client group's members changed.
	server2 := server
	server2.Rules = server.Rules[:len(server.Rules)-1]
	client2 := client
	client2.Members = []string{"10.0.0.11"}
	portsB := []agentapi.Port{v1.port("client"), v2.port("server")}
	groupsB := []agentapi.SecurityGroup{server2, client2}
	f2.Close()
	f3 := l.firewall()
	st = mustApply(t, f3, portsB, groupsB)
	t.Logf("restart with changes: %d messages: %v", st.Messages, st.Ops)
	if st.Messages == 0 || st.Messages > 40 {
		t.Errorf("restart with changes sent %d messages, want a small difference", st.Messages)
	}

	// A third start finds the kernel converged.
	f3.Close()
	f4 := l.firewall()
	st = mustApply(t, f4, portsB, groupsB)
	if st.Messages != 0 {
		t.Errorf("kernel not converged after the restart: a fresh start sent %d messages: %v", st.Messages, st.Ops)
	}

	// More restarts, alternating the two states, while the flow runs; it
	// must never lose a packet.
	for i := range 20 {
		f4.Close()
		f4 = l.firewall()
		if i%2 == 0 {
			mustApply(t, f4, portsA, groupsA)
		} else {
			mustApply(t, f4, portsB, groupsB)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mustApply(t, f4, portsB, groupsB)
	sent, lost := fl.stop()
	t.Logf("flow across restarts: %d sent, %d lost", sent, lost)
	if sent < 50 || lost != 0 {
		t.Errorf("flow across restarts: %d sent, %d lost", sent, lost)
	}

	chains := l.chains()
	for _, want := range []string{"inet/in-tapvm1", "inet/in-tapvm2", "inet/foreign", "inet/sgi-server"} {
		if !chains[want] {
			t.Errorf("chain %s missing after the restart", want)
		}
	}
	for _, gone := range []string{"inet/in-tapvm3", "inet/eg-tapvm3", "inet/as-tapvm3", "arp/as-tapvm3"} {
		if chains[gone] {
			t.Errorf("stale chain %s left after the restart", gone)
		}
	}
	if !l.otherTableChain("keepme") {
		t.Error("another table's chain was touched")
	}
	if l.tcpConnect(v3, "10.0.0.12:5201", dropWait) {
		t.Error("the removed port's tap still reaches the server")
	}

	// A rule changed by hand is put right after a resync, and only its chain.
	err = inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: tableObj(inet), Chain: chainObj(objKey{inet, "in-tapvm2"}, nil),
			Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
		return c.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	f4.Resync()
	st = mustApply(t, f4, portsB, groupsB)
	if len(st.Ops) != 2 || st.Ops[0] != "flush chain inet/in-tapvm2" {
		t.Errorf("repairing a chain changed by hand: %v", st.Ops)
	}
}

// chains lists the chains of spinel's tables in the hypervisor.
func (l *lab) chains() map[string]bool {
	out := map[string]bool{}
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		for _, fam := range []nftables.TableFamily{inet, arp} {
			cs, err := c.ListChainsOfTableFamily(fam)
			if err != nil {
				return err
			}
			for _, ch := range cs {
				if ch.Table.Name == TableName {
					out[objKey{fam, ch.Name}.String()] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *lab) otherTableChain(name string) bool {
	found := false
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		ch, err := c.ListChain(&nftables.Table{Family: nftables.TableFamilyINet, Name: "other"}, name)
		found = err == nil && ch != nil
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return found
}

// TestMemberSetUpdates walks a remote group's members through merges,
// splits and whole-space prefixes, checking the kernel's set after each
// in-place update.
func TestMemberSetUpdates(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	f := l.firewall()
	g := egressGroup("g")
	g.Rules = append(g.Rules,
		agentapi.Rule{ID: "r4", Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: ptr("peers")},
		agentapi.Rule{ID: "r6", Direction: "ingress", Ethertype: "IPv6", RemoteGroupID: ptr("peers")})
	steps := [][]string{
		{"10.0.0.11"},
		{"10.0.0.11", "10.0.0.12"},                // merges into one range
		{"10.0.0.11", "10.0.0.13", "2001:db8::1"}, // splits
		{"0.0.0.0/0", "::/0"},                     // whole spaces: open-ended ranges
		{"255.0.0.0/8", "10.0.0.0/8", "10.1.2.3", "ffff::/16", "2001:db8::/32"},
		{"10.0.0.0/9", "10.128.0.0/9"}, // adjacent: merged
		{},
		{"192.0.2.0/24", "fd00::1"},
	}
	for i, members := range steps {
		peers := agentapi.SecurityGroup{ID: "peers", Members: members}
		st := mustApply(t, f, []agentapi.Port{v1.port("g")}, []agentapi.SecurityGroup{g, peers})
		if i > 0 && st.Messages > 4 {
			t.Errorf("step %d: %d messages for a member change: %v", i, st.Messages, st.Ops)
		}
		for _, v6 := range []bool{false, true} {
			name := prefixSet4 + "peers"
			if v6 {
				name = prefixSet6 + "peers"
			}
			got := l.setRanges(name)
			want := memberSet(&setRef{name: name, group: "peers", v6: v6}, &peers, slogDiscard()).ranges
			if !equalRanges(got, want) {
				t.Errorf("step %d (%v): set %s holds %v, want %v", i, members, name, got, want)
			}
		}
		// And a fresh reader agrees: nothing to do.
		fr := l.firewall()
		if st := mustApply(t, fr, []agentapi.Port{v1.port("g")}, []agentapi.SecurityGroup{g, peers}); st.Messages != 0 {
			t.Errorf("step %d: a fresh Firewall found differences: %v", i, st.Ops)
		}
		fr.Close()
	}
}

func (l *lab) setRanges(name string) []ipRange {
	var rs []ipRange
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		els, err := c.GetSetElements(&nftables.Set{Table: tableObj(inet), Name: name})
		if err != nil {
			return err
		}
		rs, err = rangesFromElements(els)
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return rs
}

// TestApplyRecovers: when the kernel no longer holds what the Firewall
// last applied, the transaction fails as a whole, and the next Apply reads
// the kernel back and repairs it.
func TestApplyRecovers(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1 := l.addVM("vm1", "10.0.0.11", "02:00:00:00:00:11")
	v2 := l.addVM("vm2", "10.0.0.12", "02:00:00:00:00:12")
	f := l.firewall()
	ports := []agentapi.Port{v1.port("open"), v2.port("open")}
	mustApply(t, f, ports, []agentapi.SecurityGroup{openGroup("open")})

	// Someone removes vm2's ingress chain behind the Firewall's back.
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		m := &nftables.Set{Table: tableObj(inet), Name: mapIngress, IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict}
		if err := c.SetDeleteElements(m, []nftables.SetElement{{Key: ifname(v2.tap), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: "in-" + v2.tap}}}); err != nil {
			return err
		}
		ch := chainObj(objKey{inet, "in-" + v2.tap}, nil)
		c.FlushChain(ch)
		c.DelChain(ch)
		return c.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	// A change that touches that chain (vm2 joins another group) fails,
	// and changes nothing.
	ports = []agentapi.Port{v1.port("open"), v2.port("open", "extra")}
	groups := []agentapi.SecurityGroup{openGroup("open"), egressGroup("extra")}
	before := l.chains()
	if err := f.Apply(ports, groups); err == nil {
		t.Fatal("Apply on a chain that vanished succeeded")
	} else {
		t.Logf("expected failure: %v", err)
	}
	if after := l.chains(); len(after) != len(before) {
		t.Errorf("a failed transaction left changes: %d chains before, %d after", len(before), len(after))
	}
	// The next Apply reads back and repairs.
	st := mustApply(t, f, ports, groups)
	if !st.Resynced {
		t.Error("Apply after a failure did not read the kernel back")
	}
	if !l.chains()["inet/in-"+v2.tap] {
		t.Error("the vanished chain was not recreated")
	}
	fr := l.firewall()
	if st := mustApply(t, fr, ports, groups); st.Messages != 0 {
		t.Errorf("not converged after the repair: %v", st.Ops)
	}
}

// TestScale programs 1200 ports (maps and sets larger than one netlink
// attribute can carry) and checks that a restarted Firewall finds the
// kernel exactly as wanted.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	l := newLab(t)
	f := l.firewall()
	ports, groups := scaleInput(1200, 40)
	for i := range 1500 { // a remote group with a large member set
		groups[0].Members = append(groups[0].Members, fmt.Sprintf("100.%d.%d.1", i/256, i%256))
	}
	st := mustApply(t, f, ports, groups)
	t.Logf("1200 ports, 40 groups: first Apply %d messages in %v (transaction %v)", st.Messages, st.Took, st.Sent)
	f2 := l.firewall()
	st = mustApply(t, f2, ports, groups)
	t.Logf("restart: %v", st.Took)
	if st.Messages != 0 {
		n := min(len(st.Ops), 10)
		t.Errorf("after a restart the kernel differs: %d messages: %v", st.Messages, st.Ops[:n])
	}
	ports = ports[:len(ports)-1]
	st = mustApply(t, f2, ports, groups)
	t.Logf("removing a port: %d messages in %v", st.Messages, st.Took)
}
