package agent

import (
	"errors"
	"fmt"

	"github.com/spinel-net/spinel/internal/agent/dataplane"
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
