package nat

import (
	"net/netip"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// Programmer adapts a NAT to the agent's Programmer interface (Name and
// Apply(*agentapi.State)).
type Programmer struct{ N *NAT }

// Name implements the agent's Programmer.
func (Programmer) Name() string { return "nat" }

// Apply implements the agent's Programmer. It realises the plans of st
// whose port is bound to this host and whose fixed IP is one of that
// port's (others are ignored). ready holds the ids of the realised plans
// and, once the transaction is in, the id of every port of st: NAT never
// holds a port back, a port without a floating IP included.
func (p Programmer) Apply(st *agentapi.State) (map[string]bool, error) {
	plans := HostPlans(st)
	realized, err := p.N.Apply(plans)
	if err != nil {
		return nil, err
	}
	ready := make(map[string]bool, len(st.Ports)+len(realized))
	for _, port := range st.Ports {
		ready[port.ID] = true
	}
	for _, id := range realized {
		ready[id] = true
	}
	return ready, nil
}

// HostPlans returns the plans of st whose port is one of st's ports and
// whose fixed IP belongs to that port.
func HostPlans(st *agentapi.State) []agentapi.NATPlan {
	fixed := map[string]map[netip.Addr]bool{}
	for _, port := range st.Ports {
		m := map[netip.Addr]bool{}
		for _, f := range port.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil {
				m[a.Unmap()] = true
			}
		}
		fixed[port.ID] = m
	}
	var out []agentapi.NATPlan
	for _, pl := range st.NATPlans {
		a, err := netip.ParseAddr(pl.FixedIP)
		if err != nil || !fixed[pl.PortID][a.Unmap()] {
			continue
		}
		out = append(out, pl)
	}
	return out
}
