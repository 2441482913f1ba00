package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/ipam"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// VNICTypes are the accepted binding:vnic_type values.
var VNICTypes = []string{"normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic", "vdpa", "remote-managed", "accelerator-direct", "accelerator-direct-physical"}

func (s *Service) portResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "port", New: func() model.Object { return &model.Port{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"network": func(o model.Object) []string { return []string{o.(*model.Port).NetworkID} },
				"sg":      func(o model.Object) []string { return o.(*model.Port).SecurityGroups },
				"device": func(o model.Object) []string {
					if d := o.(*model.Port).DeviceID; d != "" {
						return []string{d}
					}
					return nil
				},
				"host": func(o model.Object) []string {
					if h := o.(*model.Port).HostID; h != "" {
						return []string{h}
					}
					return nil
				},
			}},
		Singular: "port", Plural: "ports", Tagged: true,
		Visible: func(id *policy.Creds, o model.Object) bool {
			p := o.(*model.Port)
			if p.ProjectID == id.ProjectID {
				return true
			}
			n, ok := s.cache.Get("network", p.NetworkID)
			return ok && n.Obj.GetProjectID() == id.ProjectID
		},
		Create: s.createPort,
		Update: s.updatePort,
		Delete: s.deletePort,
	}
}

func (s *Service) ipKey(subnet, ip string) string { return s.store.ClaimKey("ip", subnet+"/"+ip) }
func (s *Service) macKey(network, mac string) string {
	return s.store.ClaimKey("mac", network+"/"+mac)
}

// parseMAC validates a unicast MAC and returns it in Neutron's lower-case form.
func parseMAC(m string) (string, error) {
	hw, err := net.ParseMAC(m)
	// Neutron refuses only the all-zero and broadcast addresses (multicast is fine).
	if err != nil || len(hw) != 6 || string(hw) == "\x00\x00\x00\x00\x00\x00" || string(hw) == "\xff\xff\xff\xff\xff\xff" {
		return "", neutron.InvalidAttribute("mac_address", fmt.Sprintf("'%s' is not a valid MAC address", m))
	}
	return hw.String(), nil
}

func (s *Service) randomMAC() string {
	base, _ := net.ParseMAC(s.cfg.BaseMAC)
	if len(base) != 6 {
		base = net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 0}
	}
	mac := make(net.HardwareAddr, 6)
	copy(mac, base[:3])
	rand.Read(mac[3:])
	return mac.String()
}

// portRequest is what a create or update asked for, kept across retries.
type portRequest struct {
	port     *model.Port
	present  model.Present
	fixedIPs []model.FixedIP // as requested (nil: automatic)
	wantIPs  bool            // fixed_ips given
	mac      string          // requested MAC ("" = generate)
}

func (s *Service) createPort(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	p := &model.Port{}
	present, err := model.Decode(body, p, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &p.ProjectID, &p.TenantID); err != nil {
		return nil, err
	}
	if err := s.checkNetworkUse(ident, p.NetworkID, p.ProjectID, "port"); err != nil {
		return nil, err
	}
	if _, ok := s.cache.Get("network", p.NetworkID); !ok {
		return nil, neutron.ResourceNotFound("network", p.NetworkID)
	}
	if err := s.authorize(ident, "create_port", s.target(ident, p), model.PolicyAttrs(body, p, model.Create)); err != nil {
		return nil, err
	}
	req := &portRequest{port: p, present: present, wantIPs: present.Has("fixed_ips"), fixedIPs: slices.Clone(p.FixedIPs)}
	if present.Has("mac_address") {
		if req.mac, err = parseMAC(p.MACAddress); err != nil {
			return nil, err
		}
	}
	if !present.Has("admin_state_up") {
		p.AdminStateUp = true
	}
	if !present.Has("binding:vnic_type") {
		p.VNICType = "normal"
	}
	if !slices.Contains(VNICTypes, p.VNICType) {
		return nil, neutron.InvalidAttribute("binding:vnic_type", fmt.Sprintf("%s is not in valid_values %v", p.VNICType, VNICTypes))
	}
	p.ID = newID()
	p.Status = "DOWN"
	p.IPAllocation = "immediate"
	p.Stamp(s.now())
	requestedSGs := slices.Clone(p.SecurityGroups)
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ne, ok := s.cache.Get("network", p.NetworkID)
		if !ok || !s.visible(s.kinds["network"], ident, ne.Obj) {
			return nil, neutron.ResourceNotFound("network", p.NetworkID)
		}
		n := ne.Obj.(*model.Network)
		if !present.Has("port_security_enabled") {
			p.PortSecurityEnabled = n.PortSecurityEnabled
		}
		ch := &store.Change{}
		// MAC address.
		if req.mac != "" {
			if _, taken := s.cache.Claim(s.macKey(n.ID, req.mac)); taken {
				return nil, neutron.Conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, req.mac)
			}
			p.MACAddress = req.mac
		} else {
			p.MACAddress = s.randomMAC()
		}
		claim(ch, s.macKey(n.ID, p.MACAddress), "port", p.ID)
		// Addresses.
		ips, err := s.allocateIPs(ch, reserved, n, p, req.fixedIPs, req.wantIPs, nil)
		if err != nil {
			return nil, err
		}
		p.FixedIPs = ips
		// Security groups.
		p.SecurityGroups = slices.Clone(requestedSGs)
		if err := s.setPortSecurity(ctx, ch, reserved, p, present.Has("security_groups"), present); err != nil {
			return nil, err
		}
		if err := validateAddressPairs(p); err != nil {
			return nil, err
		}
		s.bindPort(n, p)
		if err := s.takeQuota(ch, reserved, "port", p.ProjectID, p.ID); err != nil {
			return nil, err
		}
		s.putNew(ch, "port", p)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// setPortSecurity fills in and checks a port's security groups.
func (s *Service) setPortSecurity(ctx context.Context, ch *store.Change, reserved *[]string, p *model.Port, sgsGiven bool, present model.Present) error {
	if !p.PortSecurityEnabled {
		if sgsGiven && len(p.SecurityGroups) > 0 {
			return neutron.Newf(400, "PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups.")
		}
		if len(p.SecurityGroups) > 0 {
			return neutron.Conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed")
		}
		if len(p.AllowedAddressPairs) > 0 {
			return neutron.Conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
		}
		return nil
	}
	if !sgsGiven && p.SecurityGroups == nil && !strings.HasPrefix(p.DeviceOwner, "network:") {
		sg, err := s.ensureDefaultSG(ch, reserved, p.ProjectID)
		if err != nil {
			return err
		}
		p.SecurityGroups = []string{sg}
		return nil
	}
	seen := map[string]bool{}
	out := p.SecurityGroups[:0]
	for _, id := range p.SecurityGroups {
		if seen[id] {
			continue
		}
		seen[id] = true
		e, ok := s.cache.Get("security_group", id)
		if (!ok || e.Obj.GetProjectID() != p.ProjectID) && !ch.Touches(s.store.ResourceKey("security_group", id)) {
			if !ok || !s.creds(ctx).IsAdmin() {
				return neutron.ResourceNotFound("security_group", id)
			}
		}
		out = append(out, id)
	}
	p.SecurityGroups = out
	return nil
}

func validateAddressPairs(p *model.Port) error {
	seen := map[string]bool{}
	for i, ap := range p.AllowedAddressPairs {
		if ap.IPAddress == "" {
			return neutron.Newf(400, "AllowedAddressPairsMissingIP", "AllowedAddressPair must contain ip_address")
		}
		if _, err := netip.ParseAddr(ap.IPAddress); err != nil {
			if _, err := netip.ParsePrefix(ap.IPAddress); err != nil {
				return neutron.BadRequest("Invalid input for allowed_address_pairs. Reason: '%s' is not a valid IP address or CIDR.", ap.IPAddress)
			}
		}
		if ap.MACAddress == "" {
			p.AllowedAddressPairs[i].MACAddress = p.MACAddress
		} else {
			m, err := parseMAC(ap.MACAddress)
			if err != nil {
				return err
			}
			p.AllowedAddressPairs[i].MACAddress = m
		}
		k := p.AllowedAddressPairs[i].IPAddress + "|" + p.AllowedAddressPairs[i].MACAddress
		if seen[k] {
			return neutron.Newf(400, "DuplicateAddressPairInRequest", "Request contains duplicate address pair: mac_address %s ip_address %s.", p.AllowedAddressPairs[i].MACAddress, ap.IPAddress)
		}
		seen[k] = true
	}
	if len(p.AllowedAddressPairs) > 0 && !p.PortSecurityEnabled {
		return neutron.Conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
	}
	return nil
}

// VIFTypeTap is the binding of ports of routed networks: a plain tap that
// the host's spinel agent routes.
const VIFTypeTap = "tap"

// VIFTypeOVS is the binding of ports of ovn networks: an interface of the
// host's OVS integration bridge, which ovn-controller programs.
const VIFTypeOVS = "ovs"

// ovnNetworkTypes are the network types the ovn backend serves.
var ovnNetworkTypes = []string{"geneve", "vlan", "flat"}

// ovnBinding is the ovn network backend's binding rule.
type ovnBinding struct{ hostOK func(host string) bool }

func (b *ovnBinding) serves(host string) bool { return b.hostOK == nil || b.hostOK(host) }

// WithOVN enables binding for the ovn network backend: ports of geneve,
// vlan and flat networks bind with binding:vif_type ovs on hosts for which
// hostOK reports an OVN chassis (nil: on every host), as Neutron's OVN
// driver binds them.
func WithOVN(hostOK func(host string) bool) Option {
	return func(s *Service) { s.ovn = &ovnBinding{hostOK: hostOK} }
}

// SetPortStatuses records the statuses a network backend observed (port id
// to ACTIVE, DOWN or ERROR), as Neutron's OVN driver does from
// Logical_Switch_Port.up. Ports that no longer exist are skipped; large
// sets are written in several transactions.
func (s *Service) SetPortStatuses(ctx context.Context, statuses map[string]string) error {
	ids := make([]string, 0, len(statuses))
	for id, st := range statuses {
		if !slices.Contains([]string{"ACTIVE", "DOWN", "ERROR"}, st) {
			return fmt.Errorf("service: invalid port status %q", st)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	const batch = 500
	for len(ids) > 0 {
		chunk := ids[:min(batch, len(ids))]
		ids = ids[len(chunk):]
		err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
			ch := &store.Change{}
			for _, id := range chunk {
				pe, ok := s.cache.Get("port", id)
				if !ok || pe.Obj.(*model.Port).Status == statuses[id] {
					continue
				}
				np := pe.Copy().(*model.Port)
				np.Status = statuses[id]
				s.bump(np)
				s.putUpdate(ch, pe, np)
			}
			return ch, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// bindPort computes binding:vif_type and binding:vif_details. A port of a
// routed network binds to a host whose spinel agent is alive and enabled; a
// port of an ovn network (with the ovn backend configured) to a host with
// an OVN chassis; otherwise (and for network types no backend serves) it
// fails to bind.
func (s *Service) bindPort(n *model.Network, p *model.Port) {
	switch {
	case p.HostID == "":
		p.VIFType, p.VIFDetails = "unbound", map[string]any{}
	case n.NetworkType == "routed" && !isL3Port(p.DeviceOwner) && s.hostServes(p.HostID):
		p.VIFType = VIFTypeTap
		p.VIFDetails = map[string]any{"port_filter": true, "tap_mac_address": agentapi.HostMAC}
	case s.ovn != nil && slices.Contains(ovnNetworkTypes, n.NetworkType) && !isL3Port(p.DeviceOwner) && s.ovn.serves(p.HostID):
		p.VIFType = VIFTypeOVS
		p.VIFDetails = map[string]any{"port_filter": true, "connectivity": "l2"}
	default:
		p.VIFType, p.VIFDetails = "binding_failed", map[string]any{}
	}
}

// allocateIPs resolves the requested fixed IPs (nil and !given: automatic)
// into addresses, claiming each in ch. keep lists addresses the port
// already holds (on update), which are not claimed again.
func (s *Service) allocateIPs(ch *store.Change, reserved *[]string, n *model.Network, p *model.Port, req []model.FixedIP, given bool, keep []model.FixedIP) ([]model.FixedIP, error) {
	subnets := s.cache.ByIndex("subnet", "network", n.ID)
	slices.SortFunc(subnets, func(a, b *cache.Entry) int {
		return strings.Compare(a.Obj.(*model.Subnet).CreatedAt+a.Obj.GetID(), b.Obj.(*model.Subnet).CreatedAt+b.Obj.GetID())
	})
	byID := map[string]*model.Subnet{}
	for _, e := range subnets {
		byID[e.Obj.GetID()] = e.Obj.(*model.Subnet)
	}
	held := func(f model.FixedIP) bool {
		return slices.ContainsFunc(keep, func(k model.FixedIP) bool { return k.SubnetID == f.SubnetID && k.IPAddress == f.IPAddress })
	}
	var out []model.FixedIP
	if !given {
		// One IPv4 address from the first subnet with room; an address on
		// every IPv6 subnet (SLAAC subnets derive it from the MAC).
		v4done := false
		for _, e := range subnets {
			sn := e.Obj.(*model.Subnet)
			if sn.IPVersion == 4 {
				if v4done {
					continue
				}
				ip, err := s.allocateOne(ch, reserved, sn, p)
				if neutron.IsType(err, "IpAddressGenerationFailure") {
					continue
				}
				if err != nil {
					return nil, err
				}
				out = append(out, model.FixedIP{SubnetID: sn.ID, IPAddress: ip})
				v4done = true
				continue
			}
			ip, err := s.allocateOne(ch, reserved, sn, p)
			if err != nil {
				return nil, err
			}
			out = append(out, model.FixedIP{SubnetID: sn.ID, IPAddress: ip})
		}
		if !v4done && len(out) == 0 && len(subnets) > 0 {
			return nil, neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", n.ID)
		}
		return out, nil
	}
	for _, f := range req {
		var sn *model.Subnet
		if f.SubnetID != "" {
			sn = byID[f.SubnetID]
			if sn == nil {
				if _, exists := s.cache.Get("subnet", f.SubnetID); !exists {
					return nil, neutron.ResourceNotFound("subnet", f.SubnetID)
				}
				return nil, neutron.InvalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s", n.ID, f.SubnetID)
			}
		}
		if f.IPAddress == "" {
			if sn == nil {
				return nil, neutron.BadRequest("Invalid input for fixed_ips. Reason: each entry needs a subnet_id or an ip_address.")
			}
			ip, err := s.allocateOne(ch, reserved, sn, p)
			if err != nil {
				return nil, err
			}
			out = append(out, model.FixedIP{SubnetID: sn.ID, IPAddress: ip})
			continue
		}
		addr, err := netip.ParseAddr(f.IPAddress)
		if err != nil {
			return nil, neutron.InvalidAttribute("fixed_ips", fmt.Sprintf("'%s' is not a valid IP address", f.IPAddress))
		}
		if sn == nil {
			for _, e := range subnets {
				c := e.Obj.(*model.Subnet)
				if netip.MustParsePrefix(c.CIDR).Contains(addr) {
					sn = c
					break
				}
			}
			if sn == nil {
				return nil, neutron.Newf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", f.IPAddress)
			}
		}
		prefix := netip.MustParsePrefix(sn.CIDR)
		if !prefix.Contains(addr) || addr.Is4() && (addr == prefix.Addr() || addr == lastAddr(prefix)) {
			if f.SubnetID == "" {
				return nil, neutron.Newf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", f.IPAddress)
			}
			return nil, neutron.Newf(400, "InvalidIpForSubnet", "IP address %s is not a valid IP for the specified subnet.", f.IPAddress)
		}
		if isAutoAddress(sn) && !isL3Port(p.DeviceOwner) {
			return nil, neutron.Newf(400, "AllocationOnAutoAddressSubnet", "IPv6 address %s cannot be directly assigned to a port on subnet %s as the subnet is configured for automatic addresses", f.IPAddress, sn.ID)
		}
		fi := model.FixedIP{SubnetID: sn.ID, IPAddress: addr.String()}
		if slices.Contains(out, fi) {
			return nil, neutron.BadRequest("Duplicate IP address '%s'", fi.IPAddress)
		}
		out = append(out, fi)
		if held(fi) {
			continue
		}
		key := s.ipKey(sn.ID, fi.IPAddress)
		if _, taken := s.cache.Claim(key); taken {
			return nil, neutron.Conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", fi.IPAddress, sn.ID)
		}
		if !s.reserve(reserved, key) {
			return nil, errRetry // another request here is taking it: see how it ends
		}
		claim(ch, key, "port", p.ID)
	}
	// Every SLAAC subnet of the network gives the port its EUI-64 address
	// too, whatever else was asked for.
	for _, e := range subnets {
		sn := e.Obj.(*model.Subnet)
		if !isAutoAddress(sn) || slices.ContainsFunc(out, func(f model.FixedIP) bool { return f.SubnetID == sn.ID }) {
			continue
		}
		if held := slices.IndexFunc(keep, func(k model.FixedIP) bool { return k.SubnetID == sn.ID }); held >= 0 {
			out = append(out, keep[held])
			continue
		}
		ip, err := s.allocateOne(ch, reserved, sn, p)
		if err != nil {
			return nil, err
		}
		out = append(out, model.FixedIP{SubnetID: sn.ID, IPAddress: ip})
	}
	return out, nil
}

// isAutoAddress reports whether a subnet assigns addresses by SLAAC.
func isAutoAddress(sn *model.Subnet) bool {
	return sn.IPVersion == 6 && sn.IPv6AddressMode != nil && (*sn.IPv6AddressMode == "slaac" || *sn.IPv6AddressMode == "dhcpv6-stateless")
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

// allocateOne picks and claims a free address of sn for port p.
func (s *Service) allocateOne(ch *store.Change, reserved *[]string, sn *model.Subnet, p *model.Port) (string, error) {
	prefix := netip.MustParsePrefix(sn.CIDR)
	if sn.IPVersion == 6 && sn.IPv6AddressMode != nil && (*sn.IPv6AddressMode == "slaac" || *sn.IPv6AddressMode == "dhcpv6-stateless") {
		a, err := ipam.EUI64(prefix, p.MACAddress)
		if err != nil {
			return "", err
		}
		key := s.ipKey(sn.ID, a.String())
		if _, taken := s.cache.Claim(key); taken {
			return "", neutron.Conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", a, sn.ID)
		}
		claim(ch, key, "port", p.ID)
		return a.String(), nil
	}
	pools := subnetPools(sn)
	busy := false
	used := func(a netip.Addr) bool {
		key := s.ipKey(sn.ID, a.String())
		if _, taken := s.cache.Claim(key); taken {
			return true
		}
		if s.isPending(key) {
			busy = true
			return true
		}
		return false
	}
	s.mu.Lock()
	hint := s.hints[sn.ID]
	s.mu.Unlock()
	a, ok := ipam.NextFree(pools, hint, used)
	if !ok {
		if busy {
			return "", errRetry
		}
		return "", neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", sn.NetworkID)
	}
	key := s.ipKey(sn.ID, a.String())
	if !s.reserve(reserved, key) {
		return "", errRetry
	}
	s.mu.Lock()
	s.hints[sn.ID] = a
	s.mu.Unlock()
	claim(ch, key, "port", p.ID)
	return a.String(), nil
}

func (s *Service) updatePort(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.Port
	err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["port"], id)
		if err != nil {
			return nil, err
		}
		old := e.Obj.(*model.Port)
		p := e.Copy().(*model.Port)
		present, err := model.Decode(body, p, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_port", s.target(ident, p), model.PolicyAttrs(body, p, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		ne, ok := s.cache.Get("network", p.NetworkID)
		if !ok {
			return nil, neutron.ResourceNotFound("network", p.NetworkID)
		}
		n := ne.Obj.(*model.Network)
		ch := &store.Change{}
		if present.Has("mac_address") {
			mac, err := parseMAC(p.MACAddress)
			if err != nil {
				return nil, err
			}
			if mac != old.MACAddress {
				if old.HostID != "" && old.VIFType != "unbound" && old.VIFType != "binding_failed" {
					return nil, neutron.Conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: %s, old_mac %s, new_mac %s.", id, old.VIFType, old.MACAddress, mac)
				}
				if _, taken := s.cache.Claim(s.macKey(n.ID, mac)); taken {
					return nil, neutron.Conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, mac)
				}
				oldKey := s.macKey(n.ID, old.MACAddress)
				if c, ok := s.cache.Claim(oldKey); ok {
					ch.Delete(oldKey, c.ModRev)
				}
				claim(ch, s.macKey(n.ID, mac), "port", id)
			}
			p.MACAddress = mac
		}
		if present.Has("fixed_ips") {
			ips, err := s.allocateIPs(ch, reserved, n, p, p.FixedIPs, true, old.FixedIPs)
			if err != nil {
				return nil, err
			}
			for _, f := range old.FixedIPs {
				if !slices.Contains(ips, f) {
					key := s.ipKey(f.SubnetID, f.IPAddress)
					if c, ok := s.cache.Claim(key); ok {
						ch.Delete(key, c.ModRev)
					}
				}
			}
			p.FixedIPs = ips
		}
		if present.Has("binding:vnic_type") && !slices.Contains(VNICTypes, p.VNICType) {
			return nil, neutron.InvalidAttribute("binding:vnic_type", fmt.Sprintf("%s is not in valid_values %v", p.VNICType, VNICTypes))
		}
		if present.Has("security_groups") || present.Has("port_security_enabled") {
			if err := s.setPortSecurity(ctx, ch, reserved, p, present.Has("security_groups"), present); err != nil {
				return nil, err
			}
		}
		if err := validateAddressPairs(p); err != nil {
			return nil, err
		}
		if present.Has("binding:host_id") {
			s.bindPort(n, p)
			if p.HostID != old.HostID {
				p.Status = "DOWN"
			}
		}
		s.bump(p)
		s.putUpdate(ch, e, p)
		out = p
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) deletePort(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["port"], id, "delete_port")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		if owner := e.Obj.(*model.Port).DeviceOwner; isL3Port(owner) {
			return nil, neutron.Conflict("L3PortInUse", "Port %s has owner %s and therefore cannot be deleted directly via the port API.", id, owner)
		}
		ch := &store.Change{}
		s.disassociatePortFIPs(ch, id)
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}
