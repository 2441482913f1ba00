package secgroup

import (
	"fmt"
	"strings"
	"testing"
)

func TestDuplicatePairs(t *testing.T) {
	base := func(mod func(*Rule)) Rule {
		r := Rule{Direction: "ingress", Ethertype: "IPv4"}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		a, b Rule
		dup  bool
	}{
		{"identical", base(nil), base(nil), true},
		{"direction differs", base(nil), base(func(r *Rule) { r.Direction = "egress" }), false},
		{"ethertype differs", base(nil), base(func(r *Rule) { r.Ethertype = "IPv6" }), false},
		{"ethertype case and default", base(func(r *Rule) { r.Ethertype = "" }), base(func(r *Rule) { r.Ethertype = "ipv4" }), true},
		{"tcp == 6", base(func(r *Rule) { r.Protocol = sp("tcp") }), base(func(r *Rule) { r.Protocol = sp("6") }), true},
		{"TCP == 006", base(func(r *Rule) { r.Protocol = sp("TCP") }), base(func(r *Rule) { r.Protocol = sp("006") }), true},
		{"tcp != udp", base(func(r *Rule) { r.Protocol = sp("tcp") }), base(func(r *Rule) { r.Protocol = sp("udp") }), false},
		{"tcp != any", base(func(r *Rule) { r.Protocol = sp("tcp") }), base(nil), false},
		{"0 == ip", base(func(r *Rule) { r.Protocol = sp("0") }), base(func(r *Rule) { r.Protocol = sp("ip") }), true},
		{"hopopt != ip (Neutron quirk)", base(func(r *Rule) { r.Protocol = sp("hopopt") }), base(func(r *Rule) { r.Protocol = sp("ip") }), false},
		{"hopopt != 0 (Neutron quirk)", base(func(r *Rule) { r.Protocol = sp("hopopt") }), base(func(r *Rule) { r.Protocol = sp("0") }), false},
		{"200 == 200", base(func(r *Rule) { r.Protocol = sp("200") }), base(func(r *Rule) { r.Protocol = sp(" 200") }), true},
		{"IPv4 icmp == 1", base(func(r *Rule) { r.Protocol = sp("icmp") }), base(func(r *Rule) { r.Protocol = sp("1") }), true},
		{"IPv4 icmp != 58", base(func(r *Rule) { r.Protocol = sp("icmp") }), base(func(r *Rule) { r.Protocol = sp("58") }), false},
		{"IPv4 icmpv6 != ipv6-icmp (both invalid)", base(func(r *Rule) { r.Protocol = sp("icmpv6") }), base(func(r *Rule) { r.Protocol = sp("ipv6-icmp") }), false},
		{"IPv4 58 == ipv6-icmp (both invalid)", base(func(r *Rule) { r.Protocol = sp("58") }), base(func(r *Rule) { r.Protocol = sp("ipv6-icmp") }), true},
		{"IPv6 icmp == 58", base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("icmp") }), base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("58") }), true},
		{"IPv6 1 == icmpv6", base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("1") }), base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("icmpv6") }), true},
		{"IPv6 ipv6-icmp == ICMP", base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("ipv6-icmp") }), base(func(r *Rule) { r.Ethertype = "IPv6"; r.Protocol = sp("ICMP") }), true},
		{"ports equal", base(func(r *Rule) { r.Protocol = sp("tcp"); r.PortRangeMin, r.PortRangeMax = ip(22), ip(22) }),
			base(func(r *Rule) { r.Protocol = sp("6"); r.PortRangeMin, r.PortRangeMax = ip(22), ip(22) }), true},
		{"ports differ", base(func(r *Rule) { r.Protocol = sp("tcp"); r.PortRangeMin, r.PortRangeMax = ip(22), ip(22) }),
			base(func(r *Rule) { r.Protocol = sp("tcp"); r.PortRangeMin, r.PortRangeMax = ip(22), ip(23) }), false},
		{"min vs max not swapped", base(func(r *Rule) { r.Protocol = sp("icmp"); r.PortRangeMin = ip(8) }),
			base(func(r *Rule) { r.Protocol = sp("icmp"); r.PortRangeMax = ip(8) }), false},
		{"full range == no ports", base(func(r *Rule) { r.Protocol = sp("tcp"); r.PortRangeMin, r.PortRangeMax = ip(1), ip(65535) }),
			base(func(r *Rule) { r.Protocol = sp("tcp") }), true},
		{"no prefix == 0.0.0.0/0", base(nil), base(func(r *Rule) { r.RemoteIPPrefix = sp("0.0.0.0/0") }), true},
		{"no prefix == 0/0", base(nil), base(func(r *Rule) { r.RemoteIPPrefix = sp("0/0") }), true},
		{"no prefix == empty prefix", base(nil), base(func(r *Rule) { r.RemoteIPPrefix = sp("") }), true},
		{"no prefix == ::/0 under IPv6", base(func(r *Rule) { r.Ethertype = "IPv6" }), base(func(r *Rule) { r.Ethertype = "IPv6"; r.RemoteIPPrefix = sp("::0/0") }), true},
		{"0.0.0.0/0 == ::/0 (key ignores family)", base(func(r *Rule) { r.RemoteIPPrefix = sp("::/0") }), base(func(r *Rule) { r.RemoteIPPrefix = sp("0.0.0.0/0") }), true},
		{"1.2.3.4/0 != any (host bits kept)", base(nil), base(func(r *Rule) { r.RemoteIPPrefix = sp("1.2.3.4/0") }), false},
		{"address == /32", base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5") }), base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5/32") }), true},
		{"netmask == length", base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.0/255.0.0.0") }), base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.0/8") }), true},
		{"host bits differ (not normalised by Neutron)", base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5/24") }), base(func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.0/24") }), false},
		{"IPv6 spelling", base(func(r *Rule) { r.Ethertype = "IPv6"; r.RemoteIPPrefix = sp("2001:DB8:0::1/64") }),
			base(func(r *Rule) { r.Ethertype = "IPv6"; r.RemoteIPPrefix = sp("2001:db8::1/64") }), true},
		{"remote group equal", base(func(r *Rule) { r.RemoteGroupID = sp("g") }), base(func(r *Rule) { r.RemoteGroupID = sp("g") }), true},
		{"remote group vs none", base(func(r *Rule) { r.RemoteGroupID = sp("g") }), base(nil), false},
		{"remote group vs empty", base(func(r *Rule) { r.RemoteGroupID = sp("") }), base(nil), false},
		{"remote group vs address group", base(func(r *Rule) { r.RemoteGroupID = sp("g") }), base(func(r *Rule) { r.RemoteAddressGroupID = sp("g") }), false},
		{"address group equal", base(func(r *Rule) { r.RemoteAddressGroupID = sp("a") }), base(func(r *Rule) { r.RemoteAddressGroupID = sp("a") }), true},
		{"escaped chars do not collide", base(func(r *Rule) { r.RemoteGroupID = sp("a|b") }), base(func(r *Rule) { r.RemoteGroupID = sp("a%7Cb") }), false},
		{"odd direction vs abbreviation", base(func(r *Rule) { r.Direction = "I" }), base(nil), false},
	} {
		if got := Duplicate(tc.a, tc.b); got != tc.dup {
			t.Errorf("%s: Duplicate = %v; want %v", tc.name, got, tc.dup)
		}
		if got := Duplicate(tc.b, tc.a); got != tc.dup {
			t.Errorf("%s: Duplicate (swapped) = %v; want %v", tc.name, got, tc.dup)
		}
		fa, fb := Fingerprint(tc.a), Fingerprint(tc.b)
		if (fa == fb) != tc.dup {
			t.Errorf("%s: fingerprints %q, %q; want equal=%v", tc.name, fa, fb, tc.dup)
		}
	}
}

func TestFingerprintFormat(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Direction: "egress", Ethertype: "IPv6"}, "E|6||||||"},
		{Rule{Direction: "ingress", Protocol: sp("TCP"), PortRangeMin: ip(22), PortRangeMax: ip(22), RemoteIPPrefix: sp("10.0.0.0/24")},
			"I|4|tcp|22|22|10.0.0.0%2F24||"},
		{Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("1"), RemoteGroupID: sp("7c1e6a5e-2f1b-4bb6-9a0e-1f0f2f3f4f5f")},
			"I|6|ipv6-icmp||||7c1e6a5e-2f1b-4bb6-9a0e-1f0f2f3f4f5f|"},
		{Rule{Direction: "egress", RemoteAddressGroupID: sp("")}, "E|4||||||%"},
		{Rule{Direction: "up/down", Ethertype: "IPv5", RemoteGroupID: sp("a|b~c%d\n")}, "~up%2Fdown|~IPv5|||||a%7Cb%7Ec%25d%0A|"},
	} {
		if got := Fingerprint(tc.r); got != tc.want {
			t.Errorf("Fingerprint(%s) = %q; want %q", show(tc.r), got, tc.want)
		}
	}
}

// neutronKey is a literal transcription of Neutron's _rule_to_key (without
// security_group_id) and _get_ip_proto_name_and_num, with its own tables,
// used as an independent oracle on validated rules.
func neutronKey(r Rule) string {
	protoMap := map[string]int{"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
		"igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58,
		"ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
		"tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112}
	numToName := map[string]string{"51": "ah", "33": "dccp", "8": "egp", "50": "esp", "47": "gre", "0": "ip",
		"1": "icmp", "2": "igmp", "4": "ipip", "41": "ipv6-encap", "44": "ipv6-frag", "58": "ipv6-icmp",
		"59": "ipv6-nonxt", "60": "ipv6-opts", "43": "ipv6-route", "89": "ospf", "113": "pgm", "46": "rsvp",
		"132": "sctp", "6": "tcp", "17": "udp", "136": "udplite", "112": "vrrp"}
	norm := func(key string, s *string, i *int) string {
		switch {
		case key == "remote_ip_prefix":
			if s == nil || *s == "0.0.0.0/0" || *s == "::/0" {
				return "+"
			}
			return *s
		case s == nil && i == nil:
			return "+"
		case i != nil:
			return fmt.Sprint(*i)
		case key == "protocol":
			p := *s
			if r.Ethertype == "IPv6" {
				if p == "icmp" || p == "icmpv6" {
					p = "ipv6-icmp"
				} else if p == "1" {
					p = "58"
				}
			}
			if n, ok := protoMap[p]; ok {
				return fmt.Sprintf("['%s', '%d']", p, n)
			}
			if name, ok := numToName[p]; ok {
				return fmt.Sprintf("['%s', '%s']", name, p)
			}
			return fmt.Sprintf("['%s', '%s']", p, p)
		}
		return *s
	}
	return strings.Join([]string{
		r.Direction, r.Ethertype,
		norm("port_range_max", nil, r.PortRangeMax), norm("port_range_min", nil, r.PortRangeMin),
		norm("protocol", r.Protocol, nil),
		norm("remote_group_id", r.RemoteGroupID, nil), norm("remote_address_group_id", r.RemoteAddressGroupID, nil),
		norm("remote_ip_prefix", r.RemoteIPPrefix, nil),
	}, "_")
}

// TestDuplicateMatchesNeutronKey enumerates many rule variants, keeps the
// ones Validate accepts, and checks for every pair that Duplicate agrees
// with Neutron's key comparison and with Fingerprint equality.
func TestDuplicateMatchesNeutronKey(t *testing.T) {
	protos := []*string{nil, sp("tcp"), sp("6"), sp("TCP"), sp("udp"), sp("icmp"), sp("1"), sp("icmpv6"),
		sp("ipv6-icmp"), sp("58"), sp("ip"), sp("0"), sp("hopopt"), sp("gre"), sp("200")}
	type ports struct{ min, max *int }
	portSets := []ports{{nil, nil}, {ip(22), ip(22)}, {ip(1), ip(65535)}, {ip(8), nil}, {ip(8), ip(0)}, {ip(0), ip(8)}}
	remotes := []func(*Rule){
		func(*Rule) {},
		func(r *Rule) { r.RemoteIPPrefix = sp("0.0.0.0/0") },
		func(r *Rule) { r.RemoteIPPrefix = sp("::/0") },
		func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5") },
		func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5/32") },
		func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.5/24") },
		func(r *Rule) { r.RemoteIPPrefix = sp("10.0.0.0/24") },
		func(r *Rule) { r.RemoteIPPrefix = sp("2001:db8::/32") },
		func(r *Rule) { r.RemoteGroupID = sp("g1") },
		func(r *Rule) { r.RemoteGroupID = sp("g2") },
		func(r *Rule) { r.RemoteAddressGroupID = sp("g1") },
	}
	var raw, valid []Rule
	for _, dir := range []string{"ingress", "egress"} {
		for _, eth := range []string{"IPv4", "ipv6", ""} {
			for _, p := range protos {
				for _, ps := range portSets {
					for _, rem := range remotes {
						r := Rule{Direction: dir, Ethertype: eth, Protocol: p, PortRangeMin: ps.min, PortRangeMax: ps.max}
						rem(&r)
						v := r
						if Validate(&v) == nil {
							raw = append(raw, r)
							valid = append(valid, v)
						}
					}
				}
			}
		}
	}
	if len(valid) < 500 {
		t.Fatalf("only %d valid rules generated", len(valid))
	}
	fps := make([]string, len(raw))
	keys := make([]string, len(raw))
	for i := range raw {
		fps[i] = Fingerprint(raw[i])
		keys[i] = neutronKey(valid[i])
		if strings.Contains(fps[i], "/") {
			t.Fatalf("fingerprint %q contains '/'", fps[i])
		}
		if Fingerprint(valid[i]) != fps[i] {
			t.Fatalf("fingerprint of %s changes after Validate", show(raw[i]))
		}
	}
	dups := 0
	for i := range raw {
		for j := i; j < len(raw); j++ { // Duplicate's symmetry is checked in TestDuplicatePairs
			want := keys[i] == keys[j]
			if got := Duplicate(raw[i], raw[j]); got != want {
				t.Fatalf("Duplicate(%s, %s) = %v; Neutron keys %q %q", show(raw[i]), show(raw[j]), got, keys[i], keys[j])
			}
			if (fps[i] == fps[j]) != want {
				t.Fatalf("fingerprints of %s and %s: %q %q; want equal=%v", show(raw[i]), show(raw[j]), fps[i], fps[j], want)
			}
			if want && i != j {
				dups++
			}
		}
	}
	if dups == 0 {
		t.Fatal("no duplicate pairs exercised")
	}
}

func TestCheckDuplicates(t *testing.T) {
	ssh := Rule{Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22)}
	ssh6 := Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("6"), PortRangeMin: ip(22), PortRangeMax: ip(22), RemoteIPPrefix: sp("0.0.0.0/0")}
	web := Rule{Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(80), PortRangeMax: ip(80)}
	egress := Rule{Direction: "egress"}

	if err := CheckDuplicates([]Rule{ssh, web}, []StoredRule{{"e1", egress}}); err != nil {
		t.Errorf("no duplicates: %v", err)
	}
	checkErr(t, "in post", CheckDuplicates([]Rule{ssh, web, ssh6}, nil), 409, TypeDuplicateRuleInPost,
		"Duplicate Security Group Rule in POST.")
	// A duplicate inside the POST wins over one with a stored rule.
	checkErr(t, "in post first", CheckDuplicates([]Rule{egress, ssh, ssh6}, []StoredRule{{"e1", egress}}), 409, TypeDuplicateRuleInPost,
		"Duplicate Security Group Rule in POST.")
	// The first stored rule (in stored order) that matches any new rule is named.
	checkErr(t, "exists", CheckDuplicates([]Rule{web, ssh}, []StoredRule{{"e0", Rule{Direction: "egress", Ethertype: "IPv6"}}, {"e1", ssh6}, {"e2", web}}),
		409, TypeRuleExists, "Security group rule already exists. Rule id is e1.")
	if err := CheckDuplicates(nil, []StoredRule{{"e1", egress}, {"e2", egress}}); err != nil {
		t.Errorf("stored duplicates are not re-checked: %v", err)
	}
}
