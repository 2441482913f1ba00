package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
)

// Router port owners, as Neutron names them.
const (
	OwnerRouterInterface = "network:router_interface"
	OwnerRouterGateway   = "network:router_gateway"
	OwnerFloatingIP      = "network:floatingip"
)

// isL3Port reports whether a port belongs to a router or floating IP and
// so may not be deleted through the port API.
func isL3Port(owner string) bool {
	return owner == OwnerRouterInterface || owner == OwnerRouterGateway || owner == OwnerFloatingIP ||
		owner == "network:router_interface_distributed" || owner == "network:ha_router_replicated_interface"
}

// Option configures a Service.
type Option func(*Service)

// WithDrivers gives the service its L3 flavor drivers, by driver name.
func WithDrivers(d map[string]l3.Driver) Option {
	return func(s *Service) { s.drivers = d }
}

// Driver returns the driver of the named provider.
func (s *Service) Driver(provider string) (l3.Driver, l3.Provider, bool) {
	for _, p := range s.cfg.Providers {
		if p.Name == provider && p.ServiceType == l3.ServiceType {
			d, ok := s.drivers[p.Driver]
			return d, p, ok
		}
	}
	return nil, l3.Provider{}, false
}

// flavorName names a router's flavor in messages.
func (s *Service) flavorName(r *model.Router) string {
	if r.FlavorID == nil {
		return fmt.Sprintf("default (provider %s)", r.Provider)
	}
	name := *r.FlavorID
	if e, ok := s.cache.Get("flavor", *r.FlavorID); ok && e.Obj.(*model.Flavor).Name != "" {
		name = e.Obj.(*model.Flavor).Name
	}
	return fmt.Sprintf("%s (provider %s)", name, r.Provider)
}

// checkSupport enforces one capability flag against a requested value.
func checkSupport(provider, attr string, sup l3.Support, requested bool) error {
	if requested && sup == l3.Unsupported || !requested && sup == l3.Mandatory {
		return neutron.InvalidInput("Provider %s does not support %s=%s", provider, attr, pyBool(requested))
	}
	return nil
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// validateL3 enforces the driver's declared capabilities on the desired
// state of a router and then asks the driver itself. Nothing is written
// when it fails.
func (s *Service) validateL3(op l3.Operation, d *l3.Router) error {
	r := &d.Router
	if r.FlavorID != nil && d.Profile == nil {
		if f, p, err := s.FlavorProfile(*r.FlavorID); err == nil {
			d.Flavor, d.Profile = f, p
		}
	}
	drv, _, ok := s.Driver(r.Provider)
	if !ok {
		return neutron.Newf(500, "HTTPInternalServerError", "No driver is loaded for provider %s.", r.Provider)
	}
	caps := drv.Capabilities()
	routable := func(n *model.Network) error {
		if len(caps.NetworkTypes) > 0 && !slices.Contains(caps.NetworkTypes, n.NetworkType) {
			return neutron.InvalidInput("router %s of flavor %s cannot route network %s: its provider routes only %s networks, not %s",
				r.ID, s.flavorName(r), n.ID, strings.Join(caps.NetworkTypes, ", "), n.NetworkType)
		}
		return nil
	}
	if d.Gateway != nil {
		if err := routable(&d.Gateway.Network); err != nil {
			return err
		}
	}
	for i := range d.Interfaces {
		if err := routable(&d.Interfaces[i].Network); err != nil {
			return err
		}
	}
	if len(d.FloatingIPs) > 0 && !caps.FloatingIPs {
		return neutron.InvalidInput("router %s of flavor %s cannot serve floating IPs", r.ID, s.flavorName(r))
	}
	if err := drv.Validate(op, d); err != nil {
		if ne, ok := neutron.As(err); ok {
			return ne
		}
		return neutron.InvalidInput("flavor %s refused %s of router %s: %v", s.flavorName(r), op, r.ID, err)
	}
	return nil
}

// desiredRouter assembles the complete desired state of router r from the cache.
func (s *Service) desiredRouter(r *model.Router) *l3.Router {
	d := &l3.Router{Router: *r}
	if r.FlavorID != nil {
		if e, ok := s.cache.Get("flavor", *r.FlavorID); ok {
			f := *e.Obj.(*model.Flavor)
			d.Flavor = &f
			if _, p, err := s.FlavorProfile(f.ID); err == nil {
				d.Profile = p
			}
		}
	}
	subnetsOf := func(p *model.Port) []model.Subnet {
		var out []model.Subnet
		for _, f := range p.FixedIPs {
			if e, ok := s.cache.Get("subnet", f.SubnetID); ok {
				out = append(out, *e.Obj.(*model.Subnet))
			}
		}
		return out
	}
	network := func(id string) model.Network {
		if e, ok := s.cache.Get("network", id); ok {
			return *e.Obj.(*model.Network)
		}
		return model.Network{}
	}
	for _, pe := range sortedEntries(s.cache.ByIndex("port", "device", r.ID)) {
		p := *pe.Obj.(*model.Port)
		switch p.DeviceOwner {
		case OwnerRouterGateway:
			snat := true
			if r.GatewayInfo != nil && r.GatewayInfo.EnableSNAT != nil {
				snat = *r.GatewayInfo.EnableSNAT
			}
			d.Gateway = &l3.Gateway{Network: network(p.NetworkID), Port: p, Subnets: subnetsOf(&p), EnableSNAT: snat}
		case OwnerRouterInterface:
			d.Interfaces = append(d.Interfaces, l3.Interface{Port: p, Network: network(p.NetworkID), Subnets: subnetsOf(&p)})
		}
	}
	for _, fe := range sortedEntries(s.cache.ByIndex("floatingip", "router", r.ID)) {
		f := *fe.Obj.(*model.FloatingIP)
		if f.PortID == nil {
			continue
		}
		var port *model.Port
		if pe, ok := s.cache.Get("port", *f.PortID); ok {
			p := *pe.Obj.(*model.Port)
			port = &p
		}
		d.FloatingIPs = append(d.FloatingIPs, l3.FloatingIP{FloatingIP: f, Port: port})
	}
	return d
}

func sortedEntries(es []*cache.Entry) []*cache.Entry {
	slices.SortFunc(es, func(a, b *cache.Entry) int { return strings.Compare(a.Obj.GetID(), b.Obj.GetID()) })
	return es
}
