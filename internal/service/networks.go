package service

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// NetworkTypes are the provider:network_type values spinel accepts.
var NetworkTypes = []string{"routed", "flat", "vlan", "geneve", "vxlan"}

func (s *Service) networkResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "network", New: func() model.Object { return &model.Network{} },
			Indexes: map[string]func(model.Object) []string{"project": byProject}},
		Singular: "network", Plural: "networks", Tagged: true,
		Visible: func(c *policy.Creds, o model.Object) bool {
			return s.networkVisible(o.(*model.Network), c.ProjectID)
		},
		Decorate: s.decorateNetwork,
		View:     s.networkView,
		Create:   s.createNetwork,
		Update:   s.updateNetwork,
		Delete:   s.deleteNetwork,
	}
}

func (s *Service) decorateNetwork(o model.Object) model.Object {
	n := *o.(*model.Network)
	n.Subnets = []string{}
	for _, e := range s.cache.ByIndex("subnet", "network", n.ID) {
		n.Subnets = append(n.Subnets, e.Obj.GetID())
	}
	slices.Sort(n.Subnets)
	return &n
}

// maxMTU is the largest MTU a network of type can carry.
func (s *Service) maxMTU(typ string) int {
	switch typ {
	case "geneve":
		return s.cfg.DefaultMTU - 58
	case "vxlan":
		return s.cfg.DefaultMTU - 50
	}
	return s.cfg.DefaultMTU
}

func (s *Service) createNetwork(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	n := &model.Network{}
	present, err := model.Decode(body, n, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &n.ProjectID, &n.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(ident, "create_network", s.target(ident, n), model.PolicyAttrs(body, n, model.Create)); err != nil {
		return nil, err
	}
	n.ID = newID()
	if !present.Has("admin_state_up") {
		n.AdminStateUp = true
	}
	if !present.Has("port_security_enabled") {
		n.PortSecurityEnabled = true
	}
	n.Status = "ACTIVE"
	if n.NetworkType == "" {
		if n.PhysicalNetwork != nil || n.SegmentationID != nil {
			return nil, neutron.InvalidInput("provider:network_type required")
		}
		n.NetworkType = s.cfg.DefaultNetworkType
	}
	if !slices.Contains(NetworkTypes, n.NetworkType) {
		return nil, neutron.InvalidInput("network_type value '%s' not supported", n.NetworkType)
	}
	if err := s.validateSegment(n); err != nil {
		return nil, err
	}
	n.L2Adjacency = n.NetworkType != "routed"
	if err := s.checkMTU(n, present.Has("mtu")); err != nil {
		return nil, err
	}
	n.Stamp(s.now())
	requestedSeg, requestedPhys := n.SegmentationID, n.PhysicalNetwork
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ch := &store.Change{}
		n.SegmentationID, n.PhysicalNetwork = requestedSeg, requestedPhys
		if err := s.allocateSegment(ch, reserved, n); err != nil {
			return nil, err
		}
		if err := s.takeQuota(ch, reserved, "network", n.ProjectID, n.ID); err != nil {
			return nil, err
		}
		// shared and router:external stand for wildcard RBAC entries.
		if n.Shared {
			if err := s.addRBAC(ch, reserved, n, model.AccessAsShared, "*"); err != nil {
				return nil, err
			}
		}
		if n.RouterExternal {
			if err := s.addRBAC(ch, reserved, n, model.AccessAsExternal, "*"); err != nil {
				return nil, err
			}
		}
		s.putNew(ch, "network", n)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.networkView(ident, s.decorateNetwork(n)), nil
}

// checkMTU validates a requested MTU (0 or absent: the largest the
// network's type can carry), as Neutron's net-mtu-writable does.
func (s *Service) checkMTU(n *model.Network, given bool) error {
	maxMTU := s.maxMTU(n.NetworkType)
	switch {
	case !given || n.MTU == 0:
		n.MTU = maxMTU
	case n.MTU < 0:
		return neutron.InvalidAttribute("mtu", sprintf("'%d' should be non-negative", n.MTU))
	case n.MTU > maxMTU:
		return neutron.InvalidInput("Requested MTU is too big, maximum is %d", maxMTU)
	}
	return nil
}

// validateSegment checks the provider attributes' combination.
func (s *Service) validateSegment(n *model.Network) error {
	phys, seg := n.PhysicalNetwork, n.SegmentationID
	switch n.NetworkType {
	case "routed", "geneve", "vxlan":
		if phys != nil {
			return neutron.InvalidInput("provider:physical_network specified for %s network", n.NetworkType)
		}
		if n.NetworkType == "routed" && seg != nil {
			return neutron.InvalidInput("provider:segmentation_id specified for routed network")
		}
		if seg != nil && (*seg < 1 || *seg > 1<<24-1) {
			return neutron.InvalidInput("%s segmentation_id %d out of range (1 through 16777215)", n.NetworkType, *seg)
		}
	case "flat":
		if phys == nil || *phys == "" {
			return neutron.InvalidInput("physical_network required for flat provider network")
		}
		if len(s.cfg.FlatNetworks) == 0 {
			return neutron.InvalidInput("Flat provider networks are disabled")
		}
		if !slices.Contains(s.cfg.FlatNetworks, "*") && !slices.Contains(s.cfg.FlatNetworks, *phys) {
			return neutron.InvalidInput("physical_network '%s' unknown for flat provider network", *phys)
		}
		if seg != nil {
			return neutron.InvalidInput("segmentation_id prohibited for flat provider network")
		}
	case "vlan":
		if phys != nil && *phys != "" {
			if _, known := s.cfg.VLANRanges[*phys]; !known {
				return neutron.InvalidInput("physical_network '%s' unknown for VLAN provider network", *phys)
			}
		} else if seg != nil {
			return neutron.InvalidInput("segmentation_id requires physical_network for VLAN provider network")
		}
		if seg != nil && (*seg < 1 || *seg > 4094) {
			return neutron.InvalidInput("segmentation_id out of range (1 through 4094)")
		}
	}
	return nil
}

// segmentKey is the claim key of a network segment.
func (s *Service) segmentKey(typ, phys string, seg int) string {
	switch typ {
	case "flat":
		return s.store.ClaimKey("segment", "flat/"+phys)
	case "vlan":
		return s.store.ClaimKey("segment", "vlan/"+phys+"/"+strconv.Itoa(seg))
	}
	return s.store.ClaimKey("segment", typ+"/"+strconv.Itoa(seg))
}

// allocateSegment claims the network's segment: the one asked for, or a
// free one from the configured ranges.
func (s *Service) allocateSegment(ch *store.Change, reserved *[]string, n *model.Network) error {
	phys := ""
	if n.PhysicalNetwork != nil {
		phys = *n.PhysicalNetwork
	}
	switch n.NetworkType {
	case "routed":
		return nil
	case "flat":
		key := s.segmentKey("flat", phys, 0)
		if _, taken := s.cache.Claim(key); taken {
			return neutron.Conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", phys)
		}
		claim(ch, key, "network", n.ID)
		return nil
	}
	if n.SegmentationID != nil {
		key := s.segmentKey(n.NetworkType, phys, *n.SegmentationID)
		if _, taken := s.cache.Claim(key); taken {
			if n.NetworkType == "vlan" {
				return neutron.Conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.", *n.SegmentationID, phys)
			}
			return neutron.Conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use.", *n.SegmentationID)
		}
		claim(ch, key, "network", n.ID)
		return nil
	}
	type candidate struct {
		phys string
		rng  [2]int
	}
	var candidates []candidate
	if n.NetworkType == "vlan" {
		if phys != "" {
			candidates = append(candidates, candidate{phys, s.cfg.VLANRanges[phys]})
		} else {
			for _, p := range slices.Sorted(maps.Keys(s.cfg.VLANRanges)) {
				candidates = append(candidates, candidate{p, s.cfg.VLANRanges[p]})
			}
		}
	} else if rng, ok := s.cfg.VNIRanges[n.NetworkType]; ok {
		candidates = append(candidates, candidate{"", rng})
	}
	busy := false
	for _, c := range candidates {
		if c.rng[0] == 0 {
			continue // a known physical network without tenant ranges
		}
		for id := c.rng[0]; id <= c.rng[1]; id++ {
			key := s.segmentKey(n.NetworkType, c.phys, id)
			if _, taken := s.cache.Claim(key); taken {
				continue
			}
			if !s.reserve(reserved, key) {
				busy = true
				continue
			}
			claim(ch, key, "network", n.ID)
			n.SegmentationID = &id
			if n.NetworkType == "vlan" {
				p := c.phys
				n.PhysicalNetwork = &p
			}
			return nil
		}
	}
	if busy {
		return errRetry
	}
	return neutron.Newf(503, "NoNetworkAvailable", "Unable to create the network. No tenant network is available for allocation.")
}

func (s *Service) updateNetwork(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.Network
	err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["network"], id)
		if err != nil {
			return nil, err
		}
		old := e.Obj.(*model.Network)
		n := e.Copy().(*model.Network)
		present, err := model.Decode(body, n, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_network", s.target(ident, n), model.PolicyAttrs(body, n, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		if present.Has("mtu") {
			if err := s.checkMTU(n, true); err != nil {
				return nil, err
			}
		}
		ch := &store.Change{}
		// shared is the wildcard access_as_shared entry.
		switch {
		case n.Shared && !old.Shared:
			if err := s.addRBAC(ch, reserved, n, model.AccessAsShared, "*"); err != nil {
				return nil, err
			}
		case !n.Shared && old.Shared:
			if err := s.checkUnshare(old); err != nil {
				return nil, err
			}
			s.deleteRBACEntries(ch, id, model.AccessAsShared, "*")
		}
		// router:external=true brings the wildcard access_as_external
		// entry; false removes every access_as_external entry, unless
		// routers have their gateway on the network.
		switch {
		case n.RouterExternal && !old.RouterExternal:
			if err := s.addRBAC(ch, reserved, n, model.AccessAsExternal, "*"); err != nil {
				return nil, err
			}
		case !n.RouterExternal && old.RouterExternal:
			if len(s.gatewayRouters(id)) > 0 {
				return nil, neutron.Conflict("ExternalNetworkInUse", "External network %s cannot be updated to be made non-external, since it has existing gateway ports.", id)
			}
			s.deleteRBACEntries(ch, id, model.AccessAsExternal, "")
		}
		s.bump(n)
		s.putUpdate(ch, e, n)
		out = n
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.networkView(ident, s.decorateNetwork(out)), nil
}

// networkOwnedDevices are port owners removed together with their network.
var networkOwnedDevices = []string{"network:dhcp"}

func (s *Service) deleteNetwork(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["network"], id, "delete_network")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		for _, p := range s.cache.ByIndex("port", "network", id) {
			port := p.Obj.(*model.Port)
			if port.DeviceOwner == OwnerFloatingIP {
				// Unassociated floating IPs go with their external network.
				if fe, ok := s.cache.Get("floatingip", port.DeviceID); ok && fe.Obj.(*model.FloatingIP).PortID == nil {
					s.deleteWithClaims(ch, fe)
					s.deleteWithClaims(ch, p)
					continue
				}
			}
			if !slices.Contains(networkOwnedDevices, port.DeviceOwner) {
				return nil, neutron.Conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
			}
			s.deleteWithClaims(ch, p)
		}
		for _, sn := range s.cache.ByIndex("subnet", "network", id) {
			s.deleteWithClaims(ch, sn)
		}
		for _, re := range s.cache.ByIndex("rbac_policy", "object", id) {
			s.deleteWithClaims(ch, re)
		}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}
