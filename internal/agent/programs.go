package agent

import (
	"errors"
	"fmt"

	"github.com/spinel-net/spinel/internal/agent/dataplane"
	"github.com/spinel-net/spinel/internal/agent/firewall"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Routes programs taps, routes, neighbours and gateways (package dataplane).
type Routes struct{ D *dataplane.Dataplane }

// Name implements Programmer.
func (Routes) Name() string { return "routes" }

// Apply implements Programmer.
func (r Routes) Apply(st *agentapi.State) (map[string]bool, error) {
	res, err := r.D.Apply(st.Ports)
	ready := map[string]bool{}
	for _, id := range res.Ready {
		ready[id] = true
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for id, e := range res.Failed {
		errs = append(errs, fmt.Errorf("port %s: %w", id, e))
	}
	return ready, errors.Join(errs...)
}

// Firewall programs anti-spoofing and security groups (package firewall).
type Firewall struct{ F *firewall.Firewall }

// Name implements Programmer.
func (Firewall) Name() string { return "firewall" }

// Apply implements Programmer: the rules of every port are in place once
// the batch is committed, whether or not its tap exists yet.
func (f Firewall) Apply(st *agentapi.State) (map[string]bool, error) {
	if err := f.F.Apply(st.Ports, st.SecurityGroups); err != nil {
		return nil, err
	}
	ready := make(map[string]bool, len(st.Ports))
	for _, p := range st.Ports {
		ready[p.ID] = true
	}
	return ready, nil
}
