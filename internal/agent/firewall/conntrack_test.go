package firewall

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// TestRevokedAddrs: only changes that take permission away name ports
// whose flows must be forgotten.
func TestRevokedAddrs(t *testing.T) {
	web := "web"
	port := func(name, ip string, groups ...string) agentapi.Port {
		return agentapi.Port{ID: name, Tap: "tap" + name, MAC: "02:00:00:00:00:01", AdminStateUp: true, PortSecurityEnabled: true,
			FixedIPs: []agentapi.FixedIP{{SubnetID: "s", IPAddress: ip}}, SecurityGroups: groups}
	}
	group := func(members ...string) agentapi.SecurityGroup {
		g := egressGroup("web", members...)
		g.Rules = append(g.Rules, agentapi.Rule{ID: "from-web", Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: &web})
		return g
	}
	other := egressGroup("other")
	ports := []agentapi.Port{port("a", "10.0.0.1", "web"), port("b", "10.0.0.2", "other")}
	build := func(groups ...agentapi.SecurityGroup) *state {
		s, _ := buildDesired(ports, groups, slog.New(slog.DiscardHandler), nil)
		return s
	}
	two := build(group("10.0.0.1", "10.0.0.3"), other)
	three := build(group("10.0.0.1", "10.0.0.3", "10.0.0.4"), other)
	withICMP := other
	withICMP.Rules = append(slices.Clone(other.Rules), agentapi.Rule{ID: "icmp", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("icmp")})
	icmp := build(group("10.0.0.1", "10.0.0.3"), withICMP)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name      string
		cur, want *state
		revoked   []netip.Addr
	}{
		{"no change", two, two, nil},
		{"a member joins the remote group", two, three, nil},
		{"a member leaves the remote group", three, two, []netip.Addr{a}},
		{"a rule is added", two, icmp, nil},
		{"a rule is removed", icmp, two, []netip.Addr{b}},
		{"first apply", nil, two, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := revokedAddrs(tc.cur, tc.want, ports, []agentapi.SecurityGroup{group(), other})
			if !slices.Equal(got, tc.revoked) {
				t.Errorf("revoked %v, want %v", got, tc.revoked)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	r := func(a, b string) ipRange { return ipRange{start: netip.MustParseAddr(a), end: netip.MustParseAddr(b)} }
	if !covers(r("10.0.0.0", "10.0.0.9"), r("10.0.0.2", "10.0.0.3")) || covers(r("10.0.0.2", "10.0.0.3"), r("10.0.0.0", "10.0.0.9")) {
		t.Error("covers")
	}
	if !covers(ipRange{start: netip.MustParseAddr("10.0.0.0"), toMax: true}, r("10.0.0.5", "255.255.255.255")) {
		t.Error("covers toMax")
	}
}
