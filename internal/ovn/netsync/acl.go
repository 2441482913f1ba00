package netsync

import (
	"fmt"
	"strconv"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovsdb/nb"
	"github.com/spinel-net/spinel/internal/secgroup"
)

// ruleACL translates a security group rule into the ACL of its port group,
// as Neutron's OVN driver does (neutron/common/ovn/acl.py,
// _add_sg_rule_acl_for_port_group). ok is false for a rule that cannot be
// expressed (an unknown protocol, which the API refuses anyway).
func ruleACL(pg string, stateful bool, r *model.SecurityGroupRule) (*ACL, bool) {
	// Direction: ingress rules filter what is delivered to the port.
	direction, portdir, srcdst := "from-lport", "inport", "dst"
	if r.Direction == "ingress" {
		direction, portdir, srcdst = "to-lport", "outport", "src"
	}
	match := fmt.Sprintf("%s == @%s", portdir, pg)

	ipVersion, icmp := "", ""
	switch r.Ethertype {
	case "IPv4":
		match += " && ip4"
		ipVersion, icmp = "ip4", "icmp4"
	case "IPv6":
		match += " && ip6"
		ipVersion, icmp = "ip6", "icmp6"
	}

	cidr := r.Normalized
	if cidr == nil {
		cidr = r.RemoteIPPrefix
	}
	if cidr != nil && *cidr != "" {
		match += fmt.Sprintf(" && %s.%s == %s", ipVersion, srcdst, *cidr)
	}
	if r.RemoteGroupID != nil && *r.RemoteGroupID != "" {
		// ovn-northd keeps an address set <port group>_ip4/_ip6 of every
		// port group's addresses.
		match += fmt.Sprintf(" && %s.%s == $%s_%s", ipVersion, srcdst, PortGroupName(*r.RemoteGroupID), ipVersion)
	}

	if r.Protocol != nil && *r.Protocol != "" {
		num, ok := secgroup.ProtocolNumber(*r.Protocol)
		if !ok {
			return nil, false
		}
		lo, hi := r.PortRangeMin, r.PortRangeMax
		switch num {
		case 6, 17, 132:
			name := map[int]string{6: "tcp", 17: "udp", 132: "sctp"}[num]
			match += " && " + name
			if lo != nil && hi != nil && *lo == *hi {
				match += fmt.Sprintf(" && %s.dst == %d", name, *lo)
			} else {
				if lo != nil {
					match += fmt.Sprintf(" && %s.dst >= %d", name, *lo)
				}
				if hi != nil {
					match += fmt.Sprintf(" && %s.dst <= %d", name, *hi)
				}
			}
		case 1, 58:
			match += " && " + icmp
			if lo != nil {
				match += fmt.Sprintf(" && %s.type == %d", icmp, *lo)
			}
			if hi != nil {
				match += fmt.Sprintf(" && %s.code == %d", icmp, *hi)
			}
		default:
			match += " && ip.proto == " + strconv.Itoa(num)
		}
	}

	action := "allow-related"
	if !stateful {
		action = "allow-stateless"
	}
	return &ACL{Key: r.ID, Row: nb.ACL{
		Priority:    priorityAllow,
		Direction:   direction,
		Match:       match,
		Action:      action,
		ExternalIDs: map[string]string{keySGRuleID: r.ID, OwnerKey: Owner},
	}}, true
}
