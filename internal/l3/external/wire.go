package external

import (
	"cmp"
	"slices"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

// Version is the version of the wire schema, sent in every body.
const Version = "v1"

// Router is the body of PUT /routers/{id}: the router's complete desired
// state. Lists are never null, and are sorted (interfaces by port id,
// floating IPs by id, subnets by id, routes by destination then nexthop),
// so the same state always encodes to the same bytes.
type Router struct {
	Version      string       `json:"version"`
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	ProjectID    string       `json:"project_id"`
	AdminStateUp bool         `json:"admin_state_up"`
	FlavorID     *string      `json:"flavor_id"`
	HA           bool         `json:"ha"`
	Distributed  bool         `json:"distributed"`
	Gateway      *Gateway     `json:"gateway"` // null without an external gateway
	Interfaces   []Interface  `json:"interfaces"`
	Routes       []Route      `json:"routes"`
	FloatingIPs  []FloatingIP `json:"floating_ips"`
}

// Gateway is the router's port on its external network.
type Gateway struct {
	NetworkID  string   `json:"network_id"`
	Network    Network  `json:"network"`
	Port       Port     `json:"port"`
	Subnets    []Subnet `json:"subnets"`
	EnableSNAT bool     `json:"enable_snat"`
}

// Interface is one router port on an internal network.
type Interface struct {
	PortID   string    `json:"port_id"`
	MAC      string    `json:"mac"`
	FixedIPs []FixedIP `json:"fixed_ips"`
	Network  Network   `json:"network"`
	Subnets  []Subnet  `json:"subnets"`
}

// Port is a router port.
type Port struct {
	ID       string    `json:"id"`
	MAC      string    `json:"mac"`
	FixedIPs []FixedIP `json:"fixed_ips"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// Network is what a backend needs to know of a network to attach to it.
type Network struct {
	ID              string  `json:"id"`
	Type            string  `json:"type"`             // provider:network_type: vlan, vxlan, flat, routed, ...
	PhysicalNetwork *string `json:"physical_network"` // null for overlay types
	SegmentationID  *int    `json:"segmentation_id"`  // null for flat and routed
	MTU             int     `json:"mtu"`
}

// Subnet is a subnet a router port has an address on.
type Subnet struct {
	ID        string  `json:"id"`
	CIDR      string  `json:"cidr"`
	GatewayIP *string `json:"gateway_ip"` // null without a gateway
	IPVersion int     `json:"ip_version"`
}

// Route is an extra route of the router.
type Route struct {
	Destination string `json:"destination"`
	Nexthop     string `json:"nexthop"`
}

// FloatingIP is a floating IP served by the router: a 1:1 NAT between
// FloatingIPAddress and FixedIPAddress on Port.
type FloatingIP struct {
	ID                string         `json:"id"`
	FloatingIPAddress string         `json:"floating_ip_address"`
	FloatingNetworkID string         `json:"floating_network_id"`
	FixedIPAddress    string         `json:"fixed_ip_address"`
	Port              FloatingIPPort `json:"port"`
}

// FloatingIPPort is the port a floating IP maps to.
type FloatingIPPort struct {
	ID        string `json:"id"`
	MAC       string `json:"mac"`
	Host      string `json:"host"` // binding:host_id; "" while unbound
	NetworkID string `json:"network_id"`
}

// DeleteRequest is the body of DELETE /routers/{id}. It exists so that the
// signature binds the router id: a backend must refuse a DELETE whose body
// id differs from the id in its path.
type DeleteRequest struct {
	Version string `json:"version"`
	ID      string `json:"id"`
}

// Answer is the JSON a backend answers a PUT with. An absent status means
// ACTIVE; a floating IP absent from FloatingIPs is DOWN.
type Answer struct {
	Status      string            `json:"status,omitempty"`
	FloatingIPs map[string]string `json:"floating_ips,omitempty"`
}

// The statuses of Answer.
const (
	StatusActive = "ACTIVE"
	StatusDown   = "DOWN"
	StatusError  = "ERROR"
)

// FromDesired is the wire form of a router's desired state. Floating IPs
// without a port or fixed address (not associated) are left out.
func FromDesired(d *l3.Router) Router {
	r := &d.Router
	out := Router{
		Version: Version, ID: r.ID, Name: r.Name, ProjectID: r.ProjectID, AdminStateUp: r.AdminStateUp,
		HA: r.HA, Distributed: r.Distributed,
		Interfaces: []Interface{}, Routes: []Route{}, FloatingIPs: []FloatingIP{},
	}
	if r.FlavorID != nil {
		out.FlavorID = new(*r.FlavorID)
	} else if d.Flavor != nil {
		out.FlavorID = new(d.Flavor.ID)
	}
	if g := d.Gateway; g != nil {
		out.Gateway = &Gateway{
			NetworkID: g.Network.ID, Network: network(&g.Network),
			Port:    Port{ID: g.Port.ID, MAC: g.Port.MACAddress, FixedIPs: fixedIPs(g.Port.FixedIPs)},
			Subnets: subnets(g.Subnets), EnableSNAT: g.EnableSNAT,
		}
		if out.Gateway.NetworkID == "" {
			out.Gateway.NetworkID = g.Port.NetworkID
		}
	}
	for i := range d.Interfaces {
		in := &d.Interfaces[i]
		out.Interfaces = append(out.Interfaces, Interface{
			PortID: in.Port.ID, MAC: in.Port.MACAddress, FixedIPs: fixedIPs(in.Port.FixedIPs),
			Network: network(&in.Network), Subnets: subnets(in.Subnets),
		})
	}
	slices.SortFunc(out.Interfaces, func(a, b Interface) int { return cmp.Compare(a.PortID, b.PortID) })
	for _, rt := range r.Routes {
		out.Routes = append(out.Routes, Route{Destination: rt.Destination, Nexthop: rt.Nexthop})
	}
	slices.SortFunc(out.Routes, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Destination, b.Destination), cmp.Compare(a.Nexthop, b.Nexthop))
	})
	for i := range d.FloatingIPs {
		f := &d.FloatingIPs[i]
		if f.Port == nil || f.FloatingIP.FixedIPAddress == nil {
			continue
		}
		out.FloatingIPs = append(out.FloatingIPs, FloatingIP{
			ID: f.FloatingIP.ID, FloatingIPAddress: f.FloatingIP.FloatingIPAddress,
			FloatingNetworkID: f.FloatingIP.FloatingNetworkID, FixedIPAddress: *f.FloatingIP.FixedIPAddress,
			Port: FloatingIPPort{ID: f.Port.ID, MAC: f.Port.MACAddress, Host: f.Port.HostID, NetworkID: f.Port.NetworkID},
		})
	}
	slices.SortFunc(out.FloatingIPs, func(a, b FloatingIP) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func network(n *model.Network) Network {
	return Network{ID: n.ID, Type: n.NetworkType, PhysicalNetwork: n.PhysicalNetwork, SegmentationID: n.SegmentationID, MTU: n.MTU}
}

func fixedIPs(in []model.FixedIP) []FixedIP {
	out := make([]FixedIP, 0, len(in))
	for _, f := range in {
		out = append(out, FixedIP{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
	}
	return out
}

func subnets(in []model.Subnet) []Subnet {
	out := make([]Subnet, 0, len(in))
	for i := range in {
		s := &in[i]
		out = append(out, Subnet{ID: s.ID, CIDR: s.CIDR, GatewayIP: s.GatewayIP, IPVersion: s.IPVersion})
	}
	slices.SortFunc(out, func(a, b Subnet) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
