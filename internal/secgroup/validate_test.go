package secgroup

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/neutron"
)

func sp(s string) *string { return &s }
func ip(i int) *int       { return &i }

const invalidProtocolTail = " not supported. Only protocol values [None, 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp'] and integer representations [0 to 255] are supported."

func checkErr(t *testing.T, name string, err error, status int, typ, msg string) {
	t.Helper()
	e, ok := neutron.As(err)
	if !ok {
		t.Errorf("%s: error = %v; want %s %d %q", name, err, typ, status, msg)
		return
	}
	if e.Status != status || e.Type != typ || e.Message != msg {
		t.Errorf("%s: error = %d %s %q; want %d %s %q", name, e.Status, e.Type, e.Message, status, typ, msg)
	}
}

func TestValidateErrors(t *testing.T) {
	in4 := func(r Rule) Rule { r.Direction = DirectionIngress; return r }
	for _, tc := range []struct {
		name   string
		rule   Rule
		status int
		typ    string
		msg    string
	}{
		// API layer: direction.
		{"missing direction", Rule{}, 400, "HTTPBadRequest",
			"Failed to parse request. Required attribute 'direction' not specified"},
		{"bad direction", Rule{Direction: "in"}, 400, "HTTPBadRequest",
			"Invalid input for direction. Reason: in is not in valid_values."},
		{"direction is case sensitive", Rule{Direction: "Ingress"}, 400, "HTTPBadRequest",
			"Invalid input for direction. Reason: Ingress is not in valid_values."},
		{"direction before protocol", Rule{Direction: "up", Protocol: sp("bogus")}, 400, "HTTPBadRequest",
			"Invalid input for direction. Reason: up is not in valid_values."},

		// API layer: protocol.
		{"unknown protocol", in4(Rule{Protocol: sp("Bogus")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol Bogus" + invalidProtocolTail},
		{"empty protocol", in4(Rule{Protocol: sp("")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol " + invalidProtocolTail},
		{"protocol 256", in4(Rule{Protocol: sp("256")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol 256" + invalidProtocolTail},
		{"protocol -1", in4(Rule{Protocol: sp("-1")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol -1" + invalidProtocolTail},
		{"protocol hex", in4(Rule{Protocol: sp("0x6")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol 0x6" + invalidProtocolTail},
		{"protocol 'any' is not known to this Neutron", in4(Rule{Protocol: sp("any")}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol any" + invalidProtocolTail},
		{"protocol before port value", in4(Rule{Protocol: sp("x"), PortRangeMin: ip(-1)}), 400, TypeRuleInvalidProtocol,
			"Security group rule protocol x" + invalidProtocolTail},

		// API layer: port values.
		{"negative min", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(-1), PortRangeMax: ip(10)}), 400, TypeInvalidPortValue,
			"Invalid value for port -1"},
		{"max too big", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(1), PortRangeMax: ip(65536)}), 400, TypeInvalidPortValue,
			"Invalid value for port 65536"},
		{"min checked before max", in4(Rule{PortRangeMin: ip(70000), PortRangeMax: ip(-5)}), 400, TypeInvalidPortValue,
			"Invalid value for port 70000"},
		{"port value before ethertype", in4(Rule{Ethertype: "IPv5", PortRangeMax: ip(-5)}), 400, TypeInvalidPortValue,
			"Invalid value for port -5"},
		{"icmp type above 65535 is a port value error", in4(Rule{Protocol: sp("icmp"), PortRangeMin: ip(65536)}), 400, TypeInvalidPortValue,
			"Invalid value for port 65536"},

		// API layer: ethertype.
		{"bad ethertype", in4(Rule{Ethertype: "IPv5"}), 400, TypeRuleInvalidEtherType,
			"Security group rule for ethertype 'IPv5' not supported. Allowed values are ['IPv4', 'IPv6']."},
		{"ethertype before prefix", in4(Rule{Ethertype: "ip", RemoteIPPrefix: sp("x")}), 400, TypeRuleInvalidEtherType,
			"Security group rule for ethertype 'ip' not supported. Allowed values are ['IPv4', 'IPv6']."},

		// API layer: remote_ip_prefix.
		{"bad prefix length", in4(Rule{RemoteIPPrefix: sp("10.0.0.0/33")}), 400, TypeInvalidCIDR,
			"Invalid CIDR 10.0.0.0/33 given as IP prefix."},
		{"garbage prefix", in4(Rule{RemoteIPPrefix: sp("foo")}), 400, TypeInvalidCIDR,
			"Invalid CIDR foo given as IP prefix."},
		{"zone", in4(Rule{Ethertype: "IPv6", RemoteIPPrefix: sp("fe80::1%eth0")}), 400, TypeInvalidCIDR,
			"Invalid CIDR fe80::1%eth0 given as IP prefix."},
		{"prefix checked before ports", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(9), PortRangeMax: ip(8), RemoteIPPrefix: sp("1.2.3.4/40")}), 400, TypeInvalidCIDR,
			"Invalid CIDR 1.2.3.4/40 given as IP prefix."},

		// Port ranges.
		{"ports without protocol", in4(Rule{PortRangeMin: ip(22), PortRangeMax: ip(22)}), 400, TypeProtocolRequiredWithPorts,
			"Must also specify protocol if port range is given."},
		{"only max without protocol", in4(Rule{PortRangeMax: ip(22)}), 400, TypeProtocolRequiredWithPorts,
			"Must also specify protocol if port range is given."},
		{"tcp min 0", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(0), PortRangeMax: ip(10)}), 400, TypeInvalidPortValue,
			"Invalid value for port 0"},
		{"tcp max 0 before range order", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(10), PortRangeMax: ip(0)}), 400, TypeInvalidPortValue,
			"Invalid value for port 0"},
		{"udp only min 0", in4(Rule{Protocol: sp("udp"), PortRangeMin: ip(0)}), 400, TypeInvalidPortValue,
			"Invalid value for port 0"},
		{"tcp min > max", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(20), PortRangeMax: ip(10)}), 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"tcp only min", in4(Rule{Protocol: sp("tcp"), PortRangeMin: ip(22)}), 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"sctp number only max", in4(Rule{Protocol: sp("132"), PortRangeMax: ip(22)}), 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"dccp min > max", in4(Rule{Protocol: sp("DCCP"), PortRangeMin: ip(2), PortRangeMax: ip(1)}), 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"udplite number min > max", in4(Rule{Protocol: sp("136"), PortRangeMin: ip(2), PortRangeMax: ip(1)}), 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"icmp type 256", in4(Rule{Protocol: sp("icmp"), PortRangeMin: ip(256), PortRangeMax: ip(0)}), 400, TypeInvalidIcmpValue,
			"Invalid value for ICMP type (port_range_min) 256. It must be 0 to 255."},
		{"icmp code 300", in4(Rule{Protocol: sp("1"), PortRangeMin: ip(8), PortRangeMax: ip(300)}), 400, TypeInvalidIcmpValue,
			"Invalid value for ICMP code (port_range_max) 300. It must be 0 to 255."},
		{"icmp code range checked before missing type", in4(Rule{Protocol: sp("icmp"), PortRangeMax: ip(300)}), 400, TypeInvalidIcmpValue,
			"Invalid value for ICMP code (port_range_max) 300. It must be 0 to 255."},
		{"icmp code without type", in4(Rule{Protocol: sp("icmp"), PortRangeMax: ip(0)}), 400, TypeMissingIcmpType,
			"ICMP code (port-range-max) 0 is provided but ICMP type (port-range-min) is missing."},
		{"ipv6-icmp code without type", Rule{Direction: "egress", Ethertype: "IPv6", Protocol: sp("ipv6-icmp"), PortRangeMax: ip(4)}, 400, TypeMissingIcmpType,
			"ICMP code (port-range-max) 4 is provided but ICMP type (port-range-min) is missing."},
		{"legacy icmp under IPv6 checked as ICMP", Rule{Direction: "egress", Ethertype: "IPv6", Protocol: sp("icmp"), PortRangeMin: ip(1000)}, 400, TypeInvalidIcmpValue,
			"Invalid value for ICMP type (port_range_min) 1000. It must be 0 to 255."},
		{"gre with ports", in4(Rule{Protocol: sp("gre"), PortRangeMin: ip(1), PortRangeMax: ip(2)}), 400, TypeInvalidProtocolForPort,
			"Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."},
		{"ip (0) with a port", in4(Rule{Protocol: sp("ip"), PortRangeMin: ip(80)}), 400, TypeInvalidProtocolForPort,
			"Ports cannot be specified for protocol 0. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."},
		{"number 200 with a port", in4(Rule{Protocol: sp("200"), PortRangeMax: ip(80)}), 400, TypeInvalidProtocolForPort,
			"Ports cannot be specified for protocol 200. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."},
		{"port error before prefix conflict", Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("tcp"), PortRangeMin: ip(9), PortRangeMax: ip(8), RemoteIPPrefix: sp("10.0.0.0/8")}, 400, TypeInvalidPortRange,
			"For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"icmp value before ethertype/protocol conflict", in4(Rule{Protocol: sp("58"), PortRangeMin: ip(300)}), 400, TypeInvalidIcmpValue,
			"Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."},

		// remote_ip_prefix vs ethertype: the message shows the converted prefix.
		{"IPv6 rule, IPv4 prefix", Rule{Direction: "ingress", Ethertype: "ipv6", RemoteIPPrefix: sp("10.0.0.1")}, 400, TypeRuleParameterConflict,
			"Conflicting value ethertype IPv6 for CIDR 10.0.0.1/32"},
		{"IPv4 rule, IPv6 prefix", in4(Rule{RemoteIPPrefix: sp("::/0")}), 400, TypeRuleParameterConflict,
			"Conflicting value ethertype IPv4 for CIDR ::/0"},
		{"defaulted IPv4 with mapped IPv6 prefix", in4(Rule{RemoteIPPrefix: sp("::FFFF:1.2.3.4")}), 400, TypeRuleParameterConflict,
			"Conflicting value ethertype IPv4 for CIDR ::ffff:1.2.3.4/128"},
		{"prefix conflict before protocol conflict", in4(Rule{Protocol: sp("ipv6-icmp"), RemoteIPPrefix: sp("::/0")}), 400, TypeRuleParameterConflict,
			"Conflicting value ethertype IPv4 for CIDR ::/0"},

		// IPv6-only protocols with IPv4.
		{"ipv6-icmp with IPv4", in4(Rule{Protocol: sp("ipv6-icmp")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-icmp."},
		{"ICMPv6 with IPv4 (lower-cased)", in4(Rule{Protocol: sp("ICMPv6")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol icmpv6."},
		{"58 with IPv4", in4(Rule{Protocol: sp("58"), PortRangeMin: ip(128)}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol 58."},
		{"058 with IPv4 (canonicalised)", in4(Rule{Protocol: sp("058")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol 58."},
		{"ipv6-encap", in4(Rule{Protocol: sp("ipv6-encap")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-encap."},
		{"ipv6-frag", in4(Rule{Protocol: sp("ipv6-frag")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-frag."},
		{"ipv6-nonxt", in4(Rule{Protocol: sp("ipv6-nonxt")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-nonxt."},
		{"ipv6-opts", in4(Rule{Protocol: sp("ipv6-opts")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-opts."},
		{"ipv6-route", in4(Rule{Protocol: sp("ipv6-route")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-route."},
		{"41", in4(Rule{Protocol: sp("41")}), 400, TypeEthertypeConflictWithProto, "Invalid ethertype IPv4 for protocol 41."},
		{"43", in4(Rule{Protocol: sp("43")}), 400, TypeEthertypeConflictWithProto, "Invalid ethertype IPv4 for protocol 43."},
		{"44", in4(Rule{Protocol: sp("44")}), 400, TypeEthertypeConflictWithProto, "Invalid ethertype IPv4 for protocol 44."},
		{"59", in4(Rule{Protocol: sp("59")}), 400, TypeEthertypeConflictWithProto, "Invalid ethertype IPv4 for protocol 59."},
		{"60", in4(Rule{Protocol: sp("60")}), 400, TypeEthertypeConflictWithProto, "Invalid ethertype IPv4 for protocol 60."},
		{"protocol conflict before remotes", in4(Rule{Protocol: sp("ipv6-route"), RemoteGroupID: sp("g"), RemoteAddressGroupID: sp("a")}), 400, TypeEthertypeConflictWithProto,
			"Invalid ethertype IPv4 for protocol ipv6-route."},

		// Remote exclusivity.
		{"prefix and group", in4(Rule{RemoteIPPrefix: sp("10.0.0.0/8"), RemoteGroupID: sp("g")}), 400, TypeMultipleRemoteEntities,
			"Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."},
		{"group and address group", in4(Rule{RemoteGroupID: sp("g"), RemoteAddressGroupID: sp("a")}), 400, TypeMultipleRemoteEntities,
			"Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."},
		{"prefix and address group", in4(Rule{RemoteIPPrefix: sp("0.0.0.0/0"), RemoteAddressGroupID: sp("a")}), 400, TypeMultipleRemoteEntities,
			"Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."},
		{"all three", in4(Rule{RemoteIPPrefix: sp("1.2.3.4"), RemoteGroupID: sp("g"), RemoteAddressGroupID: sp("a")}), 400, TypeMultipleRemoteEntities,
			"Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."},
	} {
		orig := tc.rule
		r := tc.rule
		err := Validate(&r)
		checkErr(t, tc.name, err, tc.status, tc.typ, tc.msg)
		if !reflect.DeepEqual(r, orig) {
			t.Errorf("%s: Validate changed the rule although it failed: %+v", tc.name, r)
		}
	}
}

func TestValidateNormalises(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Rule
		want Rule
	}{
		{"defaults ethertype to IPv4",
			Rule{Direction: "egress"},
			Rule{Direction: "egress", Ethertype: "IPv4"}},
		{"ethertype case",
			Rule{Direction: "egress", Ethertype: "ipV6"},
			Rule{Direction: "egress", Ethertype: "IPv6"}},
		{"protocol name lower-cased",
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("TCP"), PortRangeMin: ip(22), PortRangeMax: ip(22)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22)}},
		{"protocol number kept as number",
			Rule{Direction: "ingress", Protocol: sp("6"), PortRangeMin: ip(80), PortRangeMax: ip(443)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("6"), PortRangeMin: ip(80), PortRangeMax: ip(443)}},
		{"protocol number spelled with Python int syntax",
			Rule{Direction: "ingress", Protocol: sp(" +0_17 ")},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("17")}},
		{"protocol 0",
			Rule{Direction: "ingress", Protocol: sp("-0")},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("0")}},
		{"protocol 255",
			Rule{Direction: "ingress", Protocol: sp("255")},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("255")}},
		{"IPv4 icmp stays icmp",
			Rule{Direction: "ingress", Protocol: sp("icmp"), PortRangeMin: ip(8), PortRangeMax: ip(0)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp"), PortRangeMin: ip(8), PortRangeMax: ip(0)}},
		{"IPv4 1 stays 1",
			Rule{Direction: "ingress", Protocol: sp("1"), PortRangeMin: ip(255), PortRangeMax: ip(255)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("1"), PortRangeMin: ip(255), PortRangeMax: ip(255)}},
		{"IPv6 icmp becomes ipv6-icmp",
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("ICMP"), PortRangeMin: ip(128)},
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("ipv6-icmp"), PortRangeMin: ip(128)}},
		{"IPv6 icmpv6 becomes ipv6-icmp",
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("icmpv6")},
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("ipv6-icmp")}},
		{"IPv6 1 becomes 58",
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("01")},
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("58")}},
		{"IPv6 58 stays",
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("58")},
			Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: sp("58")}},
		{"IPv4 icmp type only",
			Rule{Direction: "ingress", Protocol: sp("icmp"), PortRangeMin: ip(0)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp"), PortRangeMin: ip(0)}},
		{"full port range dropped for tcp",
			Rule{Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(1), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp")}},
		{"full port range dropped even without protocol",
			Rule{Direction: "ingress", PortRangeMin: ip(1), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4"}},
		{"full port range dropped even for icmp",
			Rule{Direction: "ingress", Protocol: sp("icmp"), PortRangeMin: ip(1), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp")}},
		{"full port range dropped even for gre",
			Rule{Direction: "ingress", Protocol: sp("gre"), PortRangeMin: ip(1), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("gre")}},
		{"tcp single port",
			Rule{Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(65535), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(65535), PortRangeMax: ip(65535)}},
		{"tcp 2..65535 kept",
			Rule{Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(2), PortRangeMax: ip(65535)},
			Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(2), PortRangeMax: ip(65535)}},
		{"host bits of the prefix are kept",
			Rule{Direction: "ingress", RemoteIPPrefix: sp("10.0.0.5/24")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.0.0.5/24")}},
		{"address gets /32",
			Rule{Direction: "ingress", RemoteIPPrefix: sp("10.0.0.5")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.0.0.5/32")}},
		{"netmask form",
			Rule{Direction: "ingress", RemoteIPPrefix: sp("10.0.0.0/255.255.0.0")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.0.0.0/16")}},
		{"partial IPv4",
			Rule{Direction: "ingress", RemoteIPPrefix: sp("10/8")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.0.0.0/8")}},
		{"IPv6 compressed and lower-cased",
			Rule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("2001:DB8:0:0::1/64")},
			Rule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("2001:db8::1/64")}},
		{"IPv6 gets /128",
			Rule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("::1")},
			Rule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("::1/128")}},
		{"0.0.0.0/0 is kept, not dropped",
			Rule{Direction: "ingress", RemoteIPPrefix: sp("0.0.0.0/0")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("0.0.0.0/0")}},
		{"empty prefix becomes nil",
			Rule{Direction: "ingress", RemoteIPPrefix: sp(""), RemoteGroupID: sp("g")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: sp("g")}},
		{"empty group id is not a remote",
			Rule{Direction: "ingress", RemoteGroupID: sp(""), RemoteAddressGroupID: sp("a")},
			Rule{Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: sp(""), RemoteAddressGroupID: sp("a")}},
		{"remote group only",
			Rule{Direction: "egress", Ethertype: "IPv6", RemoteGroupID: sp("g")},
			Rule{Direction: "egress", Ethertype: "IPv6", RemoteGroupID: sp("g")}},
		{"remote address group only",
			Rule{Direction: "egress", RemoteAddressGroupID: sp("a")},
			Rule{Direction: "egress", Ethertype: "IPv4", RemoteAddressGroupID: sp("a")}},
		{"every other protocol name without ports",
			Rule{Direction: "egress", Protocol: sp("VRRP")},
			Rule{Direction: "egress", Ethertype: "IPv4", Protocol: sp("vrrp")}},
		{"IPv6-only protocol with IPv6",
			Rule{Direction: "egress", Ethertype: "IPv6", Protocol: sp("ipv6-frag")},
			Rule{Direction: "egress", Ethertype: "IPv6", Protocol: sp("ipv6-frag")}},
	} {
		r := tc.in
		if err := Validate(&r); err != nil {
			t.Errorf("%s: Validate: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(r, tc.want) {
			t.Errorf("%s: got %s; want %s", tc.name, show(r), show(tc.want))
		}
		// Validation is idempotent: a stored rule validates to itself.
		again := r
		if err := Validate(&again); err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("%s: second Validate = %v, %s", tc.name, err, show(again))
		}
	}
}

func TestValidateDoesNotWriteThroughPointers(t *testing.T) {
	proto, prefix, min, max := "TCP", "10.0.0.1", 1, 65535
	r := Rule{Direction: "ingress", Ethertype: "ipv4", Protocol: &proto, RemoteIPPrefix: &prefix, PortRangeMin: &min, PortRangeMax: &max}
	if err := Validate(&r); err != nil {
		t.Fatal(err)
	}
	if proto != "TCP" || prefix != "10.0.0.1" || min != 1 || max != 65535 {
		t.Errorf("caller's values changed: %q %q %d %d", proto, prefix, min, max)
	}
	if *r.Protocol != "tcp" || *r.RemoteIPPrefix != "10.0.0.1/32" || r.PortRangeMin != nil || r.PortRangeMax != nil || r.Ethertype != "IPv4" {
		t.Errorf("not normalised: %s", show(r))
	}
}

func TestNormalizedCIDROfValidatedRule(t *testing.T) {
	r := Rule{Direction: "ingress", RemoteIPPrefix: sp("10.0.0.5/24")}
	if err := Validate(&r); err != nil {
		t.Fatal(err)
	}
	if n := NormalizedCIDR(r); n == nil || *n != "10.0.0.0/24" {
		t.Errorf("NormalizedCIDR = %v", n)
	}
	if *r.RemoteIPPrefix != "10.0.0.5/24" {
		t.Errorf("remote_ip_prefix = %q", *r.RemoteIPPrefix)
	}
}

func TestProtocolNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"tcp", 6, true}, {"TCP", 6, true}, {"udp", 17, true}, {"icmp", 1, true},
		{"ipv6-icmp", 58, true}, {"icmpv6", 58, true}, {"ICMPv6", 58, true},
		{"ip", 0, true}, {"hopopt", 0, true}, {"ah", 51, true}, {"dccp", 33, true},
		{"egp", 8, true}, {"esp", 50, true}, {"gre", 47, true}, {"igmp", 2, true},
		{"ipip", 4, true}, {"ipv6-encap", 41, true}, {"ipv6-frag", 44, true},
		{"ipv6-nonxt", 59, true}, {"ipv6-opts", 60, true}, {"ipv6-route", 43, true},
		{"ospf", 89, true}, {"pgm", 113, true}, {"rsvp", 46, true}, {"sctp", 132, true},
		{"udplite", 136, true}, {"vrrp", 112, true},
		{"0", 0, true}, {"6", 6, true}, {"255", 255, true}, {"006", 6, true}, {" 6\t", 6, true},
		{"+6", 6, true}, {"1_0", 10, true}, {"٦", 6, true},
		{"256", 0, false}, {"-1", 0, false}, {"", 0, false}, {"any", 0, false},
		{"6.0", 0, false}, {"0x6", 0, false}, {"_6", 0, false}, {"6_", 0, false},
		{"1__0", 0, false}, {"tcp ", 0, false}, {"icmp6", 0, false}, {"99999999999999999999", 0, false},
	} {
		got, ok := ProtocolNumber(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ProtocolNumber(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPyInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"-42", -42, true}, {"+42", 42, true},
		{"0042", 42, true}, {"4_2", 42, true}, {" \t42\n", 42, true}, {"42\u00a0", 42, true},
		{"\u3000" + "42", 42, true}, {"４２", 42, true}, {"-0", 0, true},
		{"", 0, false}, {" ", 0, false}, {"+", 0, false}, {"- 4", 0, false},
		{"4 2", 0, false}, {"_42", 0, false}, {"42_", 0, false}, {"4__2", 0, false},
		{"0x2a", 0, false}, {"4.2", 0, false}, {"42\x1f", 0, false}, {"\x1c42", 0, false},
		{"4\u200b2", 0, false}, {"1e3", 0, false},
		{"123456789012345678901234567890", pyIntLimit, true},
		{"-123456789012345678901234567890", -pyIntLimit, true},
	} {
		got, ok := pyInt(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("pyInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDefaultAndNewGroupRules(t *testing.T) {
	got := DefaultRules("sg-1")
	want := []Rule{
		{Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: sp("sg-1")},
		{Direction: "egress", Ethertype: "IPv4"},
		{Direction: "ingress", Ethertype: "IPv6", RemoteGroupID: sp("sg-1")},
		{Direction: "egress", Ethertype: "IPv6"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultRules = %v", got)
	}
	if got[0].RemoteGroupID == got[2].RemoteGroupID {
		t.Error("DefaultRules shares a pointer between rules")
	}
	if err := CheckDuplicates(got, nil); err != nil {
		t.Errorf("default rules are duplicates: %v", err)
	}
	for _, r := range got {
		c := r
		if err := Validate(&c); err != nil || !reflect.DeepEqual(c, r) {
			t.Errorf("default rule %s: Validate = %v, %s", show(r), err, show(c))
		}
	}

	ng := NewGroupRules()
	wantNG := []Rule{{Direction: "egress", Ethertype: "IPv4"}, {Direction: "egress", Ethertype: "IPv6"}}
	if !reflect.DeepEqual(ng, wantNG) {
		t.Errorf("NewGroupRules = %v", ng)
	}
	for _, r := range ng {
		c := r
		if err := Validate(&c); err != nil || !reflect.DeepEqual(c, r) {
			t.Errorf("new-group rule %s: Validate = %v, %s", show(r), err, show(c))
		}
	}
}

func TestValidateGroupName(t *testing.T) {
	for _, name := range []string{"", "web", "defaults", "default ", strings.Repeat("é", 255)} {
		if err := ValidateGroupName(name); err != nil {
			t.Errorf("ValidateGroupName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"default", "Default", "DEFAULT"} {
		checkErr(t, name, ValidateGroupName(name), http.StatusConflict, TypeDefaultAlreadyExists,
			"Default security group already exists.")
	}
	long := strings.Repeat("x", 256)
	checkErr(t, "long", ValidateGroupName(long), 400, "HTTPBadRequest",
		"Invalid input for name. Reason: '"+long+"' exceeds maximum length of 255.")
}

func TestExportedErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		typ    string
		msg    string
	}{
		{ErrRuleExists("r1"), 409, "SecurityGroupRuleExists", "Security group rule already exists. Rule id is r1."},
		{ErrDuplicateRuleInPost(), 409, "DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST."},
		{ErrRulesNotSingleTenant(), 400, "SecurityGroupRulesNotSingleTenant", "Multiple tenant_ids in bulk security group rule create not allowed"},
		{ErrNotSingleGroupRules(), 400, "SecurityGroupNotSingleGroupRules", "Only allowed to update rules for one security profile at a time"},
		{ErrInUse("sg"), 409, "SecurityGroupInUse", "Security Group sg in use."},
		{ErrRuleInUse("r"), 409, "SecurityGroupRuleInUse", "Security Group Rule r in use."},
		{ErrCannotRemoveDefault(), 409, "SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group."},
		{ErrCannotUpdateDefault(), 409, "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed."},
		{ErrDefaultAlreadyExists(), 409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists."},
		{ErrConflict("boom"), 409, "SecurityGroupConflict", "Error boom while attempting the operation."},
	} {
		checkErr(t, tc.typ, tc.err, tc.status, tc.typ, tc.msg)
	}
}

func show(r Rule) string {
	s := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return "\"" + *p + "\""
	}
	i := func(p *int) string {
		if p == nil {
			return "nil"
		}
		return strconv.Itoa(*p)
	}
	return "{" + r.Direction + " " + r.Ethertype + " proto=" + s(r.Protocol) + " ports=" + i(r.PortRangeMin) + ".." + i(r.PortRangeMax) +
		" prefix=" + s(r.RemoteIPPrefix) + " rg=" + s(r.RemoteGroupID) + " rag=" + s(r.RemoteAddressGroupID) + "}"
}
