// Package ovn is the L3 flavor driver that realises routers as OVN logical
// routers in OVN's northbound database.
//
// Each router is a Logical_Router "neutron-<router id>"; each interface a
// Logical_Router_Port "lrp-<port id>" (the port's MAC, its addresses with
// their subnets' prefix lengths) that the network backend joins to the
// network's Logical_Switch through the router-type switch port "<port
// id>"; the gateway a Logical_Router_Port on the external network with one
// Gateway_Chassis per configured gateway chassis (priorities as
// configured: OVN fails over between them), a default static route via
// each external subnet's gateway, and, with enable_snat, one snat NAT per
// internal IPv4 subnet to the gateway's address. A floating IP is a
// dnat_and_snat NAT (distributed, with the VM port's MAC and port, for a
// distributed router); extra routes are static routes. Names and
// external_ids follow Neutron's OVN driver, and every row written carries
// external_ids spinel:owner=l3-ovn.
//
// Sync reconciles one router's complete state in one transaction, planned
// against a replica of the tables (an OVSDB monitor) and guarded by an
// OVSDB wait on the router's row, so an unchanged router costs no
// round-trip and a stale replica costs a retry, never a wrong row. It
// changes and removes only rows that carry the owner marker.
//
// The driver implements l3.Resyncer (every router is synced again after
// the client reconnects, which restores a wiped or replaced database, and
// after the connection drops, so that routers report ERROR while the
// database is unreachable) and l3.Sweeper (routers deleted while no
// reconciler ran are removed).
package ovn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

// Name is the driver name service providers use.
const Name = "ovn"

// NetworkTypes are the network types OVN routes: those the ovn network
// backend realises as logical switches.
var NetworkTypes = []string{"geneve", "vlan", "flat"}

// NB is the northbound database connection as the driver uses it;
// *ovsdb.Client implements it.
type NB interface {
	Transact(ctx context.Context, db string, ops ...ovsdb.Operation) ([]ovsdb.OpResult, error)
	Monitor(ctx context.Context, db string, tables map[string][]string) (*ovsdb.Cache, error)
	OnConnect(f func())
	Connected() bool
	Echo(ctx context.Context) error
}

// Options configure a Driver.
type Options struct {
	// GatewayChassis are the chassis every router gateway is scheduled to,
	// with their priorities. With two or more, routers are HA (the
	// capability is mandatory); with fewer, HA is unsupported. Without
	// any, routers cannot have an external gateway.
	GatewayChassis []GatewayChassis
	// Timeout bounds one Sync, Delete or Sweep (default 10 s).
	Timeout time.Duration
	// ErrorAfter is how long the database must stay unreachable before
	// every router is resynced to report it ERROR (default 1 s), so that
	// a restart or a reconnection does not flap every router's status.
	// A router changed meanwhile reports ERROR at once.
	ErrorAfter time.Duration
	// Log receives connection events and retries; nil discards.
	Log *slog.Logger
}

// Driver is the ovn L3 driver. It is safe for concurrent use.
type Driver struct {
	nb      NB
	cache   *ovsdb.Cache
	chassis []GatewayChassis
	timeout time.Duration
	grace   time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	resync func()
	conns  atomic.Int64 // connections made (OnConnect calls)

	// idx maps Logical_Router names to rows. It is rebuilt from the
	// replica after a (re)connection and when found wrong, and otherwise
	// kept by the driver's own writes, so that a lookup costs O(1) rather
	// than a scan of every router.
	idxMu    sync.Mutex
	idx      map[string][]ovsdb.UUID
	idxStale bool
}

var (
	_ l3.Driver   = (*Driver)(nil)
	_ l3.Resyncer = (*Driver)(nil)
	_ l3.Sweeper  = (*Driver)(nil)
)

// errUnreachable is Sync's error while the database cannot be reached.
var errUnreachable = errors.New("the OVN northbound database is unreachable (reconnecting)")

// pollInterval is how often the driver checks that the client is still
// connected, besides checking at every change of the replica (which the
// client signals when the connection is lost).
const pollInterval = 200 * time.Millisecond

// New returns a driver writing through nb. It starts monitoring the router
// tables (at once if nb is connected, else when it connects) and watches
// the connection until ctx ends.
func New(ctx context.Context, nb NB, opts Options) (*Driver, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.ErrorAfter <= 0 {
		opts.ErrorAfter = time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := nb.Monitor(ctx, nbDB, monitored)
	if err != nil {
		return nil, fmt.Errorf("ovn l3: monitoring the router tables: %w", err)
	}
	d := &Driver{nb: nb, cache: cache, chassis: opts.GatewayChassis, timeout: opts.Timeout,
		grace: opts.ErrorAfter, log: log.With("driver", Name), idxStale: true}
	nb.OnConnect(func() {
		d.conns.Add(1)
		d.invalidate()
		d.log.Info("northbound database connected: resyncing every ovn router")
		d.requestResync()
	})
	go d.watch(ctx)
	return d, nil
}

// watch resyncs every router, so that they turn ERROR, once the connection
// has been lost for the grace period.
// A connection counts as lost when the client is seen disconnected after
// an OnConnect not yet accounted for, so that even a connection too short
// to be seen up is noticed.
func (d *Driver) watch(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var handled int64
	var lostAt time.Time // zero: no loss pending
	check := func() {
		if d.nb.Connected() && d.cache.Synced() {
			lostAt = time.Time{} // back in time: OnConnect resyncs
			return
		}
		if n := d.conns.Load(); n > handled {
			handled = n
			lostAt = time.Now()
			d.log.Warn("northbound database connection lost", "error_after", d.grace.String())
		}
		if !lostAt.IsZero() && time.Since(lostAt) >= d.grace {
			lostAt = time.Time{}
			d.log.Warn("northbound database still unreachable: ovn routers are ERROR until it is back")
			d.requestResync()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.cache.Changed():
			check()
		case <-t.C:
			check()
		}
	}
}

// SetResync implements l3.Resyncer.
func (d *Driver) SetResync(resync func()) {
	d.mu.Lock()
	d.resync = resync
	d.mu.Unlock()
}

func (d *Driver) requestResync() {
	d.mu.Lock()
	f := d.resync
	d.mu.Unlock()
	if f != nil {
		f()
	}
}

// Capabilities: HA mandatory with two or more gateway chassis (the gateway
// fails over between them) and unsupported otherwise; distributed optional
// (a distributed router's floating IPs are NATed on the VM's chassis, its
// SNAT stays on the gateway chassis); geneve, vlan and flat networks;
// floating IPs served.
func (d *Driver) Capabilities() l3.Capabilities {
	ha := l3.Unsupported
	if len(d.chassis) >= 2 {
		ha = l3.Mandatory
	}
	return l3.Capabilities{HA: ha, Distributed: l3.Optional, NetworkTypes: NetworkTypes, FloatingIPs: true}
}

// Validate refuses an external gateway when no gateway chassis is
// configured: OVN NATs only on a gateway port bound to a chassis. It does
// no I/O and always allows deletion.
func (d *Driver) Validate(op l3.Operation, desired *l3.Router) error {
	if op == l3.OpDelete {
		return nil
	}
	if desired.Gateway != nil && len(d.chassis) == 0 {
		return errors.New("the ovn driver has no gateway chassis configured (spinel server --ovn-gateway-chassis), so its routers cannot have an external gateway")
	}
	return nil
}

// Sync makes the northbound database hold exactly the router's desired
// rows, in one transaction (none when nothing differs). The router is
// ACTIVE and each floating IP with a port ACTIVE once written. While the
// database is unreachable it returns an error.
func (d *Driver) Sync(ctx context.Context, desired *l3.Router) (l3.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	id := desired.Router.ID
	want := build(desired, d.chassis)
	for attempt := 1; ; attempt++ {
		if !d.nb.Connected() || !d.cache.Synced() {
			return l3.Status{}, fmt.Errorf("ovn: router %s: %w", id, errUnreachable)
		}
		existing, err := d.routersNamed(ctx, want.Name)
		if err != nil {
			return l3.Status{}, fmt.Errorf("ovn: router %s: %w", id, err)
		}
		ops := plan(want, existing, d.cache)
		if len(ops) == 0 {
			return status(want), nil
		}
		res, err := d.nb.Transact(ctx, nbDB, ops...)
		if err == nil {
			if len(existing) == 0 { // created: its row is the last insert
				d.indexed(want.Name, res[len(res)-1].UUID)
			} else if len(existing) > 1 { // duplicates deleted
				d.invalidate()
			}
			d.log.Debug("router synced", "router_id", id, "ops", len(ops), "attempt", attempt)
			return status(want), nil
		}
		if te, ok := errors.AsType[*ovsdb.TxnError](err); ok && te.Index == 0 && attempt < 4 {
			// The guard failed: the replica was behind. Catch up and replan.
			d.invalidate()
			if err := d.nb.Echo(ctx); err != nil {
				return l3.Status{}, fmt.Errorf("ovn: router %s: %w", id, err)
			}
			continue
		}
		if errors.Is(err, ovsdb.ErrNotConnected) {
			err = errUnreachable
		}
		return l3.Status{}, fmt.Errorf("ovn: router %s: %w", id, err)
	}
}

// status is the outcome of having written want.
func status(want *lrRow) l3.Status {
	st := l3.Status{Router: "ACTIVE", FloatingIPs: map[string]string{}}
	for _, n := range want.NAT {
		if id := n.ExternalIDs[keyFIPID]; id != "" {
			st.FloatingIPs[id] = "ACTIVE"
		}
	}
	return st
}

// Delete removes the router's Logical_Router (its ports, NAT rows, static
// routes and gateway chassis go with it). It needs no replica, so it works
// right after a reconnection too.
func (d *Driver) Delete(ctx context.Context, routerID string) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.nb.Transact(ctx, nbDB, ovsdb.Delete(tLR, ovsdb.Equal("name", RouterName(routerID)),
		ovsdb.Includes("external_ids", map[string]string{OwnerKey: OwnerValue})))
	if errors.Is(err, ovsdb.ErrNotConnected) {
		err = errUnreachable
	}
	if err != nil {
		return fmt.Errorf("ovn: deleting router %s: %w", routerID, err)
	}
	d.indexed(RouterName(routerID))
	return nil
}

// Sweep implements l3.Sweeper: it deletes the Logical_Routers this driver
// owns whose router does not exist. It lists the database first and asks
// exists afterwards, so a router created meanwhile is never swept.
func (d *Driver) Sweep(ctx context.Context, exists func(routerID string) bool) error {
	if !d.nb.Connected() || !d.cache.Synced() {
		return fmt.Errorf("ovn: sweep: %w", errUnreachable)
	}
	snap := d.cache.Snapshot(tLR)
	var ops []ovsdb.Operation
	var gone []string
	for uuid, row := range snap[tLR] {
		if !isOwned(row) {
			continue
		}
		rid := routerIDOf(strOf(row["name"]))
		if rid == "" || exists(rid) {
			continue
		}
		gone = append(gone, rid)
		ops = append(ops, ovsdb.Delete(tLR, ovsdb.ByUUID(uuid)))
	}
	if len(ops) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if _, err := d.nb.Transact(ctx, nbDB, ops...); err != nil {
		return fmt.Errorf("ovn: sweeping %d routers that no longer exist: %w", len(ops), err)
	}
	d.log.Info("swept routers that no longer exist", "count", len(gone), "router_ids", gone)
	for _, rid := range gone {
		d.indexed(RouterName(rid))
	}
	return nil
}

// invalidate makes the next lookup rebuild the name index.
func (d *Driver) invalidate() {
	d.idxMu.Lock()
	d.idxStale = true
	d.idxMu.Unlock()
}

// indexed records that the router named name is now the rows ids (none:
// deleted).
func (d *Driver) indexed(name string, ids ...ovsdb.UUID) {
	d.idxMu.Lock()
	defer d.idxMu.Unlock()
	if d.idx == nil {
		return
	}
	if len(ids) == 0 {
		delete(d.idx, name)
	} else {
		d.idx[name] = ids
	}
}

// lookup returns the replica's rows of the indexed routers named name;
// missing reports an indexed row the replica does not hold.
func (d *Driver) lookup(name string) (out []child, missing bool) {
	d.idxMu.Lock()
	if d.idxStale || d.idx == nil {
		snap := d.cache.Snapshot(tLR)
		idx := make(map[string][]ovsdb.UUID, len(snap[tLR]))
		for id, row := range snap[tLR] {
			n := strOf(row["name"])
			idx[n] = append(idx[n], id)
		}
		d.idx, d.idxStale = idx, false
	}
	ids := d.idx[name]
	d.idxMu.Unlock()
	for _, id := range ids {
		row, ok := d.cache.Row(tLR, id)
		if !ok || strOf(row["name"]) != name {
			missing = true
			continue
		}
		out = append(out, child{id, row})
	}
	return out, missing
}

// routersNamed returns the replica's Logical_Router rows with this name.
// An indexed row the replica lacks is either a router just created (the
// replica catches up within one round trip) or one deleted behind the
// driver's back (the index is then rebuilt). A router created behind its
// back is not seen here; the guard of the plan catches it.
func (d *Driver) routersNamed(ctx context.Context, name string) ([]child, error) {
	out, missing := d.lookup(name)
	if !missing {
		return out, nil
	}
	if err := d.nb.Echo(ctx); err != nil {
		return nil, err
	}
	if out, missing = d.lookup(name); missing {
		d.invalidate()
		out, _ = d.lookup(name)
	}
	return out, nil
}
