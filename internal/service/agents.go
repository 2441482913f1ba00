package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3/routed"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// Agent identity as /v2.0/agents shows it.
const (
	AgentType   = "Spinel agent"
	AgentBinary = "spinel-agent"
)

// DefaultAgentDownTime is how long an agent may stay silent and still be alive.
const DefaultAgentDownTime = 30 * time.Second

func (s *Service) agentResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "agent", New: func() model.Object { return &model.Agent{} },
			Indexes: map[string]func(model.Object) []string{
				"host": func(o model.Object) []string { return []string{o.(*model.Agent).Host} },
			}},
		Singular: "agent", Plural: "agents",
		Visible:  func(*policy.Creds, model.Object) bool { return true }, // get_agent decides
		Decorate: s.decorateAgent,
		Update:   s.updateAgent,
		Delete:   s.deleteAgent,
	}
}

func (s *Service) agentDownTime() time.Duration {
	if s.cfg.AgentDownTime > 0 {
		return s.cfg.AgentDownTime
	}
	return DefaultAgentDownTime
}

func (s *Service) alive(a *model.Agent) bool {
	t, err := time.Parse(model.TimeFormat, a.HeartbeatTimestamp)
	return err == nil && s.now().Sub(t) <= s.agentDownTime()
}

func (s *Service) decorateAgent(o model.Object) model.Object {
	a := *o.(*model.Agent)
	a.Alive = s.alive(&a)
	return &a
}

// agentOn returns the agent of host, if one ever reported.
func (s *Service) agentOn(host string) *model.Agent {
	for _, e := range s.cache.ByIndex("agent", "host", host) {
		return e.Obj.(*model.Agent)
	}
	return nil
}

// hostServes reports whether a live, enabled agent runs on host.
func (s *Service) hostServes(host string) bool {
	a := s.agentOn(host)
	return a != nil && a.AdminStateUp && s.alive(a)
}

func (s *Service) updateAgent(ctx context.Context, id string, body Body, _ *int64) (model.Object, error) {
	var out *model.Agent
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["agent"], id)
		if err != nil {
			return nil, err
		}
		a := e.Copy().(*model.Agent)
		if _, err := model.Decode(body, a, model.Update); err != nil {
			return nil, err
		}
		c := s.creds(ctx)
		if err := s.authorize(c, "update_agent", s.target(c, a), model.PolicyAttrs(body, a, model.Update)); err != nil {
			return nil, err
		}
		ch := &store.Change{}
		s.putUpdate(ch, e, a)
		out = a
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateAgent(out), nil
}

func (s *Service) deleteAgent(ctx context.Context, id string, _ *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["agent"], id, "delete_agent")
		if err != nil {
			return nil, err
		}
		if s.alive(e.Obj.(*model.Agent)) {
			return nil, neutron.Conflict("AgentInUse", "Agent %s is alive and cannot be deleted; stop it first.", id)
		}
		ch := &store.Change{}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}

// RecordReport stores an agent's heartbeat, the statuses of its ports and
// the NAT plans it realised. An agent may report only for ports bound to
// its own host; a report naming any other port is refused as a whole.
func (s *Service) RecordReport(ctx context.Context, host string, rep agentapi.Report) error {
	if rep.Host != "" && rep.Host != host {
		return neutron.Forbidden("agent report for another host")
	}
	for _, ps := range rep.Ports {
		if !slices.Contains([]string{"ACTIVE", "DOWN", "ERROR"}, ps.Status) {
			return neutron.BadRequest("Invalid port status %q", ps.Status)
		}
	}
	now := s.now().UTC().Format(model.TimeFormat)
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		if e := s.cache.ByIndex("agent", "host", host); len(e) > 0 {
			a := e[0].Copy().(*model.Agent)
			if !s.alive(a) {
				a.StartedAt = now
			}
			a.HeartbeatTimestamp = now
			a.Configurations = rep.Configurations
			s.putUpdate(ch, e[0], a)
		} else {
			a := &model.Agent{ID: newID(), AgentType: AgentType, Binary: AgentBinary, Topic: "N/A", Host: host,
				AdminStateUp: true, CreatedAt: now, StartedAt: now, HeartbeatTimestamp: now, Configurations: rep.Configurations}
			claim(ch, s.store.ClaimKey("agent-host", host), "agent", a.ID)
			s.putNew(ch, "agent", a)
		}
		for _, ps := range rep.Ports {
			pe, ok := s.cache.Get("port", ps.ID)
			if !ok {
				continue // deleted meanwhile
			}
			p := pe.Obj.(*model.Port)
			if p.HostID != host {
				return nil, neutron.Forbidden("agent report for a port of another host")
			}
			if p.Status != ps.Status {
				np := pe.Copy().(*model.Port)
				np.Status = ps.Status
				s.bump(np)
				s.putUpdate(ch, pe, np)
			}
			if ps.Status == "ERROR" {
				s.log.Warn("agent reports port error", "host", host, "port_id", ps.ID, "reason", ps.Reason)
			}
		}
		for _, ne := range s.cache.ByIndex("natplan", "host", host) {
			plan := ne.Obj.(*routed.NATPlan)
			realized := slices.Contains(rep.RealizedNAT, plan.ID)
			if plan.Realized != realized {
				np := *plan
				np.Realized = realized
				ch.Put(s.store.ResourceKey("natplan", np.ID), encode(&np), ne.ModRev)
			}
		}
		return ch, nil
	})
}

// HostState computes the complete desired state of host's agent, and a
// hash of it that changes exactly when the state does.
func (s *Service) HostState(host string) (agentapi.State, string) {
	st := agentapi.State{Host: host, Revision: s.cache.Rev(), Ports: []agentapi.Port{}, SecurityGroups: []agentapi.SecurityGroup{}, NATPlans: []agentapi.NATPlan{}}
	groups := map[string]bool{}
	for _, pe := range sortedEntries(s.cache.ByIndex("port", "host", host)) {
		p := pe.Obj.(*model.Port)
		if p.VIFType != VIFTypeTap {
			continue
		}
		ne, ok := s.cache.Get("network", p.NetworkID)
		if !ok {
			continue
		}
		n := ne.Obj.(*model.Network)
		ap := agentapi.Port{ID: p.ID, Tap: agentapi.TapName(p.ID), MAC: p.MACAddress, NetworkID: p.NetworkID, MTU: n.MTU,
			AdminStateUp: p.AdminStateUp, PortSecurityEnabled: p.PortSecurityEnabled, SecurityGroups: slices.Clone(p.SecurityGroups),
			DeviceID: p.DeviceID, ProjectID: p.ProjectID, Hostname: hostname(p),
			FixedIPs: []agentapi.FixedIP{}, Subnets: []agentapi.Subnet{}, AllowedAddressPairs: []agentapi.AddressPair{}}
		seen := map[string]bool{}
		for _, f := range p.FixedIPs {
			ap.FixedIPs = append(ap.FixedIPs, agentapi.FixedIP{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
			if seen[f.SubnetID] {
				continue
			}
			seen[f.SubnetID] = true
			if se, ok := s.cache.Get("subnet", f.SubnetID); ok {
				ap.Subnets = append(ap.Subnets, agentSubnet(se.Obj.(*model.Subnet)))
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			ap.AllowedAddressPairs = append(ap.AllowedAddressPairs, agentapi.AddressPair{IPAddress: pair.IPAddress, MACAddress: pair.MACAddress})
		}
		if p.PortSecurityEnabled {
			for _, g := range p.SecurityGroups {
				groups[g] = true
			}
		}
		st.Ports = append(st.Ports, ap)
	}
	// Groups used here, and the groups their rules name as remotes.
	for g := range groups {
		for _, re := range s.cache.ByIndex("security_group_rule", "sg", g) {
			if r := re.Obj.(*model.SecurityGroupRule).RemoteGroupID; r != nil {
				groups[*r] = true
			}
		}
	}
	for _, g := range sortedKeys(groups) {
		ge, ok := s.cache.Get("security_group", g)
		if !ok {
			continue
		}
		sg := agentapi.SecurityGroup{ID: g, Stateful: ge.Obj.(*model.SecurityGroup).Stateful, Rules: []agentapi.Rule{}, Members: []string{}}
		for _, re := range sortedEntries(s.cache.ByIndex("security_group_rule", "sg", g)) {
			r := re.Obj.(*model.SecurityGroupRule)
			sg.Rules = append(sg.Rules, agentapi.Rule{ID: r.ID, Direction: r.Direction, Ethertype: r.Ethertype, Protocol: r.Protocol,
				PortRangeMin: r.PortRangeMin, PortRangeMax: r.PortRangeMax, RemoteIPPrefix: r.RemoteIPPrefix, RemoteGroupID: r.RemoteGroupID})
		}
		for _, pe := range s.cache.ByIndex("port", "sg", g) {
			p := pe.Obj.(*model.Port)
			for _, f := range p.FixedIPs {
				sg.Members = append(sg.Members, f.IPAddress)
			}
			for _, pair := range p.AllowedAddressPairs {
				sg.Members = append(sg.Members, pair.IPAddress)
			}
		}
		slices.Sort(sg.Members)
		sg.Members = slices.Compact(sg.Members)
		st.SecurityGroups = append(st.SecurityGroups, sg)
	}
	for _, ne := range sortedEntries(s.cache.ByIndex("natplan", "host", host)) {
		p := ne.Obj.(*routed.NATPlan)
		st.NATPlans = append(st.NATPlans, agentapi.NATPlan{ID: p.ID, FloatingIP: p.FloatingIP, FixedIP: p.FixedIP, PortID: p.PortID})
	}
	rev := st.Revision
	st.Revision = 0
	b, _ := json.Marshal(st)
	st.Revision = rev
	sum := sha256.Sum256(b)
	return st, hex.EncodeToString(sum[:16])
}

func hostname(p *model.Port) string {
	if p.Name != "" {
		return p.Name
	}
	return "host-" + strings.ReplaceAll(p.FixedIPs0(), ".", "-")
}

func agentSubnet(sn *model.Subnet) agentapi.Subnet {
	a := agentapi.Subnet{ID: sn.ID, CIDR: sn.CIDR, IPVersion: sn.IPVersion, EnableDHCP: sn.EnableDHCP,
		DNSNameservers: slices.Clone(sn.DNSNameservers), HostRoutes: []agentapi.HostRoute{}}
	if sn.GatewayIP != nil {
		a.GatewayIP = *sn.GatewayIP
	}
	for _, r := range sn.HostRoutes {
		a.HostRoutes = append(a.HostRoutes, agentapi.HostRoute{Destination: r.Destination, Nexthop: r.Nexthop})
	}
	if sn.IPv6RAMode != nil {
		a.IPv6RAMode = *sn.IPv6RAMode
	}
	if sn.IPv6AddressMode != nil {
		a.IPv6AddressMode = *sn.IPv6AddressMode
	}
	return a
}

// hostWatch wakes agent streams when anything a host's state derives from may have changed.
type hostWatch struct {
	mu sync.Mutex
	ch chan struct{}
}

// HostStateChanged returns a channel closed at the next change that may
// affect any host's state.
func (s *Service) HostStateChanged() <-chan struct{} {
	s.hosts.mu.Lock()
	defer s.hosts.mu.Unlock()
	if s.hosts.ch == nil {
		s.hosts.ch = make(chan struct{})
	}
	return s.hosts.ch
}

func (s *Service) watchHosts() {
	s.cache.Subscribe(func(ev cache.Event) {
		switch ev.Kind {
		case "port", "network", "subnet", "security_group", "security_group_rule", "natplan":
			s.hosts.mu.Lock()
			if s.hosts.ch != nil {
				close(s.hosts.ch)
				s.hosts.ch = nil
			}
			s.hosts.mu.Unlock()
		}
	})
}
