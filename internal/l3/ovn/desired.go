package ovn

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

// Names and external_ids keys, as Neutron's OVN driver has them
// (neutron/common/ovn/constants.py), so that tools written for Neutron
// read spinel's rows.
const (
	keyRouterName   = "neutron:router_name"
	keyRouterID     = "neutron:router_id"
	keyGWPortID     = "neutron:gw_port_id"
	keyGWNetworkID  = "neutron:gw_network_id"
	keyRevision     = "neutron:revision_number"
	keyAZHints      = "neutron:availability_zone_hints"
	keySubnetIDs    = "neutron:subnet_ids"
	keySubnetID     = "neutron:subnet_id"
	keyNetworkName  = "neutron:network_name"
	keyIsExtGW      = "neutron:is_ext_gw"
	keyFIPID        = "neutron:fip_id"
	keyFIPPortID    = "neutron:fip_port_id"
	keyFIPExtMAC    = "neutron:fip_external_mac"
	keyFIPNetworkID = "neutron:fip_network_id"

	// OwnerKey marks, in external_ids, every row this driver writes; it
	// changes and removes no row without it.
	OwnerKey = "spinel:owner"
	// OwnerValue is OwnerKey's value on this driver's rows.
	OwnerValue = "l3-ovn"

	optResideRedirect = "reside-on-redirect-chassis"
)

// RouterName is the Logical_Router name of a router: "neutron-<id>".
func RouterName(routerID string) string { return "neutron-" + routerID }

// PortName is the Logical_Router_Port name of a router port: "lrp-<port
// id>". The network backend names the peer switch port "<port id>" with
// options:router-port set to it.
func PortName(portID string) string { return "lrp-" + portID }

// routerIDOf returns the router id of a Logical_Router name, or "".
func routerIDOf(name string) string {
	id, ok := strings.CutPrefix(name, "neutron-")
	if !ok {
		return ""
	}
	return id
}

// The northbound rows of one router, as this driver wants them. Slices are
// sorted by their key so that equal states compare equal.
type lrRow struct {
	Name        string
	Enabled     bool
	ExternalIDs map[string]string
	Options     map[string]string
	Ports       []lrpRow
	NAT         []natRow
	Routes      []routeRow
}

type lrpRow struct {
	Name          string
	MAC           string
	Networks      []string
	Options       map[string]string
	IPv6RAConfigs map[string]string
	ExternalIDs   map[string]string
	Chassis       []gcRow
}

type gcRow struct {
	Name        string
	ChassisName string
	Priority    int
	ExternalIDs map[string]string
}

type natRow struct {
	Type        string // snat or dnat_and_snat
	ExternalIP  string
	LogicalIP   string
	LogicalPort string // "" for none
	ExternalMAC string // "" for none
	ExternalIDs map[string]string
}

func (n natRow) key() string { return n.Type + "|" + n.ExternalIP + "|" + n.LogicalIP }

type routeRow struct {
	IPPrefix    string
	Nexthop     string
	ExternalIDs map[string]string
}

func (r routeRow) key() string { return r.IPPrefix + "|" + r.Nexthop }

// owned returns external_ids with the owner marker added to kv pairs.
func owned(kv ...string) map[string]string {
	m := map[string]string{OwnerKey: OwnerValue}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func rev(n int64) string { return strconv.FormatInt(n, 10) }

// build maps a router's desired state to its northbound rows. It is pure.
func build(d *l3.Router, chassis []GatewayChassis) *lrRow {
	r := &d.Router
	gwPort, gwNet := "", ""
	if d.Gateway != nil {
		gwPort, gwNet = d.Gateway.Port.ID, d.Gateway.Network.ID
	}
	lr := &lrRow{
		Name:    RouterName(r.ID),
		Enabled: r.AdminStateUp,
		ExternalIDs: owned(
			keyRouterName, r.Name,
			keyRouterID, r.ID,
			keyGWPortID, gwPort,
			keyGWNetworkID, gwNet,
			keyRevision, rev(r.RevisionNumber),
			keyAZHints, strings.Join(r.AvailabilityZoneHints, ","),
		),
		Options: map[string]string{"always_learn_from_arp_request": "false", "dynamic_neigh_routers": "true"},
	}

	var snatSources []string // internal IPv4 subnets, for SNAT
	for _, in := range d.Interfaces {
		p, ok := routerPort(r, &in.Port, &in.Network, in.Subnets, false)
		if !ok {
			continue
		}
		if in.Network.NetworkType == "vlan" {
			// As Neutron: route a VLAN network's traffic on the chassis of
			// the gateway port unless floating IPs are distributed.
			p.Options[optResideRedirect] = strconv.FormatBool(!r.Distributed)
		}
		lr.Ports = append(lr.Ports, p)
		for _, s := range in.Subnets {
			if s.IPVersion == 4 && !slices.Contains(snatSources, s.CIDR) && hasIPOn(&in.Port, s.ID) {
				snatSources = append(snatSources, s.CIDR)
			}
		}
	}

	seenRoute := map[string]bool{}
	addRoute := func(rt routeRow) {
		if !seenRoute[rt.key()] {
			seenRoute[rt.key()] = true
			lr.Routes = append(lr.Routes, rt)
		}
	}
	seenNAT := map[string]bool{}
	addNAT := func(n natRow) {
		if !seenNAT[n.key()] {
			seenNAT[n.key()] = true
			lr.NAT = append(lr.NAT, n)
		}
	}

	if g := d.Gateway; g != nil {
		if p, ok := routerPort(r, &g.Port, &g.Network, g.Subnets, true); ok {
			for _, c := range chassis {
				p.Chassis = append(p.Chassis, gcRow{Name: p.Name + "_" + c.Name, ChassisName: c.Name, Priority: c.Priority, ExternalIDs: owned()})
			}
			slices.SortFunc(p.Chassis, func(a, b gcRow) int { return strings.Compare(a.Name, b.Name) })
			lr.Ports = append(lr.Ports, p)
			subnets := subnetMap(g.Subnets)
			for _, f := range g.Port.FixedIPs {
				s, ok := subnets[f.SubnetID]
				if !ok {
					continue
				}
				if s.GatewayIP != nil && *s.GatewayIP != "" {
					prefix := "0.0.0.0/0"
					if s.IPVersion == 6 {
						prefix = "::/0"
					}
					addRoute(routeRow{IPPrefix: prefix, Nexthop: *s.GatewayIP,
						ExternalIDs: owned(keyIsExtGW, "true", keySubnetID, s.ID)})
				}
				if s.IPVersion == 4 && g.EnableSNAT {
					for _, src := range snatSources {
						addNAT(natRow{Type: "snat", ExternalIP: f.IPAddress, LogicalIP: src, ExternalIDs: owned()})
					}
				}
			}
		}
	}

	for _, rt := range r.Routes {
		addRoute(routeRow{IPPrefix: canonicalPrefix(rt.Destination), Nexthop: rt.Nexthop, ExternalIDs: owned()})
	}

	for _, f := range d.FloatingIPs {
		fip := &f.FloatingIP
		if f.Port == nil || fip.FixedIPAddress == nil || *fip.FixedIPAddress == "" {
			continue
		}
		n := natRow{
			Type: "dnat_and_snat", ExternalIP: fip.FloatingIPAddress, LogicalIP: *fip.FixedIPAddress,
			LogicalPort: f.Port.ID,
			ExternalIDs: owned(
				keyFIPID, fip.ID,
				keyRevision, rev(fip.RevisionNumber),
				keyFIPPortID, f.Port.ID,
				keyRouterName, RouterName(r.ID),
				keyFIPExtMAC, f.Port.MACAddress,
				keyFIPNetworkID, fip.FloatingNetworkID,
			),
		}
		if r.Distributed {
			// Distributed floating IP: NATed on the chassis of the VM,
			// which answers for it with the VM port's MAC.
			n.ExternalMAC = f.Port.MACAddress
		}
		addNAT(n)
	}

	slices.SortFunc(lr.Ports, func(a, b lrpRow) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(lr.NAT, func(a, b natRow) int { return strings.Compare(a.key(), b.key()) })
	slices.SortFunc(lr.Routes, func(a, b routeRow) int { return strings.Compare(a.key(), b.key()) })
	return lr
}

// routerPort builds the Logical_Router_Port of a router port: its MAC and
// its addresses with their subnets' prefix lengths. ok is false for a port
// without addresses, which OVN cannot hold.
func routerPort(r *model.Router, p *model.Port, n *model.Network, subnets []model.Subnet, gateway bool) (lrpRow, bool) {
	sm := subnetMap(subnets)
	var networks, subnetIDs []string
	ra := map[string]string{}
	for _, f := range p.FixedIPs {
		s, ok := sm[f.SubnetID]
		if !ok {
			continue
		}
		pfx, err := netip.ParsePrefix(s.CIDR)
		addr, err2 := netip.ParseAddr(f.IPAddress)
		if err != nil || err2 != nil {
			continue
		}
		networks = append(networks, netip.PrefixFrom(addr, pfx.Bits()).String())
		subnetIDs = append(subnetIDs, s.ID)
		if s.IPVersion == 6 && s.IPv6AddressMode != nil && len(ra) == 0 {
			if mode, ok := raModes[*s.IPv6AddressMode]; ok {
				ra["address_mode"] = mode
				ra["send_periodic"] = "true"
				if gateway && n.NetworkType != "geneve" {
					// Do not leak the tenants' RAs onto a provider network.
					ra["send_periodic"] = "false"
				}
				if n.MTU > 0 {
					ra["mtu"] = strconv.Itoa(n.MTU)
				}
			}
		}
	}
	if len(networks) == 0 {
		return lrpRow{}, false
	}
	slices.Sort(networks)
	networks = slices.Compact(networks)
	ids := owned(
		keyRevision, rev(p.RevisionNumber),
		keySubnetIDs, strings.Join(subnetIDs, " "),
		keyNetworkName, "neutron-"+p.NetworkID,
		keyRouterName, r.ID,
	)
	if gateway {
		ids[keyIsExtGW] = "True"
	}
	return lrpRow{Name: PortName(p.ID), MAC: p.MACAddress, Networks: networks, Options: map[string]string{},
		IPv6RAConfigs: ra, ExternalIDs: ids}, true
}

// raModes maps Neutron's ipv6_address_mode to OVN's address_mode.
var raModes = map[string]string{"slaac": "slaac", "dhcpv6-stateful": "dhcpv6_stateful", "dhcpv6-stateless": "dhcpv6_stateless"}

func subnetMap(subnets []model.Subnet) map[string]*model.Subnet {
	m := make(map[string]*model.Subnet, len(subnets))
	for i := range subnets {
		m[subnets[i].ID] = &subnets[i]
	}
	return m
}

func hasIPOn(p *model.Port, subnetID string) bool {
	return slices.ContainsFunc(p.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == subnetID })
}

// canonicalPrefix writes a CIDR as OVN prints it; a string that is not a
// CIDR is kept (the API validated it).
func canonicalPrefix(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	return s
}
