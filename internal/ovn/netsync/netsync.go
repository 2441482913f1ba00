// Package netsync is the ovn network backend: a level-triggered reconciler
// that keeps OVN's northbound database in step with every network whose
// provider:network_type is geneve, vlan or flat.
//
// Each pass computes the complete desired state from the watch cache
// (Compute: pure), compares it with a replica of the northbound tables it
// uses (an OVSDB monitor) and writes only the difference:
//
//   - a Logical_Switch "neutron-<network id>" per network, with a localnet
//     port "provnet-<network id>" (options:network_name = the physical
//     network, tag = the VLAN) for vlan and flat networks;
//   - a Logical_Switch_Port "<port id>" per port (floating IP ports
//     excepted) with addresses "MAC IP...", port_security, enabled and
//     requested-chassis; router interface and gateway ports are ports of
//     type router with options:router-port = "lrp-<port id>", the
//     Logical_Router_Port the L3 driver creates;
//   - DHCP_Options per subnet with DHCP enabled (OVN's native DHCP),
//     referenced by the ports' dhcpv4_options/dhcpv6_options;
//   - a Port_Group "pg_<security group id>" per security group with one
//     ACL per rule (allow-related, or allow-stateless for stateless
//     groups), and Neutron's neutron_pg_drop holding every port with port
//     security, whose two ACLs drop all other IP traffic.
//
// Names and external_ids are those of Neutron's OVN driver, plus
// spinel:owner=netsync on every row: netsync changes and removes only rows
// that carry it (and adopts rows Neutron's naming says are its own).
// A pass runs after every relevant change in the watch cache (debounced),
// after every change in the replica (so rows deleted behind its back come
// back), after every (re)connection (so a wiped or replaced database is
// restored) and periodically. Failed passes are retried with backoff.
// Run is singleton work: the server runs it leader-elected.
package netsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovsdb"
	"github.com/spinel-net/spinel/internal/ovsdb/nb"
)

// NB is the northbound connection as netsync uses it; *ovsdb.Client
// implements it.
type NB interface {
	Transact(ctx context.Context, db string, ops ...ovsdb.Operation) ([]ovsdb.OpResult, error)
	Monitor(ctx context.Context, db string, tables map[string][]string) (*ovsdb.Cache, error)
	OnConnect(f func())
	Echo(ctx context.Context) error
}

// Source returns the current Neutron state (see CacheSource).
type Source interface {
	Input() Input
}

// StatusSink records port statuses (port id to ACTIVE or DOWN) observed in
// OVN; *service.Service implements it.
type StatusSink interface {
	SetPortStatuses(ctx context.Context, statuses map[string]string) error
}

// Config tunes a Syncer. The zero value is usable.
type Config struct {
	Log *slog.Logger
	// BaseMAC is the prefix of DHCP server MACs (default fa:16:3e:00:00:00).
	BaseMAC string
	// Resync is the period of full passes without any change (default 60 s).
	Resync time.Duration
	// Debounce coalesces bursts of changes into one pass (default 20 ms).
	Debounce time.Duration
	// MaxOps bounds the operations of one transaction (default 2000).
	MaxOps int
	// MinBackoff and MaxBackoff bound the delay before retrying a failed
	// pass (defaults 100 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	// Status, if set, receives the status of VM ports: ACTIVE while OVN
	// reports their Logical_Switch_Port up (ovn-controller has plugged
	// them), DOWN otherwise. That is what Nova waits for (vif-plugged).
	Status StatusSink
}

// Stats describe one pass.
type Stats struct {
	Ops          int // operations written
	Transactions int
	Duration     time.Duration
}

// Status is the outcome of the latest pass.
type Status struct {
	Passes   int
	LastPass time.Time
	LastErr  error
	Last     Stats
}

// Syncer is the ovn network backend's reconciler.
type Syncer struct {
	nb   NB
	src  Source
	cfg  Config
	log  *slog.Logger
	trig chan struct{}

	mu     sync.Mutex
	cache  *ovsdb.Cache
	status Status
	passMu sync.Mutex // one pass at a time
}

// New returns a Syncer writing to nb what src describes. It registers an
// OnConnect hook with nb, so create it once per client.
func New(nbc NB, src Source, cfg Config) *Syncer {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 60 * time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	if cfg.MaxOps <= 0 {
		cfg.MaxOps = 2000
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	s := &Syncer{nb: nbc, src: src, cfg: cfg, log: cfg.Log, trig: make(chan struct{}, 1)}
	nbc.OnConnect(s.Trigger)
	return s
}

// Trigger asks for a pass soon. It never blocks.
func (s *Syncer) Trigger() {
	select {
	case s.trig <- struct{}{}:
	default:
	}
}

// Watch triggers a pass on every change to the kinds netsync mirrors.
func (s *Syncer) Watch(c *cache.Cache) {
	c.Subscribe(func(ev cache.Event) {
		switch ev.Kind {
		case "network", "subnet", "port", "security_group", "security_group_rule":
			s.Trigger()
		}
	})
}

// Status returns the outcome of the latest pass.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// replica returns the monitor of netsync's tables, starting it once.
func (s *Syncer) replica(ctx context.Context) (*ovsdb.Cache, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache != nil {
		return s.cache, nil
	}
	tables := map[string][]string{}
	for _, t := range Tables {
		tables[t] = nil
	}
	c, err := s.nb.Monitor(ctx, nb.Database, tables)
	if err != nil {
		return nil, fmt.Errorf("netsync: %w", err)
	}
	s.cache = c
	return c, nil
}

// Run reconciles until ctx ends. It returns nil on cancellation.
func (s *Syncer) Run(ctx context.Context) error {
	var c *ovsdb.Cache
	for {
		var err error
		if c, err = s.replica(ctx); err == nil {
			break
		}
		s.log.Error("cannot monitor the northbound database", "op", "monitor", "err", err)
		if !sleep(ctx, s.cfg.MaxBackoff) {
			return nil
		}
	}
	s.log.Info("ovn network sync running", "op", "run")
	resync := time.NewTicker(s.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(0) // the first pass at once
	failures := 0
	for {
		select {
		case <-ctx.Done():
			retry.Stop()
			return nil
		case <-s.trig:
		case <-c.Changed():
		case <-resync.C:
		case <-retry.C:
		}
		if !sleep(ctx, s.cfg.Debounce) {
			return nil
		}
		if !c.Synced() {
			continue // disconnected: the OnConnect hook triggers a pass
		}
		if _, err := s.SyncOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			d := backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures)
			s.log.Warn("ovn network sync failed; retrying", "op", "sync", "err", err, "attempts", failures, "retry_in", d.Round(time.Millisecond))
			retry.Reset(d)
			continue
		}
		failures = 0
	}
}

// SyncOnce runs one complete pass: it makes the northbound database hold
// exactly the desired state (for the rows netsync owns) and waits until the
// replica reflects its writes.
func (s *Syncer) SyncOnce(ctx context.Context) (Stats, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	start := time.Now()
	st, err := s.pass(ctx)
	st.Duration = time.Since(start)
	s.mu.Lock()
	s.status.Passes++
	s.status.LastPass = time.Now()
	s.status.LastErr = err
	s.status.Last = st
	s.mu.Unlock()
	if err == nil && st.Ops > 0 {
		s.log.Debug("ovn network sync", "op", "sync", "ops", st.Ops, "txns", st.Transactions, "duration", st.Duration)
	}
	return st, err
}

func (s *Syncer) pass(ctx context.Context) (Stats, error) {
	var st Stats
	c, err := s.replica(ctx)
	if err != nil {
		return st, err
	}
	if !c.Synced() {
		return st, fmt.Errorf("netsync: %w", ovsdb.ErrNotConnected)
	}
	in := s.src.Input()
	d := Compute(in, Options{BaseMAC: s.cfg.BaseMAC})
	a, err := index(c.Snapshot(Tables...))
	if err != nil {
		return st, fmt.Errorf("netsync: reading the replica: %w", err)
	}
	p := &planner{a: a}
	var errs []error

	// Switches, their ports and DHCP options first: port groups refer to
	// the ports.
	var units []*unit
	for _, sw := range d.Switches {
		if u := p.switchUnit(sw); len(u.ops) > 0 {
			units = append(units, u)
		}
	}
	ids, err := s.apply(ctx, units, &st)
	if err != nil {
		if !isTxnErr(err) {
			return st, err
		}
		errs = append(errs, err)
	}
	lsp := func(name string) (ovsdb.UUID, bool) {
		if id, ok := ids[name]; ok {
			return id, true
		}
		if r := a.lspByName[name]; r != nil {
			return ovsdb.UUID(r.UUID), true
		}
		return "", false
	}
	units = units[:0]
	for _, pg := range d.PortGroups {
		if u := p.portGroupUnit(pg, lsp); len(u.ops) > 0 {
			units = append(units, u)
		}
	}
	units = append(units, p.deletions(d)...)
	if _, err := s.apply(ctx, units, &st); err != nil {
		if !isTxnErr(err) {
			return st, err
		}
		errs = append(errs, err)
	}
	if s.cfg.Status != nil {
		if changed := portStatuses(in, a); len(changed) > 0 {
			if err := s.cfg.Status.SetPortStatuses(ctx, changed); err != nil {
				errs = append(errs, fmt.Errorf("netsync: port status: %w", err))
			}
		}
	}
	if st.Ops > 0 {
		// A barrier: the replica now reflects every write of this pass.
		if err := s.nb.Echo(ctx); err != nil {
			return st, fmt.Errorf("netsync: %w", err)
		}
	}
	return st, errors.Join(errs...)
}

// apply commits units in transactions of up to MaxOps operations. A
// refused transaction of several units is retried unit by unit, so one bad
// unit does not hold back the others. It returns the UUIDs of the switch
// ports inserted. A connection error ends it at once; refused units are
// reported together (as *ovsdb.TxnError) after the rest is applied.
func (s *Syncer) apply(ctx context.Context, units []*unit, st *Stats) (map[string]ovsdb.UUID, error) {
	ids := map[string]ovsdb.UUID{}
	var refused []error
	commit := func(batch []*unit) error {
		var ops []ovsdb.Operation
		for _, u := range batch {
			ops = append(ops, u.ops...)
		}
		res, err := s.nb.Transact(ctx, nb.Database, ops...)
		st.Transactions++
		if err != nil {
			return err
		}
		st.Ops += len(ops)
		for i, op := range ops {
			if op.Op == "update" && res[i].Count == 0 {
				// The row was in the replica but is not in the database:
				// the replica is behind (a database replaced under it).
				// What else committed is right; the retry sees the rest.
				return fmt.Errorf("%w: %s row %v is gone", errStale, op.Table, op.Where)
			}
		}
		off := 0
		for _, u := range batch {
			for i, name := range u.lspInserts {
				ids[name] = res[off+i].UUID
			}
			off += len(u.ops)
		}
		return nil
	}
	for start := 0; start < len(units); {
		end, n := start, 0
		for end < len(units) && (end == start || n+len(units[end].ops) <= s.cfg.MaxOps) {
			n += len(units[end].ops)
			end++
		}
		batch := units[start:end]
		start = end
		err := commit(batch)
		if err == nil {
			continue
		}
		if !isTxnErr(err) {
			return ids, fmt.Errorf("netsync: %w", err)
		}
		if len(batch) == 1 {
			refused = append(refused, fmt.Errorf("netsync: %s: %w", batch[0].what, err))
			continue
		}
		for _, u := range batch {
			if err := commit([]*unit{u}); err != nil {
				if !isTxnErr(err) {
					return ids, fmt.Errorf("netsync: %w", err)
				}
				refused = append(refused, fmt.Errorf("netsync: %s: %w", u.what, err))
			}
		}
	}
	return ids, errors.Join(refused...)
}

// portStatuses returns the VM ports of ovn networks whose status differs
// from what their switch ports' up column says.
func portStatuses(in Input, a *actual) map[string]string {
	ovn := map[string]bool{}
	for _, n := range in.Networks {
		ovn[n.ID] = IsOVNType(n.NetworkType)
	}
	out := map[string]string{}
	for _, p := range in.Ports {
		if !ovn[p.NetworkID] || trusted(p) {
			continue
		}
		want := "DOWN"
		if lsp := a.lspByName[p.ID]; lsp != nil && lsp.Up != nil && *lsp.Up {
			want = "ACTIVE"
		}
		if p.Status != want {
			out[p.ID] = want
		}
	}
	return out
}

// errStale reports a pass planned on a replica that was behind.
var errStale = errors.New("replica out of date")

func isTxnErr(err error) bool {
	var te *ovsdb.TxnError
	return errors.As(err, &te)
}

func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for range min(failures-1, 30) {
		d *= 2
		if d >= hi {
			d = hi
			break
		}
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// CacheSource reads the Neutron state from the server's watch cache.
func CacheSource(c *cache.Cache) Source { return cacheSource{c} }

type cacheSource struct{ c *cache.Cache }

func (s cacheSource) Input() Input {
	var in Input
	s.c.List("network", func(e *cache.Entry) bool {
		n := e.Obj.(*model.Network)
		if IsOVNType(n.NetworkType) {
			in.Networks = append(in.Networks, n)
		}
		return true
	})
	for _, n := range in.Networks {
		for _, e := range s.c.ByIndex("subnet", "network", n.ID) {
			in.Subnets = append(in.Subnets, e.Obj.(*model.Subnet))
		}
		for _, e := range s.c.ByIndex("port", "network", n.ID) {
			in.Ports = append(in.Ports, e.Obj.(*model.Port))
		}
	}
	s.c.List("security_group", func(e *cache.Entry) bool {
		in.SecurityGroups = append(in.SecurityGroups, e.Obj.(*model.SecurityGroup))
		return true
	})
	s.c.List("security_group_rule", func(e *cache.Entry) bool {
		in.Rules = append(in.Rules, e.Obj.(*model.SecurityGroupRule))
		return true
	})
	return in
}

// StaticSource is a fixed Input (tests and benchmarks).
type StaticSource struct {
	mu sync.Mutex
	in Input
}

// Set replaces the input.
func (s *StaticSource) Set(in Input) {
	s.mu.Lock()
	s.in = in
	s.mu.Unlock()
}

// Input implements Source.
func (s *StaticSource) Input() Input {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Input{
		Networks: slices.Clone(s.in.Networks), Subnets: slices.Clone(s.in.Subnets), Ports: slices.Clone(s.in.Ports),
		SecurityGroups: slices.Clone(s.in.SecurityGroups), Rules: slices.Clone(s.in.Rules),
	}
}
