package secgroup

import (
	"strconv"
	"strings"
)

// ruleKey is Neutron's _rule_to_key of a rule (without security_group_id:
// rules are only compared within one group). Absent values are nil.
type ruleKey struct {
	direction      string
	ethertype      string
	protocol       *string // protoKey form
	portMin        *int
	portMax        *int
	remoteIPPrefix *string // nil also for "0.0.0.0/0" and "::/0"
	remoteGroup    *string
	remoteAddrGrp  *string
}

// canonical applies Validate's normalisations without its checks: values
// that Validate would reject are compared as given.
func canonical(r Rule) Rule {
	_ = convertAttributes(&r, false)
	canonicalize(&r)
	return r
}

func keyOf(r Rule) ruleKey {
	c := canonical(r)
	k := ruleKey{
		direction:     c.Direction,
		ethertype:     c.Ethertype,
		portMin:       c.PortRangeMin,
		portMax:       c.PortRangeMax,
		remoteGroup:   c.RemoteGroupID,
		remoteAddrGrp: c.RemoteAddressGroupID,
	}
	if c.Protocol != nil {
		p := protoKey(*c.Protocol, c.Ethertype)
		k.protocol = &p
	}
	if c.RemoteIPPrefix != nil && *c.RemoteIPPrefix != "0.0.0.0/0" && *c.RemoteIPPrefix != "::/0" {
		k.remoteIPPrefix = c.RemoteIPPrefix
	}
	return k
}

func eqStr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
func eqInt(a, b *int) bool    { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// Duplicate reports whether Neutron considers a and b (rules of the same
// group) duplicates, i.e. whether their _rule_to_key keys are equal after
// Validate's normalisation (applied here too, best effort, so raw and
// validated forms of a rule compare equal). Equal are:
//   - protocols naming the same entry: "tcp" == "TCP" == "6", "0" == "ip"
//     (but not "hopopt"), and with ethertype IPv6 "icmp" == "icmpv6" ==
//     "ipv6-icmp" == "1" == "58";
//   - remote_ip_prefix nil == "" == "0.0.0.0/0" == "::/0", and prefixes
//     with the same canonical form ("10.0.0.5" == "10.0.0.5/32"); prefixes
//     differing only in host bits are NOT equal ("10.0.0.5/24" !=
//     "10.0.0.0/24"), as in Neutron;
//   - ports 1..65535 == no ports;
//   - ethertype compared case-insensitively, "" == "IPv4".
//
// Direction, remote_group_id and remote_address_group_id must be equal
// (nil differs from ""). Duplicate(a, b) == (Fingerprint(a) == Fingerprint(b)).
func Duplicate(a, b Rule) bool {
	ka, kb := keyOf(a), keyOf(b)
	return ka.direction == kb.direction && ka.ethertype == kb.ethertype &&
		eqStr(ka.protocol, kb.protocol) && eqInt(ka.portMin, kb.portMin) && eqInt(ka.portMax, kb.portMax) &&
		eqStr(ka.remoteIPPrefix, kb.remoteIPPrefix) && eqStr(ka.remoteGroup, kb.remoteGroup) &&
		eqStr(ka.remoteAddrGrp, kb.remoteAddrGrp)
}

// Fingerprint returns a canonical string of the rule-defining attributes
// such that Fingerprint(a) == Fingerprint(b) exactly when Duplicate(a, b).
// It never contains '/' (nor control characters), so it can be a path
// segment of a uniqueness key such as
// "<group id>/<Fingerprint>". Format: eight '|'-separated fields —
// direction ("I" ingress, "E" egress), ethertype ("4", "6"), protocol,
// port_range_min, port_range_max, remote_ip_prefix, remote_group_id,
// remote_address_group_id — with absent values empty, e.g.
// "I|4|tcp|22|22|10.0.0.0%2F24||" or "E|6||||||". Other characters are
// escaped as %XX where needed to keep the encoding injective.
func Fingerprint(r Rule) string {
	k := keyOf(r)
	f := []string{
		abbrev(k.direction, DirectionIngress, "I", DirectionEgress, "E"),
		abbrev(k.ethertype, EthertypeIPv4, "4", EthertypeIPv6, "6"),
		optStr(k.protocol),
		optInt(k.portMin),
		optInt(k.portMax),
		optStr(k.remoteIPPrefix),
		optStr(k.remoteGroup),
		optStr(k.remoteAddrGrp),
	}
	return strings.Join(f, "|")
}

// abbrev shortens the two usual values of a field; other values are
// escaped behind '~' (which esc escapes), so they cannot collide.
func abbrev(v, a, aa, b, bb string) string {
	switch v {
	case a:
		return aa
	case b:
		return bb
	}
	return "~" + esc(v)
}

func optStr(p *string) string {
	if p == nil {
		return ""
	}
	return esc(*p)
}

func optInt(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

// esc percent-encodes '%', '/', '|', '~' and control bytes. The empty
// string becomes a lone "%", which no non-empty string escapes to, keeping
// "" distinct from an absent value.
func esc(s string) string {
	if s == "" {
		return "%"
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '/' || c == '|' || c == '~' || c < 0x20 || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// StoredRule is a rule already in the group, with its id.
type StoredRule struct {
	ID string
	Rule
}

// CheckDuplicates is Neutron's _check_for_duplicate_rules for rules to be
// added to one group: if two of newRules are duplicates it returns 409
// DuplicateSecurityGroupRuleInPost; otherwise, for the first rule of
// existing (in the given order) that duplicates any new rule, 409
// SecurityGroupRuleExists naming that rule's id; otherwise nil.
// Neutron runs it after Validate succeeded for every new rule.
func CheckDuplicates(newRules []Rule, existing []StoredRule) error {
	seen := make(map[string]bool, len(newRules))
	for _, r := range newRules {
		fp := Fingerprint(r)
		if seen[fp] {
			return ErrDuplicateRuleInPost()
		}
		seen[fp] = true
	}
	for _, e := range existing {
		if seen[Fingerprint(e.Rule)] {
			return ErrRuleExists(e.ID)
		}
	}
	return nil
}
