package service

import (
	"context"
	"net/netip"
	"slices"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/ipam"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

func (s *Service) subnetResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "subnet", New: func() model.Object { return &model.Subnet{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"network": func(o model.Object) []string { return []string{o.(*model.Subnet).NetworkID} },
			}},
		Singular: "subnet", Plural: "subnets", Tagged: true,
		// A project sees its subnets, those of its networks and those of
		// networks shared with it (Neutron scopes subnets by their
		// network's access_as_shared entries, not by access_as_external).
		Visible: func(c *policy.Creds, o model.Object) bool {
			sn := o.(*model.Subnet)
			if sn.ProjectID == c.ProjectID {
				return true
			}
			ne, ok := s.cache.Get("network", sn.NetworkID)
			if !ok {
				return false
			}
			n := ne.Obj.(*model.Network)
			return n.ProjectID == c.ProjectID || s.sharedWith(n, c.ProjectID)
		},
		Create: s.createSubnet,
		Update: s.updateSubnet,
		Delete: s.deleteSubnet,
	}
}

// guard adds a write to a lock claim owned by (kind, id), so that
// concurrent changes that read the state it protects conflict and retry.
func (s *Service) guard(ch *store.Change, key, kind, id string) {
	if c, ok := s.cache.Claim(key); ok {
		ch.Put(key, owner(kind, id), c.ModRev)
		return
	}
	ch.Create(key, owner(kind, id))
}

// subnetPools parses a subnet's stored allocation pools.
func subnetPools(sn *model.Subnet) []ipam.Range {
	out := make([]ipam.Range, 0, len(sn.AllocationPools))
	for _, p := range sn.AllocationPools {
		r, err := ipam.ParseRange(p.Start, p.End)
		if err == nil {
			out = append(out, r)
		}
	}
	return out
}

func poolsToModel(rs []ipam.Range) []model.AllocationPool {
	out := make([]model.AllocationPool, len(rs))
	for i, r := range rs {
		out[i] = model.AllocationPool{Start: r.Start.String(), End: r.End.String()}
	}
	return out
}

func (s *Service) createSubnet(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	sn := &model.Subnet{}
	present, err := model.Decode(body, sn, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &sn.ProjectID, &sn.TenantID); err != nil {
		return nil, err
	}
	if err := s.checkNetworkUse(ident, sn.NetworkID, sn.ProjectID, "subnet"); err != nil {
		return nil, err
	}
	if _, ok := s.cache.Get("network", sn.NetworkID); !ok {
		return nil, neutron.ResourceNotFound("network", sn.NetworkID)
	}
	if err := s.authorize(ident, "create_subnet", s.target(ident, sn), model.PolicyAttrs(body, sn, model.Create)); err != nil {
		return nil, err
	}
	if sn.IPVersion != 4 && sn.IPVersion != 6 {
		return nil, neutron.InvalidAttribute("ip_version", sprintf("%d is not in valid_values [4, 6]", sn.IPVersion))
	}
	if !present.Has("cidr") {
		return nil, neutron.BadRequest("Bad subnets request: a subnetpool must be specified in the absence of a cidr.")
	}
	if present.Has("prefixlen") {
		return nil, neutron.BadRequest("Bad subnets request: prefixlen requires a subnet pool, and subnet pools are not supported.")
	}
	prefix, err := ipam.ParseCIDR(sn.CIDR, sn.IPVersion)
	if err != nil {
		return nil, err
	}
	sn.CIDR = prefix.String()
	var gw *netip.Addr
	switch {
	case !present.Has("gateway_ip"):
		g := ipam.DefaultGateway(prefix)
		gw = &g
	case sn.GatewayIP != nil:
		g, err := netip.ParseAddr(*sn.GatewayIP)
		if err != nil {
			return nil, neutron.InvalidAttribute("gateway_ip", sprintf("'%s' is not a valid IP address", *sn.GatewayIP))
		}
		if err := ipam.ValidateGateway(prefix, g); err != nil {
			return nil, err
		}
		gw = &g
	}
	if gw != nil {
		g := gw.String()
		sn.GatewayIP = &g
	}
	var pools []ipam.Range
	if present.Has("allocation_pools") && len(sn.AllocationPools) > 0 {
		for _, p := range sn.AllocationPools {
			r, err := ipam.ParseRange(p.Start, p.End)
			if err != nil {
				return nil, err
			}
			pools = append(pools, r)
		}
		if err := ipam.ValidatePools(prefix, pools, gw); err != nil {
			return nil, err
		}
	} else {
		pools = ipam.DefaultPools(prefix, gw)
	}
	sn.AllocationPools = poolsToModel(pools)
	if err := ipam.ValidateNameservers(sn.DNSNameservers, sn.IPVersion); err != nil {
		return nil, err
	}
	if sn.HostRoutes, err = normalizeRoutes(sn.HostRoutes, sn.IPVersion); err != nil {
		return nil, err
	}
	if !present.Has("enable_dhcp") {
		sn.EnableDHCP = true
	}
	if err := ipam.ValidateIPv6Attributes(sn.IPVersion, sn.IPv6RAMode, sn.IPv6AddressMode, sn.EnableDHCP, prefix); err != nil {
		return nil, err
	}
	sn.ID = newID()
	sn.Stamp(s.now())
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ne, ok := s.cache.Get("network", sn.NetworkID)
		if !ok || !s.visible(s.kinds["network"], ident, ne.Obj) {
			return nil, neutron.ResourceNotFound("network", sn.NetworkID)
		}
		n := ne.Obj.(*model.Network)
		ch := &store.Change{}
		// Overlap checks read the network's subnets (or, for routed
		// networks, every routed subnet): guard that set.
		scope := "subnets/" + n.ID
		others := s.cache.ByIndex("subnet", "network", n.ID)
		if n.NetworkType == "routed" {
			scope = "subnets/routed"
			others = s.routedSubnets()
		}
		for _, o := range others {
			op, err := netip.ParsePrefix(o.Obj.(*model.Subnet).CIDR)
			if err == nil && ipam.Overlap(op, prefix) {
				return nil, neutron.InvalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet", sn.CIDR, n.ID)
			}
		}
		s.guard(ch, s.store.ClaimKey("lock", scope), "network", n.ID)
		if err := s.takeQuota(ch, reserved, "subnet", sn.ProjectID, sn.ID); err != nil {
			return nil, err
		}
		s.putNew(ch, "subnet", sn)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return sn, nil
}

// routedSubnets returns the subnets of every routed network: they share one address space.
func (s *Service) routedSubnets() []*cache.Entry {
	var out []*cache.Entry
	var nets []string
	s.cache.List("network", func(e *cache.Entry) bool {
		if e.Obj.(*model.Network).NetworkType == "routed" {
			nets = append(nets, e.Obj.GetID())
		}
		return true
	})
	for _, id := range nets {
		out = append(out, s.cache.ByIndex("subnet", "network", id)...)
	}
	return out
}

func normalizeRoutes(in []model.HostRoute, version int) ([]model.HostRoute, error) {
	rs := make([]ipam.HostRoute, len(in))
	for i, r := range in {
		rs[i] = ipam.HostRoute{Destination: r.Destination, Nexthop: r.Nexthop}
	}
	norm, err := ipam.NormalizeHostRoutes(rs, version)
	if err != nil {
		return nil, err
	}
	out := make([]model.HostRoute, len(norm))
	for i, r := range norm {
		out[i] = model.HostRoute{Destination: r.Destination, Nexthop: r.Nexthop}
	}
	return out, nil
}

func (s *Service) updateSubnet(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.Subnet
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["subnet"], id)
		if err != nil {
			return nil, err
		}
		sn := e.Copy().(*model.Subnet)
		present, err := model.Decode(body, sn, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_subnet", s.target(ident, sn), model.PolicyAttrs(body, sn, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		prefix := netip.MustParsePrefix(sn.CIDR)
		var gw *netip.Addr
		if sn.GatewayIP != nil {
			g, err := netip.ParseAddr(*sn.GatewayIP)
			if err != nil {
				return nil, neutron.InvalidAttribute("gateway_ip", sprintf("'%s' is not a valid IP address", *sn.GatewayIP))
			}
			if present.Has("gateway_ip") {
				if err := ipam.ValidateGateway(prefix, g); err != nil {
					return nil, err
				}
			}
			gw = &g
			gs := g.String()
			sn.GatewayIP = &gs
		}
		if present.Has("allocation_pools") || present.Has("gateway_ip") {
			var pools []ipam.Range
			if present.Has("allocation_pools") && len(sn.AllocationPools) == 0 {
				pools = ipam.DefaultPools(prefix, gw)
			} else {
				for _, p := range sn.AllocationPools {
					r, err := ipam.ParseRange(p.Start, p.End)
					if err != nil {
						return nil, err
					}
					pools = append(pools, r)
				}
			}
			if err := ipam.ValidatePools(prefix, pools, gw); err != nil {
				return nil, err
			}
			sn.AllocationPools = poolsToModel(pools)
		}
		if present.Has("dns_nameservers") {
			if err := ipam.ValidateNameservers(sn.DNSNameservers, sn.IPVersion); err != nil {
				return nil, err
			}
		}
		if present.Has("host_routes") {
			if sn.HostRoutes, err = normalizeRoutes(sn.HostRoutes, sn.IPVersion); err != nil {
				return nil, err
			}
		}
		s.bump(sn)
		ch := &store.Change{}
		s.putUpdate(ch, e, sn)
		out = sn
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) deleteSubnet(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["subnet"], id, "delete_subnet")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		sn := e.Obj.(*model.Subnet)
		for _, pe := range s.cache.ByIndex("port", "network", sn.NetworkID) {
			p := pe.Obj.(*model.Port)
			if !slices.ContainsFunc(p.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == id }) {
				continue
			}
			if !slices.Contains(networkOwnedDevices, p.DeviceOwner) {
				return nil, neutron.Conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)
			}
			// A DHCP port loses its address on this subnet.
			np := pe.Copy().(*model.Port)
			np.FixedIPs = slices.DeleteFunc(np.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == id })
			s.bump(np)
			s.putUpdate(ch, pe, np)
			for _, f := range p.FixedIPs {
				if f.SubnetID == id {
					key := s.ipKey(id, f.IPAddress)
					if c, ok := s.cache.Claim(key); ok {
						ch.Delete(key, c.ModRev)
					}
				}
			}
		}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}
