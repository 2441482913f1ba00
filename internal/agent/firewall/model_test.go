package firewall

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// These tests need no privileges.

func TestMergeRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"10.0.0.1"}, "10.0.0.1-10.0.0.2"},
		{[]string{"10.0.0.2", "10.0.0.1"}, "10.0.0.1-10.0.0.3"},
		{[]string{"10.0.0.1", "10.0.0.3"}, "10.0.0.1-10.0.0.2 10.0.0.3-10.0.0.4"},
		{[]string{"10.0.0.0/24", "10.0.0.7", "10.0.1.0/24"}, "10.0.0.0-10.0.2.0"},
		{[]string{"10.0.0.0/8", "10.1.0.0/16"}, "10.0.0.0-11.0.0.0"},
		{[]string{"0.0.0.0/0", "10.0.0.1"}, "0.0.0.0-max"},
		{[]string{"255.255.255.255"}, "255.255.255.255-max"},
		{[]string{"255.0.0.0/8", "1.2.3.4"}, "1.2.3.4-1.2.3.5 255.0.0.0-max"},
		{[]string{"2001:db8::/64", "2001:db8::1"}, "2001:db8::-2001:db8:0:1::"},
		{[]string{"::ffff:10.0.0.1"}, "10.0.0.1-10.0.0.2"},
	} {
		var ps []netip.Prefix
		for _, s := range tc.in {
			p, err := parsePrefix(s)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		rs := mergeRanges(ps)
		var got []string
		for _, r := range rs {
			got = append(got, r.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("mergeRanges(%v) = %v, want %s", tc.in, got, tc.want)
		}
		back, err := rangesFromElements(rangeElements(rs))
		if err != nil || !equalRanges(back, rs) {
			t.Errorf("%v: elements read back as %v (%v)", tc.in, back, err)
		}
	}
}

func TestRangesFromElementsLenient(t *testing.T) {
	// nft writes a leading "0.0.0.0 interval end" element.
	els := []nftables.SetElement{
		{Key: []byte{10, 0, 0, 5}, IntervalEnd: true},
		{Key: []byte{0, 0, 0, 0}, IntervalEnd: true},
		{Key: []byte{10, 0, 0, 1}},
	}
	rs, err := rangesFromElements(els)
	if err != nil || len(rs) != 1 || rs[0].String() != "10.0.0.1-10.0.0.5" {
		t.Errorf("got %v, %v", rs, err)
	}
}

func TestDiffRanges(t *testing.T) {
	r := func(a, b string) ipRange {
		return ipRange{start: netip.MustParseAddr(a), end: netip.MustParseAddr(b)}
	}
	old := []ipRange{r("10.0.0.1", "10.0.0.2"), r("10.0.0.5", "10.0.0.6")}
	new := []ipRange{r("10.0.0.1", "10.0.0.2"), r("10.0.0.7", "10.0.0.8")}
	del, add := diffRanges(old, new)
	if len(del) != 1 || del[0] != old[1] || len(add) != 1 || add[0] != new[1] {
		t.Errorf("del %v add %v", del, add)
	}
}

func TestGroupRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule agentapi.Rule
		want string // "" : never matches; "error" : refused
		set  string
	}{
		{"any v4 egress", agentapi.Rule{Direction: "egress", Ethertype: "IPv4"}, "meta nfproto ipv4 accept", ""},
		{"tcp port", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(5201), PortRangeMax: ptr(5201)},
			"meta nfproto ipv4 meta l4proto 6 th dport 5201 accept", ""},
		{"udp range from prefix", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("udp"), PortRangeMin: ptr(1000), PortRangeMax: ptr(2000), RemoteIPPrefix: ptr("192.0.2.0/24")},
			"meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto 17 th dport 1000-2000 accept", ""},
		{"egress to a host", agentapi.Rule{Direction: "egress", Ethertype: "IPv4", Protocol: ptr("6"), RemoteIPPrefix: ptr("198.51.100.7")},
			"meta nfproto ipv4 ip daddr 198.51.100.7 meta l4proto 6 accept", ""},
		{"all ports is no port match", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(1), PortRangeMax: ptr(65535)},
			"meta nfproto ipv4 meta l4proto 6 accept", ""},
		{"icmp type and code", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("icmp"), PortRangeMin: ptr(3), PortRangeMax: ptr(4)},
			"meta nfproto ipv4 meta l4proto 1 icmp-type 3 icmp-code 4 accept", ""},
		{"icmp on IPv6 is icmpv6", agentapi.Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: ptr("icmp"), PortRangeMin: ptr(128)},
			"meta nfproto ipv6 meta l4proto 58 icmp-type 128 accept", ""},
		{"remote group", agentapi.Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22), RemoteGroupID: ptr("g2")},
			"meta nfproto ipv6 ip6 saddr @sg6-g2 meta l4proto 6 th dport 22 accept", "sg6-g2"},
		{"remote prefix of the other family", agentapi.Rule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: ptr("10.0.0.0/8")}, "", ""},
		{"any protocol by name", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("any"), RemoteIPPrefix: ptr("0.0.0.0/0")}, "meta nfproto ipv4 accept", ""},
		{"unknown protocol", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("bogus")}, "error", ""},
		{"bad port range", agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(200), PortRangeMax: ptr(100)}, "error", ""},
		{"bad ethertype", agentapi.Rule{Direction: "ingress", Ethertype: "IPX"}, "error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ref, err := groupRule(tc.rule)
			switch {
			case tc.want == "error":
				if err == nil {
					t.Errorf("accepted: %v", r)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.want == "":
				if r != nil {
					t.Errorf("got %q, want a rule that never matches (none)", r)
				}
				return
			}
			if r.String() != tc.want {
				t.Errorf("got  %q\nwant %q", r, tc.want)
			}
			if got := ""; ref != nil {
				got = ref.name
				if got != tc.set {
					t.Errorf("set %q, want %q", got, tc.set)
				}
			} else if tc.set != "" {
				t.Errorf("no set, want %q", tc.set)
			}
		})
	}
}

func TestBuildDesired(t *testing.T) {
	ports := []agentapi.Port{
		{ID: "a", Tap: "tapa", MAC: "02:00:00:00:00:0a", PortSecurityEnabled: true,
			FixedIPs:            []agentapi.FixedIP{{IPAddress: "10.0.0.10"}, {IPAddress: "2001:db8::a"}},
			AllowedAddressPairs: []agentapi.AddressPair{{IPAddress: "10.9.0.0/16", MACAddress: "02:00:00:00:00:ff"}},
			SecurityGroups:      []string{"web", "web", "missing"}},
		{ID: "b", Tap: "tapb", MAC: "02:00:00:00:00:0b", PortSecurityEnabled: false},
		{ID: "c", Tap: "", MAC: "02:00:00:00:00:0c", PortSecurityEnabled: true},                  // no tap: skipped
		{ID: "d", Tap: "tapa", MAC: "02:00:00:00:00:0d", PortSecurityEnabled: true},              // duplicate tap
		{ID: "e", Tap: "tape", MAC: "not-a-mac", PortSecurityEnabled: true, SecurityGroups: nil}, // secured, refuses all
	}
	groups := []agentapi.SecurityGroup{openGroup("web", "10.0.0.10")}
	s, memo := buildDesired(ports, groups, slogDiscard(), nil)

	for _, name := range []string{"as-tapa", "in-tapa", "eg-tapa", "sgi-web", "sge-web", "as-tape", "in-tape"} {
		if s.chains[objKey{inet, name}] == nil {
			t.Errorf("chain inet/%s missing", name)
		}
	}
	for _, name := range []string{"as-tapb", "in-tapb", "as-tapd"} {
		if s.chains[objKey{inet, name}] != nil {
			t.Errorf("chain inet/%s should not exist", name)
		}
	}
	if v := s.maps[objKey{inet, mapIngress}].elems["tapb"]; v.String() != "accept" {
		t.Errorf("port security off: ingress verdict %v", v)
	}
	if v := s.maps[objKey{arp, mapARP}].elems["tapa"]; v.String() != "jump as-tapa" {
		t.Errorf("arp verdict %v", v)
	}
	as := chainText(s.chains[objKey{inet, "as-tapa"}])
	for _, want := range []string{
		"ether saddr 02:00:00:00:00:0a meta nfproto ipv4 ip saddr 10.0.0.10 accept",
		"ether saddr 02:00:00:00:00:0a meta nfproto ipv6 ip6 saddr 2001:db8::a accept",
		"ether saddr 02:00:00:00:00:ff meta nfproto ipv4 ip saddr 10.9.0.0/16 accept",
		"ether saddr 02:00:00:00:00:0a meta nfproto ipv6 ip6 saddr fe80::ff:fe00:a accept",
		"ether saddr 02:00:00:00:00:ff meta nfproto ipv6 ip6 saddr fe80::ff:fe00:ff accept",
	} {
		if !slices.Contains(as, want) {
			t.Errorf("as-tapa lacks %q:\n%s", want, strings.Join(as, "\n"))
		}
	}
	if !slices.Contains(chainText(s.chains[objKey{arp, "as-tapa"}]), "arp saddr ether 02:00:00:00:00:ff arp saddr ip 10.9.0.0/16 accept") {
		t.Error("arp chain lacks the pair")
	}
	if in := chainText(s.chains[objKey{inet, "in-tapa"}]); !slices.Contains(in, "jump sgi-web") || slices.ContainsFunc(in, func(s string) bool { return strings.Contains(s, "missing") }) {
		t.Errorf("in-tapa: %v", in)
	}
	if as := chainText(s.chains[objKey{inet, "as-tape"}]); as[len(as)-1] != "counter drop" || slices.ContainsFunc(as, func(s string) bool { return strings.Contains(s, "ether saddr") }) {
		t.Errorf("a port without a valid MAC should allow no source: %v", as)
	}

	// Same input, other order (without the duplicate, whose place decides
	// which port keeps the tap): same hashes; memoised chains reused.
	ports = slices.DeleteFunc(ports, func(p agentapi.Port) bool { return p.ID == "d" })
	slices.Reverse(ports)
	s2, _ := buildDesired(ports, groups, slogDiscard(), memo)
	for k, c := range s.chains {
		if c2 := s2.chains[k]; c2 == nil || c2.hash != c.hash {
			t.Errorf("chain %s differs when the input is reordered", k)
		}
	}
	if s2.chains[objKey{inet, "in-tapa"}] != s.chains[objKey{inet, "in-tapa"}] {
		t.Error("an unchanged port's chains were rebuilt")
	}
}

func chainText(c *chainSpec) []string {
	var out []string
	for _, r := range c.rules {
		out = append(out, r.String())
	}
	return out
}

func TestPlanOrder(t *testing.T) {
	// Without a kernel: plan against itself is empty; from nothing it
	// creates sets and chains before the rules and map elements that use them.
	ports := []agentapi.Port{{ID: "a", Tap: "tapa", MAC: "02:00:00:00:00:0a", PortSecurityEnabled: true,
		FixedIPs: []agentapi.FixedIP{{IPAddress: "10.0.0.10"}}, SecurityGroups: []string{"g"}}}
	g := egressGroup("g", "10.0.0.10")
	g.Rules = append(g.Rules, agentapi.Rule{Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: ptr("g")})
	want, _ := buildDesired(ports, []agentapi.SecurityGroup{g}, slogDiscard(), nil)
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(c)
	plan(b, want, want)
	if b.msgs != 0 {
		t.Errorf("plan against itself: %v", b.ops)
	}
	b = newBatch(c)
	plan(b, newState(), want)
	pos := func(prefix string) int {
		return slices.IndexFunc(b.ops, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	if !(pos("add set sg4-g") < pos("write chain inet/sgi-g") &&
		pos("add chain inet/in-tapa") < pos("write chain") &&
		pos("write chain") < pos("add 1 elements to map inet/ingress")) {
		t.Errorf("bad order: %v", b.ops)
	}
}
