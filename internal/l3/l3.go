// Package l3 is the contract between spinel's L3 service and the flavor
// drivers that realise routers and floating IPs on a backend.
//
// Exactly one driver owns a router, chosen when the router is created (by
// its flavor, or the default provider) and never changed. The framework
// calls only the owning driver, and only with that router's state:
//
//   - Validate runs inside the API request, before anything is written, for
//     every change to a router the driver owns (and for a floating IP that
//     is about to land on one). It must be pure and fast. Its error becomes
//     a 400 naming the flavor; nothing is written.
//   - Sync is handed the router's complete desired state (router, gateway,
//     interfaces with their subnets, extra routes, floating IPs with their
//     ports) by a level-triggered reconciler, whenever anything in it may
//     have changed and periodically. It must be idempotent: make the backend
//     look exactly like desired, removing what is no longer there (such as
//     a floating IP that moved to a router of another flavor). An error is
//     retried with backoff and shown as status ERROR.
//   - Delete removes everything the backend holds for a router that is gone.
//
// Before calling Validate, the framework itself enforces the capabilities a
// driver declares: network types it can route, floating IP support, HA and
// distributed support. A driver therefore never sees a request it declared
// it cannot serve.
package l3

import (
	"context"

	"github.com/spinel-net/spinel/internal/model"
)

// Support says how a driver treats an optional router feature.
type Support int

// The levels of support, as Neutron's flavor framework has them.
const (
	Unsupported Support = iota // requesting true is refused
	Optional                   // true and false both served
	Mandatory                  // requesting false is refused
)

func (s Support) String() string {
	return [...]string{"unsupported", "optional", "mandatory"}[s]
}

// Capabilities are what a driver can serve; the framework enforces them.
type Capabilities struct {
	HA          Support
	Distributed Support
	// NetworkTypes lists the provider:network_types the driver can route
	// (internal interfaces and gateway); empty means any.
	NetworkTypes []string
	// FloatingIPs reports whether the driver serves floating IPs.
	FloatingIPs bool
}

// Subnet is a subnet with the network it belongs to.
type Subnet = model.Subnet

// Interface is one router port on an internal network.
type Interface struct {
	Port    model.Port
	Network model.Network
	Subnets []model.Subnet
}

// Gateway is the router's port on the external network.
type Gateway struct {
	Network    model.Network
	Port       model.Port
	Subnets    []model.Subnet
	EnableSNAT bool
}

// FloatingIP is a floating IP served by the router, with the port it maps
// to (nil while unassociated; such floating IPs are not handed to Sync).
type FloatingIP struct {
	FloatingIP model.FloatingIP
	Port       *model.Port
}

// Router is the complete desired state of one router.
type Router struct {
	Router      model.Router
	Flavor      *model.Flavor         // nil without a flavor
	Profile     *model.ServiceProfile // the flavor's profile, nil without a flavor
	Gateway     *Gateway
	Interfaces  []Interface
	FloatingIPs []FloatingIP
}

// Operation names the change a Validate call is about.
type Operation string

// The operations drivers are asked to validate.
const (
	OpCreate          Operation = "create"
	OpUpdate          Operation = "update"
	OpAddInterface    Operation = "add_router_interface"
	OpRemoveInterface Operation = "remove_router_interface"
	OpSetGateway      Operation = "set_gateway"
	OpClearGateway    Operation = "clear_gateway"
	OpRoutes          Operation = "routes"
	OpAssociateFIP    Operation = "associate_floatingip"
	OpDisassociateFIP Operation = "disassociate_floatingip"
	OpDelete          Operation = "delete"
)

// Status is the outcome of a Sync.
type Status struct {
	// Router is the router's status: ACTIVE, DOWN or ERROR.
	Router string
	// FloatingIPs maps floating IP ids to ACTIVE, DOWN or ERROR; ids not
	// present keep DOWN.
	FloatingIPs map[string]string
}

// Driver realises the routers of one service provider.
// Implementations must be safe for concurrent use.
type Driver interface {
	// Capabilities are static.
	Capabilities() Capabilities
	// Validate refuses a change the backend cannot honour. desired is the
	// router's state as it would be after op. It must not do I/O.
	Validate(op Operation, desired *Router) error
	// Sync makes the backend hold exactly desired.
	Sync(ctx context.Context, desired *Router) (Status, error)
	// Delete removes a router the backend may still hold.
	Delete(ctx context.Context, routerID string) error
}

// Resyncer is an optional interface of drivers whose backend can lose or
// change what they wrote without the framework noticing: a database that
// restarted empty, a connection that dropped. The reconciler calls
// SetResync once, before it syncs anything, with a function that
// re-enqueues every router the driver owns. The driver calls it, from any
// goroutine (it never blocks), whenever all of them must be synced again:
// after reconnecting to its backend, so that lost state is restored, or
// after losing the connection, so that Sync reports the routers ERROR.
type Resyncer interface {
	SetResync(resync func())
}

// Sweeper is an optional interface of drivers that can list the routers
// their backend holds. The reconciler calls Sweep when it starts and at
// every periodic resync; the driver removes what it holds for routers for
// which exists returns false, such as routers deleted while no reconciler
// was running, whose Delete was therefore never called. exists answers
// from the framework's state at the time of the call, so a driver must
// list its backend first and ask exists afterwards: a router created in
// between is then never swept.
type Sweeper interface {
	Sweep(ctx context.Context, exists func(routerID string) bool) error
}

// ServiceType is the Neutron service type of L3 flavors.
const ServiceType = "L3_ROUTER_NAT"

// Provider is a configured service provider: a named driver instance.
type Provider struct {
	ServiceType string `yaml:"service_type" json:"service_type"`
	Name        string `yaml:"name" json:"name"`
	Driver      string `yaml:"driver" json:"driver"`
	Default     bool   `yaml:"default" json:"default"`
}
