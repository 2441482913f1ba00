package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/store"
)

func (s *Service) floatingIPResource() *Resource {
	ptrIndex := func(get func(*model.FloatingIP) *string) func(model.Object) []string {
		return func(o model.Object) []string {
			if v := get(o.(*model.FloatingIP)); v != nil {
				return []string{*v}
			}
			return nil
		}
	}
	return &Resource{
		Kind: &cache.Kind{Name: "floatingip", New: func() model.Object { return &model.FloatingIP{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"router":  ptrIndex(func(f *model.FloatingIP) *string { return f.RouterID }),
				"port":    ptrIndex(func(f *model.FloatingIP) *string { return f.PortID }),
				"network": func(o model.Object) []string { return []string{o.(*model.FloatingIP).FloatingNetworkID} },
			}},
		Singular: "floatingip", Plural: "floatingips", Tagged: true,
		Decorate: s.decorateFIP,
		Create:   s.createFIP,
		Update:   s.updateFIP,
		Delete:   s.deleteFIP,
	}
}

func (s *Service) decorateFIP(o model.Object) model.Object {
	f := *o.(*model.FloatingIP)
	f.PortForwardings = []any{}
	f.PortDetails = nil
	if f.PortID != nil {
		if pe, ok := s.cache.Get("port", *f.PortID); ok {
			p := pe.Obj.(*model.Port)
			f.PortDetails = &model.PortDetails{Name: p.Name, NetworkID: p.NetworkID, MACAddress: p.MACAddress,
				AdminStateUp: p.AdminStateUp, Status: p.Status, DeviceID: p.DeviceID, DeviceOwner: p.DeviceOwner}
		}
	}
	return &f
}

func (s *Service) fipAssocKey(extNet, portID, fixedIP string) string {
	return s.store.ClaimKey("fip-assoc", extNet+"/"+portID+"/"+fixedIP)
}

func (s *Service) createFIP(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	f := &model.FloatingIP{}
	present, err := model.Decode(body, f, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &f.ProjectID, &f.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(ident, "create_floatingip", s.target(ident, f), model.PolicyAttrs(body, f, model.Create)); err != nil {
		return nil, err
	}
	if f.FixedIPAddress != nil && f.PortID == nil {
		return nil, neutron.BadRequest("Bad floatingip request: fixed_ip_address cannot be specified without a port_id.")
	}
	f.ID = newID()
	f.Status = "DOWN"
	f.Stamp(s.now())
	reqPort, reqFixed, reqSubnet := f.PortID, f.FixedIPAddress, f.SubnetID
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ne, ok := s.cache.Get("network", f.FloatingNetworkID)
		if !ok || !s.visible(s.kinds["network"], ident, ne.Obj) {
			return nil, neutron.ResourceNotFound("network", f.FloatingNetworkID)
		}
		n := ne.Obj.(*model.Network)
		if !n.RouterExternal {
			return nil, neutron.BadRequest("Bad floatingip request: Network %s is not a valid external network.", n.ID)
		}
		ch := &store.Change{}
		port, err := s.floatingPort(ch, reserved, n, f, reqSubnet)
		if err != nil {
			return nil, err
		}
		f.FloatingPortID = port.ID
		f.FloatingIPAddress = port.FixedIPs[0].IPAddress
		f.SubnetID = nil
		f.PortID, f.FixedIPAddress, f.RouterID = nil, nil, nil
		if reqPort != nil {
			if err := s.associate(ctx, ch, f, *reqPort, reqFixed); err != nil {
				return nil, err
			}
		}
		if err := s.takeQuota(ch, reserved, "floatingip", f.ProjectID, f.ID); err != nil {
			return nil, err
		}
		s.putNew(ch, "floatingip", f)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateFIP(f), nil
}

// floatingPort allocates the floating IP's address as a port on the
// external network: the address asked for, or one from an IPv4 subnet.
func (s *Service) floatingPort(ch *store.Change, reserved *[]string, n *model.Network, f *model.FloatingIP, subnetID *string) (*model.Port, error) {
	if f.FloatingIPAddress != "" {
		return s.newDevicePort(ch, reserved, n, OwnerFloatingIP, f.ID, "", []model.FixedIP{{IPAddress: f.FloatingIPAddress}})
	}
	var candidates []*model.Subnet
	for _, se := range sortedEntries(s.cache.ByIndex("subnet", "network", n.ID)) {
		sn := se.Obj.(*model.Subnet)
		if sn.IPVersion != 4 {
			continue
		}
		if subnetID != nil && sn.ID != *subnetID {
			continue
		}
		candidates = append(candidates, sn)
	}
	if subnetID != nil && len(candidates) == 0 {
		return nil, neutron.BadRequest("Bad floatingip request: Subnet %s is not an IPv4 subnet of network %s.", *subnetID, n.ID)
	}
	if len(candidates) == 0 {
		return nil, neutron.BadRequest("Bad floatingip request: Network %s does not contain any IPv4 subnet.", n.ID)
	}
	for _, sn := range candidates {
		p, err := s.newDevicePort(ch, reserved, n, OwnerFloatingIP, f.ID, "", []model.FixedIP{{SubnetID: sn.ID}})
		if neutron.IsType(err, "IpAddressGenerationFailure") {
			continue
		}
		return p, err
	}
	return nil, neutron.BadRequest("Unable to find any IP address on external network %s.", n.ID)
}

// associate maps f to (portID, fixed IP) through the router that connects
// the port's subnet to f's external network, claiming the pair so that no
// other floating IP on that network can take it.
func (s *Service) associate(ctx context.Context, ch *store.Change, f *model.FloatingIP, portID string, fixed *string) error {
	ident := s.creds(ctx)
	pe, ok := s.cache.Get("port", portID)
	if !ok || !s.visible(s.kinds["port"], ident, pe.Obj) {
		return neutron.ResourceNotFound("port", portID)
	}
	p := pe.Obj.(*model.Port)
	if !ident.IsAdmin() && p.ProjectID != f.ProjectID {
		return neutron.BadRequest("Bad floatingip request: Cannot create floating IP and bind it to Port %s, since that port is owned by a different tenant.", portID)
	}
	if strings.HasPrefix(p.DeviceOwner, "network:") {
		return neutron.BadRequest("Bad floatingip request: Port %s has owner %s and therefore cannot be associated with a floating IP.", portID, p.DeviceOwner)
	}
	var ip *model.FixedIP
	if fixed != nil {
		a, err := netip.ParseAddr(*fixed)
		if err != nil || !a.Is4() {
			return neutron.BadRequest("Bad floatingip request: Cannot process floating IP association with %s, since that is not an IPv4 address.", *fixed)
		}
		for i := range p.FixedIPs {
			if p.FixedIPs[i].IPAddress == a.String() {
				ip = &p.FixedIPs[i]
			}
		}
		if ip == nil {
			return neutron.BadRequest("Bad floatingip request: Port %s does not have fixed ip %s.", portID, *fixed)
		}
	} else {
		var v4 []*model.FixedIP
		for i := range p.FixedIPs {
			if a, err := netip.ParseAddr(p.FixedIPs[i].IPAddress); err == nil && a.Is4() {
				v4 = append(v4, &p.FixedIPs[i])
			}
		}
		switch len(v4) {
		case 0:
			return neutron.BadRequest("Bad floatingip request: Port %s does not have any IPv4 address.", portID)
		case 1:
			ip = v4[0]
		default:
			return neutron.BadRequest("Bad floatingip request: Port %s has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP.", portID)
		}
	}
	// The router: an interface on the fixed IP's subnet (preferring the one
	// holding the subnet's gateway address) and a gateway on f's network.
	var router *model.Router
	var gwIP string
	if se, ok := s.cache.Get("subnet", ip.SubnetID); ok && se.Obj.(*model.Subnet).GatewayIP != nil {
		gwIP = *se.Obj.(*model.Subnet).GatewayIP
	}
	for _, ie := range sortedEntries(s.cache.ByIndex("port", "network", p.NetworkID)) {
		ip2 := ie.Obj.(*model.Port)
		if ip2.DeviceOwner != OwnerRouterInterface {
			continue
		}
		i := slices.IndexFunc(ip2.FixedIPs, func(x model.FixedIP) bool { return x.SubnetID == ip.SubnetID })
		if i < 0 {
			continue
		}
		re, ok := s.cache.Get("router", ip2.DeviceID)
		if !ok {
			continue
		}
		r := re.Obj.(*model.Router)
		if r.GatewayInfo == nil || r.GatewayInfo.NetworkID != f.FloatingNetworkID {
			continue
		}
		if router == nil || ip2.FixedIPs[i].IPAddress == gwIP {
			router = r
		}
	}
	if router == nil {
		return neutron.NotFound("ExternalGatewayForFloatingIPNotFound", "External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.", f.FloatingNetworkID, ip.SubnetID, portID)
	}
	key := s.fipAssocKey(f.FloatingNetworkID, portID, ip.IPAddress)
	if c, ok := s.cache.Claim(key); ok && c.Owner != string(owner("floatingip", f.ID)) {
		_, other, _ := strings.Cut(c.Owner, "/")
		return neutron.Conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.", f.FloatingIPAddress, other, portID, ip.IPAddress, f.FloatingNetworkID)
	}
	if !ch.Touches(key) {
		if _, held := s.cache.Claim(key); !held { // held: by f itself, checked above
			claim(ch, key, "floatingip", f.ID)
		}
	} else {
		// Released earlier in this change (re-association to the same
		// pair): keep it instead.
		claim(ch, key, "floatingip", f.ID)
	}
	f.PortID, f.RouterID = &portID, &router.ID
	addr := ip.IPAddress
	f.FixedIPAddress = &addr
	d := s.desiredRouter(router)
	d.FloatingIPs = slices.DeleteFunc(d.FloatingIPs, func(x l3.FloatingIP) bool { return x.FloatingIP.ID == f.ID })
	pc := *p
	d.FloatingIPs = append(d.FloatingIPs, l3.FloatingIP{FloatingIP: *f, Port: &pc})
	return s.validateL3(l3.OpAssociateFIP, d)
}

// disassociate clears f's association (in ch), releasing the claim of
// the association it had in the stored version old.
func (s *Service) disassociate(ch *store.Change, old, f *model.FloatingIP) {
	if old.PortID != nil && old.FixedIPAddress != nil {
		key := s.fipAssocKey(old.FloatingNetworkID, *old.PortID, *old.FixedIPAddress)
		if c, ok := s.cache.Claim(key); ok && c.Owner == string(owner("floatingip", f.ID)) {
			ch.Delete(key, c.ModRev)
		}
	}
	f.PortID, f.FixedIPAddress, f.RouterID = nil, nil, nil
	f.Status = "DOWN"
}

func (s *Service) updateFIP(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.FloatingIP
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["floatingip"], id)
		if err != nil {
			return nil, err
		}
		old := e.Obj.(*model.FloatingIP)
		f := e.Copy().(*model.FloatingIP)
		present, err := model.Decode(body, f, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_floatingip", s.target(ident, f), model.PolicyAttrs(body, f, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		if present.Has("fixed_ip_address") && f.FixedIPAddress != nil && !present.Has("port_id") {
			return nil, neutron.BadRequest("Bad floatingip request: fixed_ip_address cannot be specified without a port_id.")
		}
		ch := &store.Change{}
		newPort, newFixed := f.PortID, f.FixedIPAddress
		oldPort := old.PortID
		s.disassociate(ch, old, f)
		switch {
		case len(body) == 0 || present.Has("port_id") && newPort == nil:
			// {} or port_id: null: disassociate (done above).
			if old.RouterID != nil {
				if re, ok := s.cache.Get("router", *old.RouterID); ok {
					d := s.desiredRouter(re.Obj.(*model.Router))
					d.FloatingIPs = slices.DeleteFunc(d.FloatingIPs, func(x l3.FloatingIP) bool { return x.FloatingIP.ID == id })
					if err := s.validateL3(l3.OpDisassociateFIP, d); err != nil {
						return nil, err
					}
				}
			}
		case present.Has("port_id") || oldPort != nil:
			port := newPort
			if !present.Has("port_id") {
				port = oldPort
			}
			fixed := newFixed
			if !present.Has("fixed_ip_address") && oldPort != nil && *port == *oldPort {
				fixed = old.FixedIPAddress
			}
			if !present.Has("fixed_ip_address") && (oldPort == nil || *port != *oldPort) {
				fixed = nil
			}
			if err := s.associate(ctx, ch, f, *port, fixed); err != nil {
				return nil, err
			}
			if old.RouterID != nil && *old.RouterID == *f.RouterID && oldPort != nil && *oldPort == *f.PortID {
				f.Status = old.Status
			}
		}
		s.bump(f)
		s.putUpdate(ch, e, f)
		out = f
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateFIP(out), nil
}

func (s *Service) deleteFIP(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["floatingip"], id, "delete_floatingip")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		f := e.Obj.(*model.FloatingIP)
		ch := &store.Change{}
		if pe, ok := s.cache.Get("port", f.FloatingPortID); ok {
			s.deleteWithClaims(ch, pe)
		}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}

// disassociatePortFIPs adds to ch the disassociation of every floating IP
// mapped to port (when the port is deleted).
func (s *Service) disassociatePortFIPs(ch *store.Change, portID string) {
	for _, fe := range s.cache.ByIndex("floatingip", "port", portID) {
		f := fe.Copy().(*model.FloatingIP)
		s.disassociate(ch, fe.Obj.(*model.FloatingIP), f)
		s.bump(f)
		s.putUpdate(ch, fe, f)
	}
}
