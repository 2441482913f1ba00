package secgroup

import (
	"strconv"
	"strings"
)

// Protocol names of neutron_lib.constants used by the rule checks.
const (
	ProtoICMP           = "icmp"
	ProtoIPv6ICMP       = "ipv6-icmp"
	ProtoIPv6ICMPLegacy = "icmpv6"
	ProtoTCP            = "tcp"
	ProtoUDP            = "udp"
)

// protocolNames is neutron_lib.constants.IP_PROTOCOL_MAP in its declaration
// order, which Neutron shows in SecurityGroupRuleInvalidProtocol.
var protocolNames = []struct {
	name string
	num  int
}{
	{"ah", 51},
	{"dccp", 33},
	{"egp", 8},
	{"esp", 50},
	{"gre", 47},
	{"hopopt", 0},
	{"icmp", 1},
	{"igmp", 2},
	{"ip", 0},
	{"ipip", 4},
	{"ipv6-encap", 41},
	{"ipv6-frag", 44},
	{"ipv6-icmp", 58},
	{"icmpv6", 58}, // legacy alias kept for API backward compatibility
	{"ipv6-nonxt", 59},
	{"ipv6-opts", 60},
	{"ipv6-route", 43},
	{"ospf", 89},
	{"pgm", 113},
	{"rsvp", 46},
	{"sctp", 132},
	{"tcp", 6},
	{"udp", 17},
	{"udplite", 136},
	{"vrrp", 112},
}

var (
	// ipProtocolMap is IP_PROTOCOL_MAP: name -> number.
	ipProtocolMap = map[string]int{}
	// ipProtocolNumToName is IP_PROTOCOL_NUM_TO_NAME_MAP: decimal string ->
	// name, built like Neutron's dict comprehension (last name wins, so
	// "0" is "ip", not "hopopt"; "icmpv6" excluded so "58" is "ipv6-icmp").
	ipProtocolNumToName = map[string]string{}
	// supportedProtocolsRepr is repr(sg_supported_protocols).
	supportedProtocolsRepr string
)

func init() {
	reprs := []string{"None"}
	for _, p := range protocolNames {
		ipProtocolMap[p.name] = p.num
		if p.name != ProtoIPv6ICMPLegacy {
			ipProtocolNumToName[strconv.Itoa(p.num)] = p.name
		}
		reprs = append(reprs, "'"+p.name+"'")
	}
	supportedProtocolsRepr = "[" + strings.Join(reprs, ", ") + "]"
}

// portProtocols is SG_PORT_PROTO_NUMS: the protocols whose rules carry a
// port range (DCCP, SCTP, TCP, UDP, UDPLITE).
var portProtocols = map[int]bool{33: true, 132: true, 6: true, 17: true, 136: true}

// portProtocolNames is ', '.join(upper(SG_PORT_PROTO_NAMES)).
const portProtocolNames = "DCCP, SCTP, TCP, UDP, UDPLITE"

// ipv6OnlyProtocols are the protocol values Neutron refuses with ethertype
// IPv4 (_validate_ethertype_and_protocol).
var ipv6OnlyProtocols = map[string]bool{
	"ipv6-encap": true, "ipv6-frag": true, "ipv6-icmp": true, "icmpv6": true,
	"ipv6-nonxt": true, "ipv6-opts": true, "ipv6-route": true,
	"41": true, "44": true, "58": true, "59": true, "60": true, "43": true,
}

// ProtocolNumber returns the IP protocol number of a protocol as accepted
// by the security group rule API: a name of Neutron's IP_PROTOCOL_MAP,
// matched case-insensitively ("tcp" -> 6, "ICMPv6" -> 58, "ip" and
// "hopopt" -> 0), or a decimal number 0..255 (Python int() syntax, so
// " 6" and "06" are 6). ok is false for anything else.
func ProtocolNumber(p string) (int, bool) {
	c, err := convertProtocol(p)
	if err != nil {
		return 0, false
	}
	return protoNumber(c), true
}

// convertProtocol is the protocol attribute's convert_to (convert_protocol):
// a number 0..255 is kept as a number, a known name is lower-cased,
// anything else is SecurityGroupRuleInvalidProtocol.
//
// Deliberate deviation: Neutron keeps a number's original spelling
// (str(value)), so "06" or " 6" pass the converter and then make Neutron's
// IpProtocolEnum object field fail with an HTTP 500. Here the number is
// stored canonically ("06" -> "6"), which is what Neutron stores for every
// spelling it can actually store.
func convertProtocol(p string) (string, error) {
	if n, ok := pyInt(p); ok {
		if n >= 0 && n <= 255 {
			return strconv.FormatInt(n, 10), nil
		}
		return "", errInvalidProtocol(p)
	}
	if l := asciiLower(p); isProtocolName(l) {
		return l, nil
	}
	return "", errInvalidProtocol(p)
}

func isProtocolName(p string) bool {
	_, ok := ipProtocolMap[p]
	return ok
}

// protoNumber is _get_ip_proto_number on a converted protocol.
func protoNumber(p string) int {
	if n, ok := ipProtocolMap[p]; ok {
		return n
	}
	n, _ := strconv.Atoi(p)
	return n
}

// protoKey is the first element of Neutron's _get_ip_proto_name_and_num,
// which is what makes protocols equal in duplicate detection: a number with
// a name in IP_PROTOCOL_NUM_TO_NAME_MAP becomes that name ("6" -> "tcp",
// "0" -> "ip"), names stay as they are, and with ethertype IPv6 the legacy
// ICMP spellings ("icmp", "icmpv6", "1") become "ipv6-icmp". Note that
// "hopopt" and "ip"/"0" stay distinct, as in Neutron, and so do "icmpv6"
// and "ipv6-icmp" under IPv4 (a combination Validate rejects anyway).
func protoKey(p, ethertype string) string {
	if ethertype == EthertypeIPv6 {
		switch p {
		case ProtoICMP, ProtoIPv6ICMPLegacy:
			p = ProtoIPv6ICMP
		case "1":
			p = "58"
		}
	}
	if _, ok := ipProtocolMap[p]; ok {
		return p
	}
	if name, ok := ipProtocolNumToName[p]; ok {
		return name
	}
	return p
}
