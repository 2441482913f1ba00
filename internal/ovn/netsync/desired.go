package netsync

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovsdb/nb"
)

// Names and external_ids keys, as Neutron's OVN driver has them
// (neutron/common/ovn/constants.py and utils.py), so that tools written
// for Neutron read spinel's rows.
const (
	// OwnerKey and Owner mark every row netsync writes; it changes and
	// removes only rows carrying them.
	OwnerKey = "spinel:owner"
	Owner    = "netsync"

	// DropPortGroup holds every port with port security: its ACLs drop all
	// IP traffic that no security group rule allows.
	DropPortGroup = "neutron_pg_drop"

	keyNetworkName = "neutron:network_name"
	keyMTU         = "neutron:mtu"
	keyRevision    = "neutron:revision_number"
	keyAZHints     = "neutron:availability_zone_hints"
	keyPortName    = "neutron:port_name"
	keyDeviceID    = "neutron:device_id"
	keyProjectID   = "neutron:project_id"
	keyCIDRs       = "neutron:cidrs"
	keyDeviceOwner = "neutron:device_owner"
	keySGIDs       = "neutron:security_group_ids"
	keySGID        = "neutron:security_group_id"
	keySGRuleID    = "neutron:security_group_rule_id"
	keySubnetID    = "subnet_id"
	keyACL         = "spinel:acl" // the drop ACLs' identity

	// ACL priorities of Neutron's OVN driver.
	priorityAllow = 1002
	priorityDrop  = 1001

	// DHCPLeaseTime is Neutron's ovn dhcp_default_lease_time.
	DHCPLeaseTime = 43200
)

// NetworkTypes are the provider:network_types the ovn backend realises.
var NetworkTypes = []string{"geneve", "vlan", "flat"}

// IsOVNType reports whether networks of type t are realised in OVN.
func IsOVNType(t string) bool { return slices.Contains(NetworkTypes, t) }

// SwitchName is the Logical_Switch of a network: "neutron-<id>".
func SwitchName(networkID string) string { return "neutron-" + networkID }

// LocalnetName is the localnet port of a provider network.
func LocalnetName(networkID string) string { return "provnet-" + networkID }

// RouterPortName is the Logical_Router_Port a router-type switch port
// "<port id>" is joined to (the L3 driver creates it).
func RouterPortName(portID string) string { return "lrp-" + portID }

// PortGroupName is a security group's Port_Group: "pg_<id with _ for ->".
func PortGroupName(sgID string) string { return strings.ReplaceAll("pg_"+sgID, "-", "_") }

// Input is the Neutron state netsync mirrors. Objects are shared: netsync
// never modifies them.
type Input struct {
	Networks       []*model.Network
	Subnets        []*model.Subnet
	Ports          []*model.Port
	SecurityGroups []*model.SecurityGroup
	Rules          []*model.SecurityGroupRule
}

// Switch is a network's desired Logical_Switch with its ports and DHCP
// options.
type Switch struct {
	Row   nb.LogicalSwitch // Name, OtherConfig, ExternalIDs
	Ports []*SwitchPort
	DHCP  []*DHCP
}

// SwitchPort is a desired Logical_Switch_Port. DHCPv4 and DHCPv6 name the
// subnet whose DHCP options the port uses ("" for none).
type SwitchPort struct {
	Row            nb.LogicalSwitchPort // all but the DHCP references
	DHCPv4, DHCPv6 string
}

// DHCP is a subnet's desired DHCP_Options.
type DHCP struct {
	SubnetID string
	Row      nb.DHCPOptions
}

// PortGroup is a desired Port_Group with its ACLs; Ports are switch port
// names.
type PortGroup struct {
	Row   nb.PortGroup // Name, ExternalIDs
	Ports []string
	ACLs  []*ACL
}

// ACL is a desired ACL; Key identifies it within its port group.
type ACL struct {
	Key string
	Row nb.ACL
}

// Desired is the complete northbound state of the ovn network backend.
type Desired struct {
	Switches   []*Switch    // sorted by name
	PortGroups []*PortGroup // sorted by name
}

// Options shape the desired state.
type Options struct {
	// BaseMAC is the prefix of the DHCP servers' MAC addresses (the first
	// three bytes are used; default fa:16:3e:00:00:00).
	BaseMAC string
}

// Compute returns the desired northbound state for in. It is pure.
func Compute(in Input, opts Options) *Desired {
	base, _ := net.ParseMAC(opts.BaseMAC)
	if len(base) != 6 {
		base = net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 0}
	}
	nets := map[string]*model.Network{}
	for _, n := range in.Networks {
		if IsOVNType(n.NetworkType) {
			nets[n.ID] = n
		}
	}
	subnets := map[string]*model.Subnet{}
	subnetsOf := map[string][]*model.Subnet{}
	for _, s := range in.Subnets {
		if nets[s.NetworkID] != nil {
			subnets[s.ID] = s
			subnetsOf[s.NetworkID] = append(subnetsOf[s.NetworkID], s)
		}
	}
	sgs := map[string]*model.SecurityGroup{}
	for _, sg := range in.SecurityGroups {
		sgs[sg.ID] = sg
	}

	d := &Desired{}
	switches := map[string]*Switch{}
	dhcpOf := map[string]*DHCP{}
	for _, n := range nets {
		sw := &Switch{Row: nb.LogicalSwitch{
			Name: SwitchName(n.ID),
			OtherConfig: map[string]string{
				"mcast_snoop": "false", "mcast_flood_unregistered": "false", "vlan-passthru": "false",
			},
			ExternalIDs: map[string]string{
				keyNetworkName: n.Name,
				keyMTU:         strconv.Itoa(n.MTU),
				keyRevision:    strconv.FormatInt(n.RevisionNumber, 10),
				keyAZHints:     strings.Join(n.AvailabilityZoneHints, ","),
				OwnerKey:       Owner,
			},
		}}
		if (n.NetworkType == "vlan" || n.NetworkType == "flat") && n.PhysicalNetwork != nil {
			lp := nb.LogicalSwitchPort{
				Name:      LocalnetName(n.ID),
				Type:      "localnet",
				Addresses: []string{"unknown"},
				Options: map[string]string{
					"network_name": *n.PhysicalNetwork, "mcast_flood_reports": "true", "mcast_flood": "false",
				},
				ExternalIDs: map[string]string{OwnerKey: Owner},
			}
			if n.NetworkType == "vlan" && n.SegmentationID != nil {
				tag := *n.SegmentationID
				lp.Tag = &tag
			}
			sw.Ports = append(sw.Ports, &SwitchPort{Row: lp})
		}
		for _, s := range subnetsOf[n.ID] {
			if dh := dhcpOptions(s, n, base); dh != nil {
				sw.DHCP = append(sw.DHCP, dh)
				dhcpOf[s.ID] = dh
			}
		}
		sort.Slice(sw.DHCP, func(i, j int) bool { return sw.DHCP[i].SubnetID < sw.DHCP[j].SubnetID })
		switches[n.ID] = sw
		d.Switches = append(d.Switches, sw)
	}

	members := map[string][]string{} // port group name -> port names
	for _, p := range in.Ports {
		sw := switches[p.NetworkID]
		if sw == nil || p.DeviceOwner == "network:floatingip" {
			continue
		}
		sp := switchPort(p, nets[p.NetworkID], subnets, dhcpOf)
		sw.Ports = append(sw.Ports, sp)
		if len(sp.Row.PortSecurity) > 0 {
			members[DropPortGroup] = append(members[DropPortGroup], p.ID)
		}
		if !trusted(p) {
			for _, sg := range p.SecurityGroups {
				members[PortGroupName(sg)] = append(members[PortGroupName(sg)], p.ID)
			}
		}
	}
	for _, sw := range d.Switches {
		sort.Slice(sw.Ports, func(i, j int) bool { return sw.Ports[i].Row.Name < sw.Ports[j].Row.Name })
	}
	sort.Slice(d.Switches, func(i, j int) bool { return d.Switches[i].Row.Name < d.Switches[j].Row.Name })

	rulesOf := map[string][]*model.SecurityGroupRule{}
	for _, r := range in.Rules {
		rulesOf[r.SecurityGroupID] = append(rulesOf[r.SecurityGroupID], r)
	}
	drop := &PortGroup{Row: nb.PortGroup{Name: DropPortGroup, ExternalIDs: map[string]string{OwnerKey: Owner}}}
	for _, dir := range []struct{ direction, port string }{{"from-lport", "inport"}, {"to-lport", "outport"}} {
		drop.ACLs = append(drop.ACLs, &ACL{Key: "drop-" + dir.direction, Row: nb.ACL{
			Priority: priorityDrop, Direction: dir.direction, Action: "drop",
			Match:       fmt.Sprintf("%s == @%s && ip", dir.port, DropPortGroup),
			ExternalIDs: map[string]string{OwnerKey: Owner, keyACL: "drop-" + dir.direction},
		}})
	}
	d.PortGroups = append(d.PortGroups, drop)
	for _, sg := range sgs {
		pg := &PortGroup{Row: nb.PortGroup{Name: PortGroupName(sg.ID),
			ExternalIDs: map[string]string{keySGID: sg.ID, OwnerKey: Owner}}}
		for _, r := range rulesOf[sg.ID] {
			acl, ok := ruleACL(pg.Row.Name, sg.Stateful, r)
			if ok {
				pg.ACLs = append(pg.ACLs, acl)
			}
		}
		sort.Slice(pg.ACLs, func(i, j int) bool { return pg.ACLs[i].Key < pg.ACLs[j].Key })
		d.PortGroups = append(d.PortGroups, pg)
	}
	for _, pg := range d.PortGroups {
		pg.Ports = members[pg.Row.Name]
		sort.Strings(pg.Ports)
	}
	sort.Slice(d.PortGroups, func(i, j int) bool { return d.PortGroups[i].Row.Name < d.PortGroups[j].Row.Name })
	return d
}

// trusted is Neutron's is_lsp_trusted: ports of network devices (routers,
// DHCP, ...) are exempt from port security and security groups.
func trusted(p *model.Port) bool { return strings.HasPrefix(p.DeviceOwner, "network:") }

// networkDevice is Neutron's is_network_device_port: no DHCP for them.
func networkDevice(p *model.Port) bool {
	return strings.HasPrefix(p.DeviceOwner, "network:") || strings.HasPrefix(p.DeviceOwner, "neutron:")
}

func isRouterPort(owner string) bool {
	switch owner {
	case "network:router_interface", "network:router_gateway",
		"network:router_interface_distributed", "network:ha_router_replicated_interface":
		return true
	}
	return false
}

// switchPort is Neutron's create_port for the OVN driver.
func switchPort(p *model.Port, n *model.Network, subnets map[string]*model.Subnet, dhcpOf map[string]*DHCP) *SwitchPort {
	enabled := p.AdminStateUp
	var cidrs []string
	addr := p.MACAddress
	for _, ip := range p.FixedIPs {
		addr += " " + ip.IPAddress
		if s := subnets[ip.SubnetID]; s != nil {
			if pfx, err := netip.ParsePrefix(s.CIDR); err == nil {
				cidrs = append(cidrs, fmt.Sprintf("%s/%d", ip.IPAddress, pfx.Bits()))
			}
		}
	}
	sgIDs := ""
	if !trusted(p) {
		sgIDs = strings.Join(p.SecurityGroups, " ")
	}
	row := nb.LogicalSwitchPort{
		Name:    p.ID,
		Enabled: &enabled,
		Options: map[string]string{},
		ExternalIDs: map[string]string{
			keyPortName:    p.Name,
			keyDeviceID:    p.DeviceID,
			keyProjectID:   p.ProjectID,
			keyCIDRs:       strings.Join(cidrs, " "),
			keyDeviceOwner: p.DeviceOwner,
			keyNetworkName: SwitchName(p.NetworkID),
			keySGIDs:       sgIDs,
			keyRevision:    strconv.FormatInt(p.RevisionNumber, 10),
			OwnerKey:       Owner,
		},
	}
	sp := &SwitchPort{}
	if isRouterPort(p.DeviceOwner) {
		// The router's side is the Logical_Router_Port lrp-<id>.
		row.Type = "router"
		row.Addresses = []string{"router"}
		row.Options["router-port"] = RouterPortName(p.ID)
		if p.DeviceOwner == "network:router_gateway" {
			row.Options["nat-addresses"] = "router"
		}
		sp.Row = row
		return sp
	}
	if p.DeviceOwner == "network:distributed" {
		row.Type = "localport"
	} else {
		row.Options["mcast_flood_reports"] = "true"
	}
	if p.HostID != "" {
		row.Options["requested-chassis"] = p.HostID
	}
	if !networkDevice(p) {
		sp.DHCPv4 = portDHCP(p, 4, subnets, dhcpOf)
		sp.DHCPv6 = portDHCP(p, 6, subnets, dhcpOf)
	}
	var newMACs []string
	if p.PortSecurityEnabled && !trusted(p) {
		// _get_allowed_addresses_from_port: pairs with the port's MAC
		// extend its entry, others get entries of their own.
		own := addr
		extra := map[string]bool{}
		for _, ap := range p.AllowedAddressPairs {
			mac := ap.MACAddress
			if mac == "" || mac == p.MACAddress {
				own += " " + ap.IPAddress
				continue
			}
			extra[mac+" "+ap.IPAddress] = true
			if !slices.Contains(newMACs, mac) {
				newMACs = append(newMACs, mac)
			}
		}
		row.PortSecurity = append(row.PortSecurity, own)
		for e := range extra {
			row.PortSecurity = append(row.PortSecurity, e)
		}
		sort.Strings(row.PortSecurity)
	}
	if len(row.PortSecurity) > 0 || row.Type != "" || sp.DHCPv4 != "" || sp.DHCPv6 != "" {
		row.Addresses = append([]string{addr}, newMACs...)
	}
	if len(row.PortSecurity) == 0 && row.Type == "" {
		// Without port security the port may send from any MAC.
		row.Addresses = append(row.Addresses, "unknown")
	}
	sp.Row = row
	return sp
}

// portDHCP returns the subnet whose DHCP options serve the port for an IP
// version: its first address's subnet with options, preferring a stateful
// DHCPv6 subnet (Neutron's _get_subnet_dhcp_options_for_port).
func portDHCP(p *model.Port, version int, subnets map[string]*model.Subnet, dhcpOf map[string]*DHCP) string {
	var found []string
	for _, ip := range p.FixedIPs {
		a, err := netip.ParseAddr(ip.IPAddress)
		if err != nil || (version == 4) != a.Is4() {
			continue
		}
		if dhcpOf[ip.SubnetID] != nil && !slices.Contains(found, ip.SubnetID) {
			found = append(found, ip.SubnetID)
		}
	}
	if len(found) == 0 {
		return ""
	}
	if version == 6 {
		for _, id := range found {
			if dhcpOf[id].Row.Options["dhcpv6_stateless"] != "true" {
				return id
			}
		}
	}
	return found[0]
}

// dhcpOptions is Neutron's _get_ovn_dhcp_options for a subnet with DHCP
// enabled (nil otherwise, and for SLAAC subnets, which DHCPv6 does not
// serve).
func dhcpOptions(s *model.Subnet, n *model.Network, base net.HardwareAddr) *DHCP {
	if !s.EnableDHCP {
		return nil
	}
	if s.IPVersion == 6 && s.IPv6AddressMode != nil && *s.IPv6AddressMode == "slaac" {
		return nil
	}
	opts := map[string]string{}
	mac := serverMAC(base, s.ID)
	if s.IPVersion == 4 {
		// Without a gateway (and without a metadata port, which spinel's
		// ovn backend does not create) Neutron serves no DHCPv4 options.
		if s.GatewayIP != nil && *s.GatewayIP != "" {
			gw := *s.GatewayIP
			opts["server_id"] = gw
			opts["lease_time"] = strconv.Itoa(DHCPLeaseTime)
			opts["mtu"] = strconv.Itoa(n.MTU)
			opts["router"] = gw
			opts["server_mac"] = mac
			if dns := dnsServers(s.DNSNameservers, "0.0.0.0"); len(dns) > 0 {
				opts["dns_server"] = "{" + strings.Join(dns, ", ") + "}"
			}
			if len(s.HostRoutes) > 0 {
				var routes []string
				for _, r := range s.HostRoutes {
					routes = append(routes, r.Destination+","+r.Nexthop)
				}
				// RFC 3442: with option 121 clients ignore the router
				// option, so the default route goes in as well.
				routes = append(routes, "0.0.0.0/0,"+gw)
				opts["classless_static_route"] = "{" + strings.Join(routes, ", ") + "}"
			}
		}
	} else {
		opts["server_id"] = mac
		if dns := dnsServers(s.DNSNameservers, "::"); len(dns) > 0 {
			opts["dns_server"] = "{" + strings.Join(dns, ", ") + "}"
		}
		if s.IPv6AddressMode != nil && *s.IPv6AddressMode == "dhcpv6-stateless" {
			opts["dhcpv6_stateless"] = "true"
		}
	}
	return &DHCP{SubnetID: s.ID, Row: nb.DHCPOptions{
		CIDR:    s.CIDR,
		Options: opts,
		ExternalIDs: map[string]string{
			keySubnetID: s.ID,
			keyRevision: strconv.FormatInt(s.RevisionNumber, 10),
			OwnerKey:    Owner,
		},
	}}
}

// dnsServers drops everything when "any" is among the servers (Neutron:
// announce no resolver at all).
func dnsServers(servers []string, any string) []string {
	if slices.Contains(servers, any) {
		return nil
	}
	return servers
}

// serverMAC derives a stable DHCP server MAC for a subnet from the base MAC
// (Neutron picks a random one once; a reconciler needs the same one every
// time).
func serverMAC(base net.HardwareAddr, subnetID string) string {
	h := sha256.Sum256([]byte(subnetID))
	mac := net.HardwareAddr{base[0], base[1], base[2], h[0], h[1], h[2]}
	return mac.String()
}
