package nat

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/spinel-net/spinel/internal/agentapi"
)

func TestBuildDesired(t *testing.T) {
	a := netip.MustParseAddr
	plans := []agentapi.NATPlan{
		{ID: "p3", FloatingIP: "198.51.100.11", FixedIP: "10.0.0.99"},        // FIP taken by p1: left out
		{ID: "p1", FloatingIP: "198.51.100.11", FixedIP: "10.0.0.11"},        // realised
		{ID: "p2", FloatingIP: "198.51.100.12", FixedIP: "10.0.0.11"},        // second FIP of the same fixed IP: DNAT only
		{ID: "p4", FloatingIP: "2001:db8::1", FixedIP: "fd00::1"},            // IPv6: left out
		{ID: "p5", FloatingIP: "bogus", FixedIP: "10.0.0.5"},                 // unparsable: left out
		{ID: "p6", FloatingIP: "10.0.0.11", FixedIP: "10.0.0.12"},            // FIP is a fixed IP: left out
		{ID: "p7", FloatingIP: "::ffff:198.51.100.13", FixedIP: "10.0.0.13"}, // mapped v4: realised
		{ID: "p8", FloatingIP: "198.51.100.14", FixedIP: "198.51.100.14"},    // same address: left out
		{ID: "", FloatingIP: "198.51.100.15", FixedIP: "10.0.0.15"},          // no id: left out
	}
	d := buildDesired(plans, slog.New(slog.DiscardHandler))
	if want := []string{"p1", "p2", "p7"}; !slices.Equal(d.realized, want) {
		t.Errorf("realized %v, want %v", d.realized, want)
	}
	wantDNAT := map[netip.Addr]netip.Addr{
		a("198.51.100.11"): a("10.0.0.11"),
		a("198.51.100.12"): a("10.0.0.11"),
		a("198.51.100.13"): a("10.0.0.13"),
	}
	wantSNAT := map[netip.Addr]netip.Addr{
		a("10.0.0.11"): a("198.51.100.11"),
		a("10.0.0.13"): a("198.51.100.13"),
	}
	if !mapsEqual(d.dnat, wantDNAT) {
		t.Errorf("dnat %v, want %v", d.dnat, wantDNAT)
	}
	if !mapsEqual(d.snat, wantSNAT) {
		t.Errorf("snat %v, want %v", d.snat, wantSNAT)
	}
	// The outcome does not depend on the order of the plans.
	slices.Reverse(plans)
	d2 := buildDesired(plans, slog.New(slog.DiscardHandler))
	if !slices.Equal(d.realized, d2.realized) || !mapsEqual(d.dnat, d2.dnat) || !mapsEqual(d.snat, d2.snat) {
		t.Errorf("order matters: %+v vs %+v", d, d2)
	}
}

func mapsEqual(a, b map[netip.Addr]netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestConsistentHash(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"spinel-nat:abc:0"}, "abc"},
		{[]string{"spinel-nat:abc:0", "spinel-nat:abc:1"}, "abc"},
		{[]string{"spinel-nat:abc:0", "spinel-nat:abd:1"}, ""},
		{[]string{"spinel-nat:abc:1"}, ""},
		{[]string{"spinel-nat:abc:0", ""}, ""},
		{[]string{"other:abc:0"}, ""},
	} {
		if got := consistentHash(c.in); got != c.want {
			t.Errorf("consistentHash(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestChainHashes(t *testing.T) {
	p := netip.MustParsePrefix
	a := buildChains([]netip.Prefix{p("10.0.0.0/8")})
	b := buildChains([]netip.Prefix{p("10.0.0.0/8"), p("172.16.0.0/12")})
	if a[0].hash != b[0].hash || a[1].hash != b[1].hash {
		t.Error("the DNAT chains' hashes depend on the cloud prefixes")
	}
	if a[2].hash == b[2].hash {
		t.Error("the postrouting chain's hash does not depend on the cloud prefixes")
	}
	if a[0].name != ChainPre || a[1].name != ChainOutput || a[2].name != ChainPost || len(b[2].rules) != 3 {
		t.Errorf("unexpected chains %+v", b)
	}
}

func TestHostPlans(t *testing.T) {
	st := &agentapi.State{
		Ports: []agentapi.Port{{ID: "port1", FixedIPs: []agentapi.FixedIP{{IPAddress: "10.0.0.11"}}}},
		NATPlans: []agentapi.NATPlan{
			{ID: "a", FloatingIP: "198.51.100.11", FixedIP: "10.0.0.11", PortID: "port1"},
			{ID: "b", FloatingIP: "198.51.100.12", FixedIP: "10.0.0.12", PortID: "port2"}, // not on this host
			{ID: "c", FloatingIP: "198.51.100.13", FixedIP: "10.0.0.13", PortID: "port1"}, // not the port's IP
		},
	}
	got := HostPlans(st)
	if len(got) != 1 || got[0].ID != "a" {
		t.Errorf("HostPlans = %+v", got)
	}
}
