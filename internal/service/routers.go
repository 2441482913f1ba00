package service

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/store"
)

// MaxRoutes is the most extra routes a router may have (Neutron's max_routes).
const MaxRoutes = 30

func (s *Service) routerResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "router", New: func() model.Object { return &model.Router{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"flavor": func(o model.Object) []string {
					if f := o.(*model.Router).FlavorID; f != nil {
						return []string{*f}
					}
					return nil
				},
			}},
		Singular: "router", Plural: "routers", Tagged: true,
		Create: s.createRouter,
		Update: s.updateRouter,
		Delete: s.deleteRouter,
	}
}

// newDevicePort builds a port owned by a router or floating IP and adds it,
// with its address and MAC claims, to ch.
func (s *Service) newDevicePort(ch *store.Change, reserved *[]string, n *model.Network, owner, deviceID, project string, req []model.FixedIP) (*model.Port, error) {
	p := &model.Port{NetworkID: n.ID, AdminStateUp: true, DeviceOwner: owner, DeviceID: deviceID, Status: "ACTIVE",
		VNICType: "normal", IPAllocation: "immediate", PortSecurityEnabled: false}
	p.ID = newID()
	p.ProjectID, p.TenantID = project, project
	p.Stamp(s.now())
	p.MACAddress = s.randomMAC()
	claim(ch, s.macKey(n.ID, p.MACAddress), "port", p.ID)
	ips, err := s.allocateIPs(ch, reserved, n, p, req, req != nil, nil)
	if err != nil {
		return nil, err
	}
	p.FixedIPs = ips
	s.bindPort(n, p)
	s.putNew(ch, "port", p)
	return p, nil
}

// gatewayPort prepares a router's gateway port on the external network
// named by gi (validated), adding it to ch.
func (s *Service) gatewayPort(ctx context.Context, ch *store.Change, reserved *[]string, r *model.Router, gi *model.GatewayInfo) (*model.Port, *model.Network, error) {
	ne, ok := s.cache.Get("network", gi.NetworkID)
	if !ok || !s.visible(s.kinds["network"], s.creds(ctx), ne.Obj) {
		return nil, nil, neutron.ResourceNotFound("network", gi.NetworkID)
	}
	n := ne.Obj.(*model.Network)
	if !n.RouterExternal {
		return nil, nil, neutron.BadRequest("Bad router request: Network %s is not an external network.", n.ID)
	}
	var req []model.FixedIP
	if len(gi.ExternalFixedIPs) > 0 {
		for _, f := range gi.ExternalFixedIPs {
			if f.IPAddress != "" && f.SubnetID != "" {
				if se, ok := s.cache.Get("subnet", f.SubnetID); ok {
					if gw := se.Obj.(*model.Subnet).GatewayIP; gw != nil && *gw == f.IPAddress {
						return nil, nil, neutron.BadRequest("Bad router request: Requested external IP %s is the gateway IP of subnet %s.", f.IPAddress, f.SubnetID)
					}
				}
			}
			req = append(req, model.FixedIP{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
		}
	}
	p, err := s.newDevicePort(ch, reserved, n, OwnerRouterGateway, r.ID, "", req)
	if err != nil {
		return nil, nil, err
	}
	gi.ExternalFixedIPs = nil
	for _, f := range p.FixedIPs {
		gi.ExternalFixedIPs = append(gi.ExternalFixedIPs, model.ExternalFixedIP{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
	}
	if gi.EnableSNAT == nil {
		t := true
		gi.EnableSNAT = &t
	}
	return p, n, nil
}

// selectProvider chooses the provider that will own a new router and
// fills ha/distributed, as in the flavor specification (3.2-3.4).
func (s *Service) selectProvider(r *model.Router, present model.Present) error {
	var prov l3.Provider
	if present.Has("flavor_id") {
		if r.FlavorID == nil {
			return neutron.ResourceNotFound("flavor", "None")
		}
		_, profile, err := s.FlavorProfile(*r.FlavorID)
		if err != nil {
			return err
		}
		p, ok := s.ProviderFor(profile.Driver)
		if !ok {
			return neutron.NotFound("ServiceProfileDriverNotFound", "Service Profile driver %s could not be found.", profile.Driver)
		}
		prov = p
	} else if p, ok := s.DefaultProvider(l3.ServiceType); ok {
		prov = p
	} else {
		// No default: the first configured provider compatible with the
		// requested (or default false) ha and distributed, as Neutron does.
		found := false
		for _, p := range s.cfg.Providers {
			if p.ServiceType != l3.ServiceType {
				continue
			}
			drv, _, ok := s.Driver(p.Name)
			if !ok {
				continue
			}
			caps := drv.Capabilities()
			if checkSupport(p.Name, "ha", caps.HA, present.Has("ha") && r.HA || !present.Has("ha") && caps.HA == l3.Mandatory) == nil &&
				checkSupport(p.Name, "distributed", caps.Distributed, present.Has("distributed") && r.Distributed || !present.Has("distributed") && caps.Distributed == l3.Mandatory) == nil {
				prov, found = p, true
				break
			}
		}
		if !found {
			return neutron.Newf(501, "NotImplemented", "No L3 provider supports the requested ha and distributed values; choose a flavor.")
		}
	}
	drv, _, ok := s.Driver(prov.Name)
	if !ok {
		return neutron.NotFound("ServiceProfileDriverNotFound", "Service Profile driver %s could not be found.", prov.Driver)
	}
	caps := drv.Capabilities()
	for _, c := range []struct {
		attr string
		sup  l3.Support
		v    *bool
	}{{"ha", caps.HA, &r.HA}, {"distributed", caps.Distributed, &r.Distributed}} {
		if present.Has(c.attr) {
			if err := checkSupport(prov.Name, c.attr, c.sup, *c.v); err != nil {
				return err
			}
		} else {
			*c.v = c.sup == l3.Mandatory
		}
	}
	r.Provider = prov.Name
	return nil
}

func (s *Service) createRouter(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	r := &model.Router{}
	present, err := model.Decode(body, r, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &r.ProjectID, &r.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(ident, "create_router", s.target(ident, r), model.PolicyAttrs(body, r, model.Create)); err != nil {
		return nil, err
	}
	if !present.Has("admin_state_up") {
		r.AdminStateUp = true
	}
	if err := s.selectProvider(r, present); err != nil {
		return nil, err
	}
	r.ID = newID()
	r.Status = "BUILD"
	r.Routes = []model.Route{}
	r.Stamp(s.now())
	gi := r.GatewayInfo
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ch := &store.Change{}
		if r.FlavorID != nil {
			if err := s.GuardFlavor(ch, *r.FlavorID); err != nil {
				return nil, err
			}
		}
		d := &l3.Router{}
		if gi != nil {
			g := *gi
			r.GatewayInfo = &g
			p, n, err := s.gatewayPort(ctx, ch, reserved, r, r.GatewayInfo)
			if err != nil {
				return nil, err
			}
			d.Gateway = &l3.Gateway{Network: *n, Port: *p, EnableSNAT: *r.GatewayInfo.EnableSNAT}
		}
		d.Router = *r
		if err := s.validateL3(l3.OpCreate, d); err != nil {
			return nil, err
		}
		if err := s.takeQuota(ch, reserved, "router", r.ProjectID, r.ID); err != nil {
			return nil, err
		}
		s.putNew(ch, "router", r)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// validateRoutes checks extra routes: well formed, and each nexthop on a
// subnet the router is connected to.
func (s *Service) validateRoutes(d *l3.Router, routes []model.Route) ([]model.Route, error) {
	if len(routes) > MaxRoutes {
		return nil, neutron.BadRequest("Number of routes exceeds the maximum %d", MaxRoutes)
	}
	var connected []netip.Prefix
	own := map[netip.Addr]bool{}
	addPort := func(p *model.Port, sns []model.Subnet) {
		for _, sn := range sns {
			if p, err := netip.ParsePrefix(sn.CIDR); err == nil {
				connected = append(connected, p)
			}
		}
		for _, f := range p.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil {
				own[a] = true
			}
		}
	}
	if d.Gateway != nil {
		addPort(&d.Gateway.Port, d.Gateway.Subnets)
	}
	for i := range d.Interfaces {
		addPort(&d.Interfaces[i].Port, d.Interfaces[i].Subnets)
	}
	out := make([]model.Route, 0, len(routes))
	for _, rt := range routes {
		dst, err := netip.ParsePrefix(rt.Destination)
		nh, err2 := netip.ParseAddr(rt.Nexthop)
		if err != nil || err2 != nil || dst.Addr().Is4() != nh.Is4() {
			return nil, invalidRoutes(routes, "the route is malformed")
		}
		if !slices.ContainsFunc(connected, func(p netip.Prefix) bool { return p.Contains(nh) }) {
			return nil, invalidRoutes(routes, "the nexthop is not connected with router")
		}
		if own[nh] {
			return nil, invalidRoutes(routes, "the nexthop is used by router")
		}
		r := model.Route{Destination: dst.Masked().String(), Nexthop: nh.String()}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Service) updateRouter(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.Router
	err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["router"], id)
		if err != nil {
			return nil, err
		}
		old := e.Obj.(*model.Router)
		r := e.Copy().(*model.Router)
		present, err := model.Decode(body, r, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_router", s.target(ident, r), model.PolicyAttrs(body, r, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		d := s.desiredRouter(old)
		op := l3.OpUpdate
		if present.Has("ha") || present.Has("distributed") {
			drv, _, _ := s.Driver(old.Provider)
			caps := drv.Capabilities()
			errHA := checkSupport(old.Provider, "ha", caps.HA, r.HA)
			errDist := checkSupport(old.Provider, "distributed", caps.Distributed, r.Distributed)
			if errHA != nil || errDist != nil {
				// The owning driver cannot serve the new values, and a
				// router never changes provider: refuse.
				if r.FlavorID != nil {
					return nil, neutron.InvalidInput("Changing the 'ha' and 'distributed' attributes on a router associated with a flavor is not supported")
				}
				return nil, errors.Join(errHA, errDist)
			}
			if r.HA != old.HA && r.AdminStateUp {
				return nil, neutron.BadRequest("Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade")
			}
			if r.Distributed != old.Distributed && (r.AdminStateUp || old.AdminStateUp) {
				return nil, neutron.BadRequest("Cannot change the 'distributed' attribute of active routers. Please set router admin_state_up to False prior to upgrade")
			}
		}
		if present.Has("external_gateway_info") {
			oldNet := ""
			if old.GatewayInfo != nil {
				oldNet = old.GatewayInfo.NetworkID
			}
			newGI := r.GatewayInfo
			if newGI != nil && newGI.NetworkID == "" {
				newGI = nil // {} clears the gateway, as null does
			}
			changesPort := newGI == nil || newGI.NetworkID != oldNet || len(newGI.ExternalFixedIPs) > 0
			if oldNet != "" && changesPort {
				if len(s.cache.ByIndex("floatingip", "router", id)) > 0 {
					return nil, neutron.Conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway %s of router %s cannot be updated, as it is required by one or more floating IPs.", oldNet, id)
				}
				for _, pe := range s.cache.ByIndex("port", "device", id) {
					if pe.Obj.(*model.Port).DeviceOwner == OwnerRouterGateway {
						s.deleteWithClaims(ch, pe)
					}
				}
				d.Gateway = nil
				op = l3.OpClearGateway
			}
			switch {
			case newGI == nil:
				r.GatewayInfo = nil
			case changesPort:
				p, n, err := s.gatewayPort(ctx, ch, reserved, r, newGI)
				if err != nil {
					return nil, err
				}
				r.GatewayInfo = newGI
				d.Gateway = &l3.Gateway{Network: *n, Port: *p, EnableSNAT: *newGI.EnableSNAT}
				op = l3.OpSetGateway
			default: // same network, only enable_snat
				newGI.ExternalFixedIPs = old.GatewayInfo.ExternalFixedIPs
				if newGI.EnableSNAT == nil {
					newGI.EnableSNAT = old.GatewayInfo.EnableSNAT
				}
				r.GatewayInfo = newGI
				if d.Gateway != nil {
					d.Gateway.EnableSNAT = *newGI.EnableSNAT
				}
			}
		}
		if present.Has("routes") {
			if r.Routes, err = s.validateRoutes(d, r.Routes); err != nil {
				return nil, err
			}
			op = l3.OpRoutes
		}
		if !r.AdminStateUp {
			r.Status = "DOWN"
		} else if !old.AdminStateUp {
			r.Status = "BUILD"
		}
		d.Router = *r
		if err := s.validateL3(op, d); err != nil {
			return nil, err
		}
		s.bump(r)
		s.putUpdate(ch, e, r)
		out = r
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) deleteRouter(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["router"], id, "delete_router")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		for _, pe := range s.cache.ByIndex("port", "device", id) {
			switch pe.Obj.(*model.Port).DeviceOwner {
			case OwnerRouterInterface:
				return nil, neutron.Conflict("RouterInUse", "Router %s still has ports", id)
			case OwnerRouterGateway:
				s.deleteWithClaims(ch, pe)
			}
		}
		if len(s.cache.ByIndex("floatingip", "router", id)) > 0 {
			return nil, neutron.Conflict("RouterInUse", "Router %s still has floating IPs", id)
		}
		desired := s.desiredRouter(e.Obj.(*model.Router))
		if err := s.validateL3(l3.OpDelete, desired); err != nil {
			return nil, err
		}
		s.deleteWithClaims(ch, e)
		if p := e.Obj.(*model.Router).Provider; p != "" {
			tomb := &routerTombstone{ID: id, Provider: p, Profile: desired.Profile, DeletedAt: s.now().UTC().Format(model.TimeFormat)}
			ch.Create(s.store.ResourceKey(tombstoneKind.Name, id), encode(tomb))
		}
		return ch, nil
	})
}

// InterfaceInfo is the answer to add/remove_router_interface.
type InterfaceInfo struct {
	ID        string   `json:"id"`
	TenantID  string   `json:"tenant_id"`
	ProjectID string   `json:"project_id"`
	PortID    string   `json:"port_id"`
	NetworkID string   `json:"network_id"`
	SubnetID  string   `json:"subnet_id"`
	SubnetIDs []string `json:"subnet_ids"`
}

func (s *Service) interfaceKey(routerID, subnetID string) string {
	return s.store.ClaimKey("router-subnet", routerID+"/"+subnetID)
}

// AddRouterInterface attaches a subnet (through a new port holding its
// gateway address) or an existing port to a router.
func (s *Service) AddRouterInterface(ctx context.Context, routerID string, body Body) (*InterfaceInfo, error) {
	var req struct {
		SubnetID *string `json:"subnet_id"`
		PortID   *string `json:"port_id"`
	}
	for k, v := range body {
		var str string
		if err := jsonUnmarshal(v, &str); err != nil {
			return nil, neutron.BadRequest("Invalid input for %s. Reason: '%s' is not a valid UUID.", k, string(v))
		}
		switch k {
		case "subnet_id":
			req.SubnetID = &str
		case "port_id":
			req.PortID = &str
		}
	}
	if (req.SubnetID == nil) == (req.PortID == nil) {
		if req.SubnetID != nil {
			return nil, neutron.BadRequest("Bad router request: Cannot specify both subnet-id and port-id.")
		}
		return nil, neutron.BadRequest("Bad router request: Either subnet_id or port_id must be specified.")
	}
	var info *InterfaceInfo
	err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["router"], routerID, "add_router_interface")
		if err != nil {
			return nil, err
		}
		r := e.Obj.(*model.Router)
		d := s.desiredRouter(r)
		ch := &store.Change{}
		var port *model.Port
		if req.SubnetID != nil {
			se, err := s.lookup(ctx, s.kinds["subnet"], *req.SubnetID)
			if err != nil {
				return nil, err
			}
			sn := se.Obj.(*model.Subnet)
			if sn.GatewayIP == nil {
				return nil, neutron.BadRequest("Bad router request: Subnet for router interface must have a gateway IP.")
			}
			if _, taken := s.cache.Claim(s.interfaceKey(r.ID, sn.ID)); taken {
				return nil, neutron.BadRequest("Bad router request: Router already has a port on subnet %s.", sn.ID)
			}
			ne, _ := s.cache.Get("network", sn.NetworkID)
			port, err = s.newDevicePort(ch, reserved, ne.Obj.(*model.Network), OwnerRouterInterface, r.ID, r.ProjectID,
				[]model.FixedIP{{SubnetID: sn.ID, IPAddress: *sn.GatewayIP}})
			if err != nil {
				return nil, err
			}
		} else {
			pe, err := s.lookup(ctx, s.kinds["port"], *req.PortID)
			if err != nil {
				return nil, err
			}
			p := pe.Copy().(*model.Port)
			if p.DeviceID != "" {
				return nil, neutron.Conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", p.ID, p.NetworkID, p.DeviceID)
			}
			if len(p.FixedIPs) == 0 {
				return nil, neutron.BadRequest("Bad router request: Router port must have at least one fixed IP.")
			}
			p.DeviceID, p.DeviceOwner = r.ID, OwnerRouterInterface
			p.SecurityGroups = []string{}
			s.bump(p)
			s.putUpdate(ch, pe, p)
			port = p
		}
		ne, _ := s.cache.Get("network", port.NetworkID)
		iface := l3.Interface{Port: *port, Network: *ne.Obj.(*model.Network)}
		// Each subnet once per router, and no overlap with its other subnets.
		var existing []model.Subnet
		if d.Gateway != nil {
			existing = append(existing, d.Gateway.Subnets...)
		}
		for _, i := range d.Interfaces {
			existing = append(existing, i.Subnets...)
		}
		for _, f := range port.FixedIPs {
			se, _ := s.cache.Get("subnet", f.SubnetID)
			sn := *se.Obj.(*model.Subnet)
			np := netip.MustParsePrefix(sn.CIDR)
			for _, o := range existing {
				if o.ID == sn.ID {
					return nil, neutron.BadRequest("Bad router request: Router already has a port on subnet %s.", sn.ID)
				}
				if op, err := netip.ParsePrefix(o.CIDR); err == nil && op.Overlaps(np) {
					return nil, neutron.BadRequest("Bad router request: Cidr %s of subnet %s overlaps with cidr %s of subnet %s.", sn.CIDR, sn.ID, o.CIDR, o.ID)
				}
			}
			iface.Subnets = append(iface.Subnets, sn)
			claim(ch, s.interfaceKey(r.ID, sn.ID), "port", port.ID)
		}
		d.Interfaces = append(d.Interfaces, iface)
		if err := s.validateL3(l3.OpAddInterface, d); err != nil {
			return nil, err
		}
		info = interfaceInfo(r, port)
		return ch, nil
	})
	return info, err
}

func interfaceInfo(r *model.Router, p *model.Port) *InterfaceInfo {
	info := &InterfaceInfo{ID: r.ID, TenantID: r.ProjectID, ProjectID: r.ProjectID, PortID: p.ID, NetworkID: p.NetworkID, SubnetIDs: []string{}}
	for _, f := range p.FixedIPs {
		info.SubnetIDs = append(info.SubnetIDs, f.SubnetID)
	}
	if len(info.SubnetIDs) > 0 {
		info.SubnetID = info.SubnetIDs[0]
	}
	return info
}

// RemoveRouterInterface detaches a router interface by port or by subnet,
// deleting its port, unless floating IPs or extra routes still need it.
func (s *Service) RemoveRouterInterface(ctx context.Context, routerID string, body Body) (*InterfaceInfo, error) {
	var subnetID, portID string
	for k, v := range body {
		var str string
		if err := jsonUnmarshal(v, &str); err != nil {
			return nil, neutron.BadRequest("Invalid input for %s. Reason: '%s' is not a valid UUID.", k, string(v))
		}
		switch k {
		case "subnet_id":
			subnetID = str
		case "port_id":
			portID = str
		}
	}
	if subnetID == "" && portID == "" {
		return nil, neutron.BadRequest("Bad router request: Either subnet_id or port_id must be specified.")
	}
	var info *InterfaceInfo
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["router"], routerID, "remove_router_interface")
		if err != nil {
			return nil, err
		}
		r := e.Obj.(*model.Router)
		var pe *cache.Entry
		for _, c := range s.cache.ByIndex("port", "device", routerID) {
			p := c.Obj.(*model.Port)
			if p.DeviceOwner != OwnerRouterInterface {
				continue
			}
			if portID != "" && p.ID == portID || portID == "" && slices.ContainsFunc(p.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == subnetID }) {
				pe = c
				break
			}
		}
		if pe == nil {
			if portID != "" {
				return nil, neutron.NotFound("RouterInterfaceNotFound", "Router %s does not have an interface with id %s", routerID, portID)
			}
			return nil, neutron.NotFound("RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", routerID, subnetID)
		}
		p := pe.Obj.(*model.Port)
		if portID != "" && subnetID != "" && !slices.ContainsFunc(p.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == subnetID }) {
			return nil, neutron.BadRequest("Subnet %s does not match with the port %s", subnetID, portID)
		}
		// Floating IPs behind this interface, and routes through it, need it.
		for _, f := range p.FixedIPs {
			for _, fe := range s.cache.ByIndex("floatingip", "router", routerID) {
				fip := fe.Obj.(*model.FloatingIP)
				if fip.PortID == nil {
					continue
				}
				if fp, ok := s.cache.Get("port", *fip.PortID); ok && slices.ContainsFunc(fp.Obj.(*model.Port).FixedIPs, func(x model.FixedIP) bool { return x.SubnetID == f.SubnetID }) {
					return nil, neutron.Conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", f.SubnetID, routerID)
				}
			}
			if se, ok := s.cache.Get("subnet", f.SubnetID); ok {
				cidr := netip.MustParsePrefix(se.Obj.(*model.Subnet).CIDR)
				for _, rt := range r.Routes {
					if nh, err := netip.ParseAddr(rt.Nexthop); err == nil && cidr.Contains(nh) {
						return nil, neutron.Conflict("RouterInterfaceInUseByRoute", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more routes.", f.SubnetID, routerID)
					}
				}
			}
		}
		d := s.desiredRouter(r)
		d.Interfaces = slices.DeleteFunc(d.Interfaces, func(i l3.Interface) bool { return i.Port.ID == p.ID })
		if err := s.validateL3(l3.OpRemoveInterface, d); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		s.deleteWithClaims(ch, pe)
		info = interfaceInfo(r, p)
		return ch, nil
	})
	return info, err
}

// ChangeExtraRoutes adds or removes extra routes atomically
// (add_extraroutes / remove_extraroutes) and returns the router.
func (s *Service) ChangeExtraRoutes(ctx context.Context, routerID string, routes []model.Route, add bool) (*model.Router, error) {
	var out *model.Router
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		action := "remove_extraroutes"
		if add {
			action = "add_extraroutes"
		}
		e, err := s.lookupOwned(ctx, s.kinds["router"], routerID, action)
		if err != nil {
			return nil, err
		}
		r := e.Copy().(*model.Router)
		d := s.desiredRouter(e.Obj.(*model.Router))
		norm, err := s.validateRoutesFormat(routes)
		if err != nil {
			return nil, err
		}
		if add {
			r.Routes = append(r.Routes, norm...)
			if r.Routes, err = s.validateRoutes(d, r.Routes); err != nil {
				return nil, err
			}
		} else {
			r.Routes = slices.DeleteFunc(r.Routes, func(x model.Route) bool { return slices.Contains(norm, x) })
		}
		d.Router = *r
		if err := s.validateL3(l3.OpRoutes, d); err != nil {
			return nil, err
		}
		s.bump(r)
		ch := &store.Change{}
		s.putUpdate(ch, e, r)
		out = r
		return ch, nil
	})
	return out, err
}

// invalidRoutes is Neutron's InvalidRoutes (400).
func invalidRoutes(routes []model.Route, reason string) error {
	return neutron.Newf(400, "InvalidRoutes", "Invalid format for routes: %v, %s", routes, reason)
}

// validateRoutesFormat normalises routes without checking connectivity.
func (s *Service) validateRoutesFormat(routes []model.Route) ([]model.Route, error) {
	out := make([]model.Route, 0, len(routes))
	for _, rt := range routes {
		dst, err := netip.ParsePrefix(rt.Destination)
		nh, err2 := netip.ParseAddr(rt.Nexthop)
		if err != nil || err2 != nil {
			return nil, invalidRoutes(routes, "the route is malformed")
		}
		out = append(out, model.Route{Destination: dst.Masked().String(), Nexthop: nh.String()})
	}
	return out, nil
}
