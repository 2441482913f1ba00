// Package routed is the L3 flavor driver of spinel's routed networks.
//
// Routers of routed networks are distributed by nature: every hypervisor
// routes its own VMs' /32s, so a router exists in the API only to relate
// internal subnets to an external network. A floating IP becomes a 1:1 NAT
// on the hypervisor of its port, which advertises the floating /32 to its
// ToRs. Sync turns each floating IP into such a per-host NAT plan; the
// agent of that host realises it, and the floating IP stays DOWN until it
// has.
package routed

import (
	"context"
	"fmt"
	"slices"

	"github.com/spinel-net/spinel/internal/l3"
)

// NATPlan is one floating IP to realise on one hypervisor.
type NATPlan struct {
	ID         string `json:"id"` // the floating IP's id
	RouterID   string `json:"router_id"`
	FloatingIP string `json:"floating_ip_address"`
	FixedIP    string `json:"fixed_ip_address"`
	PortID     string `json:"port_id"`
	NetworkID  string `json:"network_id"`
	Host       string `json:"host"` // binding:host_id of the port; "" while unbound
	// Realized is set by the host's agent once the NAT is programmed and
	// the floating /32 advertised.
	Realized bool `json:"realized"`
}

// GetID implements model.Object.
func (p *NATPlan) GetID() string { return p.ID }

// GetProjectID implements model.Object; plans belong to no project.
func (p *NATPlan) GetProjectID() string { return "" }

// PlanStore keeps NAT plans where agents can read them.
type PlanStore interface {
	// SetNATPlans makes the stored plans of routerID exactly plans,
	// preserving the Realized mark of plans that did not change.
	SetNATPlans(ctx context.Context, routerID string, plans []NATPlan) error
	// Realized reports whether the plan of floating IP id, as it is now,
	// has been realised by its host's agent.
	Realized(id string) bool
}

// Driver is the routed L3 driver.
type Driver struct {
	plans PlanStore
}

var _ l3.Driver = (*Driver)(nil)

// New returns a routed driver writing its plans to plans.
func New(plans PlanStore) *Driver { return &Driver{plans: plans} }

// Capabilities: distributed only, routed networks only, floating IPs served.
func (d *Driver) Capabilities() l3.Capabilities {
	return l3.Capabilities{HA: l3.Unsupported, Distributed: l3.Mandatory, NetworkTypes: []string{"routed"}, FloatingIPs: true}
}

// Validate refuses extra routes: routed hypervisors route only the cloud's
// own /32s and their default, so a router-level static route has nowhere
// to live.
func (d *Driver) Validate(op l3.Operation, desired *l3.Router) error {
	if len(desired.Router.Routes) > 0 {
		return fmt.Errorf("routers of routed networks do not support extra routes")
	}
	return nil
}

// Plans computes the NAT plans of a router's desired state.
func Plans(desired *l3.Router) []NATPlan {
	var out []NATPlan
	for _, f := range desired.FloatingIPs {
		if f.Port == nil || f.FloatingIP.FixedIPAddress == nil {
			continue
		}
		out = append(out, NATPlan{
			ID: f.FloatingIP.ID, RouterID: desired.Router.ID,
			FloatingIP: f.FloatingIP.FloatingIPAddress, FixedIP: *f.FloatingIP.FixedIPAddress,
			PortID: f.Port.ID, NetworkID: f.Port.NetworkID, Host: f.Port.HostID,
		})
	}
	slices.SortFunc(out, func(a, b NATPlan) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Sync stores the router's NAT plans and reports each floating IP ACTIVE
// once its agent has realised it.
func (d *Driver) Sync(ctx context.Context, desired *l3.Router) (l3.Status, error) {
	plans := Plans(desired)
	if err := d.plans.SetNATPlans(ctx, desired.Router.ID, plans); err != nil {
		return l3.Status{}, fmt.Errorf("routed: storing NAT plans of router %s: %w", desired.Router.ID, err)
	}
	st := l3.Status{Router: "ACTIVE", FloatingIPs: map[string]string{}}
	for _, p := range plans {
		if d.plans.Realized(p.ID) {
			st.FloatingIPs[p.ID] = "ACTIVE"
		} else {
			st.FloatingIPs[p.ID] = "DOWN"
		}
	}
	return st, nil
}

// Delete removes the router's plans.
func (d *Driver) Delete(ctx context.Context, routerID string) error {
	return d.plans.SetNATPlans(ctx, routerID, nil)
}
