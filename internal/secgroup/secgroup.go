// Package secgroup is the pure (no I/O) part of Neutron's security groups:
// validation and normalisation of security group rules exactly as Neutron
// (neutron 21 / neutron-lib 3.1: the security-group API converters and
// SecurityGroupDbMixin._validate_security_group_rule) does them, Neutron's
// duplicate-rule semantics, the rules Neutron puts in new groups, and
// Neutron's security group errors (all *neutron.Error).
//
// What needs the store — that remote_group_id, remote_address_group_id and
// security_group_id exist and are visible to the project, quotas, the
// project of bulk requests — is left to the caller. Neutron does those
// checks after everything Validate checks.
package secgroup

import (
	"fmt"
	"unicode/utf8"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Attribute values.
const (
	DirectionIngress = "ingress"
	DirectionEgress  = "egress"
	EthertypeIPv4    = "IPv4"
	EthertypeIPv6    = "IPv6"
)

// Rule is the rule-defining part of a security group rule: the attributes
// that make two rules of a group duplicates. A nil pointer is an attribute
// that is absent or JSON null.
type Rule struct {
	Direction            string  // "ingress" | "egress"; "" = not specified
	Ethertype            string  // "IPv4" | "IPv6", any case; "" = not specified (Neutron's default IPv4)
	Protocol             *string // nil = any; a name of IP_PROTOCOL_MAP (any case) or a number "0".."255"
	PortRangeMin         *int    // TCP-like: first port; ICMP: type
	PortRangeMax         *int    // TCP-like: last port; ICMP: code
	RemoteIPPrefix       *string // CIDR or address; "" is treated as nil
	RemoteGroupID        *string
	RemoteAddressGroupID *string
}

// Validate runs all of Neutron's checks on a rule to be created, in
// Neutron's order and with Neutron's errors (the first failing check wins),
// and on success normalises *r in place to what Neutron stores. On error *r
// is left unchanged. Pointers in *r are never written through: normalised
// values get fresh pointers.
//
// Order and errors (all 400):
//
//  1. direction: "" -> HTTPBadRequest "Failed to parse request. Required
//     attribute 'direction' not specified"; not "ingress"/"egress" ->
//     HTTPBadRequest "Invalid input for direction. Reason: <v> is not in
//     valid_values." (sic).
//  2. protocol: a number 0..255 (Python int syntax: "06", " 6", "+6") is
//     stored as its canonical decimal, a known name is lower-cased ("TCP" ->
//     "tcp"); else SecurityGroupRuleInvalidProtocol (also for "").
//  3. port_range_min, then port_range_max, outside 0..65535 ->
//     SecurityGroupInvalidPortValue "Invalid value for port <v>".
//  4. ethertype: matched case-insensitively and stored as "IPv4"/"IPv6";
//     "" means omitted and becomes "IPv4"; else
//     SecurityGroupRuleInvalidEtherType.
//  5. remote_ip_prefix: "" becomes nil; otherwise parsed like
//     netaddr.IPNetwork and stored as CanonicalPrefix gives it — the
//     prefix length is added but host bits are KEPT ("10.0.0.5/24" stays
//     "10.0.0.5/24", "10.0.0.5" -> "10.0.0.5/32"; NormalizedCIDR gives the
//     masked form, Neutron's normalized_cidr); unparsable -> InvalidCIDR
//     "Invalid CIDR <input> given as IP prefix.".
//  6. with ethertype IPv6, protocol "icmp" or "icmpv6" becomes "ipv6-icmp"
//     and "1" becomes "58" (Neutron logs and converts; not an error).
//  7. port_range_min == 1 and port_range_max == 65535 become nil/nil, for
//     ANY protocol and before the port checks (so e.g. protocol nil or
//     "icmp" with 1..65535 is accepted and stored without ports).
//  8. port checks, only if a port is set: protocol nil ->
//     SecurityGroupProtocolRequiredWithPorts. TCP, UDP, UDPLITE, SCTP, DCCP
//     (names or numbers): a port equal to 0 -> SecurityGroupInvalidPortValue
//     "Invalid value for port 0"; both set and min <= max required, else
//     SecurityGroupInvalidPortRange (a single given port is an error too).
//     ICMP and IPv6-ICMP (1, 58 in any spelling, either ethertype): type
//     (min) then code (max) must be 0..255, else
//     SecurityGroupInvalidIcmpValue; code without type ->
//     SecurityGroupMissingIcmpType. Any other protocol ->
//     SecurityGroupInvalidProtocolForPort (naming the protocol NUMBER).
//  9. remote_ip_prefix version must match ethertype, else
//     SecurityGroupRuleParameterConflict "Conflicting value ethertype <e>
//     for CIDR <canonical prefix>".
//  10. ethertype IPv4 with an IPv6-only protocol (ipv6-encap, ipv6-frag,
//     ipv6-icmp, icmpv6, ipv6-nonxt, ipv6-opts, ipv6-route, 41, 44, 58, 59,
//     60, 43) -> SecurityGroupEthertypeConflictWithProtocol.
//  11. more than one of remote_ip_prefix, remote_group_id,
//     remote_address_group_id non-empty -> SecurityGroupMultipleRemoteEntites.
//
// Empty remote_group_id / remote_address_group_id strings count as absent
// for check 11 (as in Neutron) and are left as they are.
func Validate(r *Rule) error {
	c := *r
	if err := convertAttributes(&c, true); err != nil {
		return err
	}
	canonicalize(&c)
	if err := checkPortRange(&c); err != nil {
		return err
	}
	if err := checkIPPrefix(&c); err != nil {
		return err
	}
	if err := checkEthertypeAndProtocol(&c); err != nil {
		return err
	}
	if err := checkRemotes(&c); err != nil {
		return err
	}
	*r = c
	return nil
}

// convertAttributes is the API layer (fill_post_defaults and convert_values
// in attribute-map order). With strict false no error is reported and a
// value that cannot be converted is left as it is.
func convertAttributes(r *Rule, strict bool) error {
	if strict {
		switch r.Direction {
		case DirectionIngress, DirectionEgress:
		case "":
			return neutron.BadRequest("Failed to parse request. Required attribute 'direction' not specified")
		default:
			return neutron.InvalidAttribute("direction", fmt.Sprintf("%s is not in valid_values", r.Direction))
		}
	}
	if r.Protocol != nil {
		p, err := convertProtocol(*r.Protocol)
		if err != nil {
			if strict {
				return err
			}
		} else {
			r.Protocol = &p
		}
	}
	for _, port := range []*int{r.PortRangeMin, r.PortRangeMax} {
		if strict && port != nil && (*port < 0 || *port > 65535) {
			return errInvalidPortValue(*port)
		}
	}
	switch e := asciiLower(r.Ethertype); e {
	case "":
		r.Ethertype = EthertypeIPv4
	case "ipv4":
		r.Ethertype = EthertypeIPv4
	case "ipv6":
		r.Ethertype = EthertypeIPv6
	default:
		if strict {
			return errInvalidEtherType(r.Ethertype)
		}
	}
	if r.RemoteIPPrefix != nil {
		if *r.RemoteIPPrefix == "" {
			r.RemoteIPPrefix = nil
		} else if s, _, ok := CanonicalPrefix(*r.RemoteIPPrefix); ok {
			r.RemoteIPPrefix = &s
		} else if strict {
			return errInvalidCIDR(*r.RemoteIPPrefix)
		}
	}
	return nil
}

// canonicalize is _make_canonical_ipv6_icmp_protocol followed by
// _make_canonical_port_range.
func canonicalize(r *Rule) {
	if r.Ethertype == EthertypeIPv6 && r.Protocol != nil {
		switch *r.Protocol {
		case ProtoICMP, ProtoIPv6ICMPLegacy:
			p := ProtoIPv6ICMP
			r.Protocol = &p
		case "1":
			p := "58"
			r.Protocol = &p
		}
	}
	if r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == 1 && *r.PortRangeMax == 65535 {
		r.PortRangeMin, r.PortRangeMax = nil, nil
	}
}

// checkPortRange is _validate_port_range.
func checkPortRange(r *Rule) error {
	min, max := r.PortRangeMin, r.PortRangeMax
	if min == nil && max == nil {
		return nil
	}
	if r.Protocol == nil {
		return errProtocolRequiredWithPorts()
	}
	proto := protoNumber(*r.Protocol)
	switch {
	case portProtocols[proto]:
		if (min != nil && *min == 0) || (max != nil && *max == 0) {
			return errInvalidPortValue(0)
		}
		if min == nil || max == nil || *min > *max {
			return errInvalidPortRange()
		}
	case proto == 1 || proto == 58:
		if min != nil && (*min < 0 || *min > 255) {
			return errInvalidIcmpValue("type", "port_range_min", *min)
		}
		if max != nil && (*max < 0 || *max > 255) {
			return errInvalidIcmpValue("code", "port_range_max", *max)
		}
		if min == nil && max != nil {
			return errMissingIcmpType(*max)
		}
	default:
		return errInvalidProtocolForPort(proto)
	}
	return nil
}

// checkIPPrefix is _validate_ip_prefix (the prefix is already canonical).
func checkIPPrefix(r *Rule) error {
	if r.RemoteIPPrefix == nil {
		return nil
	}
	_, v, ok := CanonicalPrefix(*r.RemoteIPPrefix)
	if !ok {
		return errInvalidCIDR(*r.RemoteIPPrefix)
	}
	if r.Ethertype != fmt.Sprintf("IPv%d", v) {
		return errParameterConflict(r.Ethertype, *r.RemoteIPPrefix)
	}
	return nil
}

// checkEthertypeAndProtocol is _validate_ethertype_and_protocol.
func checkEthertypeAndProtocol(r *Rule) error {
	if r.Protocol != nil && ipv6OnlyProtocols[*r.Protocol] && r.Ethertype == EthertypeIPv4 {
		return errEthertypeConflictWithProtocol(r.Ethertype, *r.Protocol)
	}
	return nil
}

// checkRemotes is the remote_* exclusivity loop of _validate_security_group_rule.
func checkRemotes(r *Rule) error {
	n := 0
	for _, p := range []*string{r.RemoteIPPrefix, r.RemoteGroupID, r.RemoteAddressGroupID} {
		if p != nil && *p != "" {
			n++
		}
	}
	if n > 1 {
		return errMultipleRemoteEntities()
	}
	return nil
}

// DefaultRules returns the rules Neutron creates in a project's "default"
// security group, in Neutron's order: per ethertype (IPv4, then IPv6) an
// ingress rule from members of the group itself (remote_group_id =
// groupID) followed by an egress rule to anywhere. Protocol, ports and
// remote_ip_prefix are nil.
func DefaultRules(groupID string) []Rule {
	var rules []Rule
	for _, e := range []string{EthertypeIPv4, EthertypeIPv6} {
		id := groupID
		rules = append(rules,
			Rule{Direction: DirectionIngress, Ethertype: e, RemoteGroupID: &id},
			Rule{Direction: DirectionEgress, Ethertype: e})
	}
	return rules
}

// NewGroupRules returns the rules Neutron creates in any other new security
// group: egress IPv4 then egress IPv6, to anywhere, any protocol.
func NewGroupRules() []Rule {
	return []Rule{
		{Direction: DirectionEgress, Ethertype: EthertypeIPv4},
		{Direction: DirectionEgress, Ethertype: EthertypeIPv6},
	}
}

// ValidateGroupName is the "name_not_default" validator of a security
// group's name on POST and PUT: more than 255 characters -> 400
// HTTPBadRequest "Invalid input for name. Reason: '<name>' exceeds maximum
// length of 255."; "default" in any case -> 409
// SecurityGroupDefaultAlreadyExists. The "default" group Neutron creates
// itself does not go through this check.
func ValidateGroupName(name string) error {
	if utf8.RuneCountInString(name) > 255 {
		return neutron.InvalidAttribute("name", fmt.Sprintf("'%s' exceeds maximum length of 255", name))
	}
	if asciiLower(name) == "default" {
		return ErrDefaultAlreadyExists()
	}
	return nil
}
