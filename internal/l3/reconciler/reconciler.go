// Package reconciler hands each router's complete desired state to the
// driver that owns it, level-triggered in the client-go manner: change
// events only enqueue router ids; a worker reads the router's current
// state, calls the driver's Sync (or Delete for a router that is gone),
// records the outcome as status, and retries failures with per-router
// exponential backoff. Every router is also resynced periodically.
//
// A router deleted through the API leaves a tombstone in the store (its
// provider and service profile) until its driver has deleted it, so a
// deletion reaches the backend even when the reconciler that saw the
// router dies first: its successor finds the tombstone.
//
// Drivers may implement l3.Resyncer, to have all their routers re-enqueued
// when their backend lost state, and l3.Sweeper, to remove routers that
// were deleted while no reconciler ran; Watch registers them.
package reconciler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

// State is what the reconciler needs from the L3 service.
type State interface {
	// DesiredRouter returns the router's complete desired state and the
	// name of its provider; ok is false when the router does not exist.
	DesiredRouter(id string) (d *l3.Router, provider string, ok bool)
	// RouterIDs lists every router.
	RouterIDs() []string
	// RecordStatus stores the outcome of a Sync (syncErr non-nil: ERROR).
	RecordStatus(ctx context.Context, id string, st l3.Status, syncErr error) error
	// Driver returns the driver of a provider.
	Driver(provider string) (l3.Driver, l3.Provider, bool)
	// DeletedRouter returns the provider and profile of a router deleted
	// through the API whose backend has not yet been told; DeletedRouterIDs
	// lists them; ForgetDeletedRouter removes the record once it has.
	DeletedRouter(id string) (provider string, profile *model.ServiceProfile, ok bool)
	DeletedRouterIDs() []string
	ForgetDeletedRouter(ctx context.Context, id string) error
}

// ProfileDeleter is implemented by drivers that need the service profile
// of a deleted router to reach its backend.
type ProfileDeleter interface {
	DeleteWithProfile(ctx context.Context, routerID string, profile *model.ServiceProfile) error
}

// Options tune the reconciler.
type Options struct {
	Workers    int           // parallel Syncs, default 4
	Resync     time.Duration // full resync period, default 60s
	MinBackoff time.Duration // default 50ms
	MaxBackoff time.Duration // default 30s
}

type item struct {
	attempts  int
	notBefore time.Time
	// known is the last desired state seen, kept to delete a router
	// from its backend after it is gone.
	provider string
	profile  *model.ServiceProfile
}

// Reconciler is the L3 controller. Create it with New and start it with Run.
type Reconciler struct {
	state State
	log   *slog.Logger
	opts  Options

	mu         sync.Mutex
	queue      map[string]*item
	processing map[string]bool
	known      map[string]*item // router id -> provider/profile last synced
	wake       chan struct{}

	sweepers map[string]l3.Sweeper // by driver name
	sweeping sync.Mutex            // one sweep at a time
	running  context.Context       // Run's context while it runs, under mu
}

// New returns a reconciler over state.
func New(state State, log *slog.Logger, opts Options) *Reconciler {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Resync <= 0 {
		opts.Resync = 60 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	return &Reconciler{state: state, log: log, opts: opts, queue: map[string]*item{}, processing: map[string]bool{},
		known: map[string]*item{}, wake: make(chan struct{}, 1)}
}

// Watch registers the reconciler with the drivers that implement
// l3.Resyncer (a resync they request re-enqueues every router they own)
// and l3.Sweeper (swept when Run starts and at every periodic resync).
// Call it once, before Run.
func (r *Reconciler) Watch(drivers map[string]l3.Driver) {
	for name, d := range drivers {
		if rs, ok := d.(l3.Resyncer); ok {
			rs.SetResync(func() { go r.ResyncDriver(name) })
		}
		if sw, ok := d.(l3.Sweeper); ok {
			if r.sweepers == nil {
				r.sweepers = map[string]l3.Sweeper{}
			}
			r.sweepers[name] = sw
		}
	}
}

// ResyncDriver enqueues every router whose provider uses the driver named
// driver, and sweeps that driver if it is an l3.Sweeper and Run is running.
func (r *Reconciler) ResyncDriver(driver string) {
	n := 0
	for _, id := range r.state.RouterIDs() {
		_, provider, ok := r.state.DesiredRouter(id)
		if !ok {
			continue
		}
		if _, p, ok := r.state.Driver(provider); ok && p.Driver == driver {
			r.Enqueue(id)
			n++
		}
	}
	r.log.Info("driver asked for a resync", "driver", driver, "routers", n)
	if sw, ok := r.sweepers[driver]; ok {
		r.mu.Lock()
		ctx := r.running
		r.mu.Unlock()
		if ctx != nil {
			r.sweep(ctx, sw)
		}
	}
}

// sweep asks sweepers (all when none are given) to remove routers that
// no longer exist.
func (r *Reconciler) sweep(ctx context.Context, sweepers ...l3.Sweeper) {
	if len(sweepers) == 0 {
		for _, sw := range r.sweepers {
			sweepers = append(sweepers, sw)
		}
	}
	if len(sweepers) == 0 {
		return
	}
	r.sweeping.Lock()
	defer r.sweeping.Unlock()
	exists := func(id string) bool { _, _, ok := r.state.DesiredRouter(id); return ok }
	for _, sw := range sweepers {
		if err := sw.Sweep(ctx, exists); err != nil && ctx.Err() == nil {
			r.log.Warn("sweeping deleted routers failed", "err", err)
		}
	}
}

// Enqueue asks for router id to be reconciled soon. It never blocks.
func (r *Reconciler) Enqueue(id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	if it, ok := r.queue[id]; ok {
		it.notBefore = time.Time{} // a fresh change: do not wait out the backoff
	} else {
		r.queue[id] = &item{}
	}
	r.mu.Unlock()
	r.signal()
}

func (r *Reconciler) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works the queue until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	r.mu.Lock()
	r.running = ctx
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = nil
		r.mu.Unlock()
	}()
	r.enqueueAll()
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); r.worker(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.sweep(ctx) }()
	t := time.NewTicker(r.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-t.C:
			r.enqueueAll()
			wg.Add(1)
			go func() { defer wg.Done(); r.sweep(ctx) }()
		}
	}
}

// enqueueAll enqueues every router and every deletion still to pass on.
func (r *Reconciler) enqueueAll() {
	for _, id := range r.state.RouterIDs() {
		r.Enqueue(id)
	}
	for _, id := range r.state.DeletedRouterIDs() {
		r.Enqueue(id)
	}
}

// next takes a due item, or says how long to wait for one.
func (r *Reconciler) next() (string, *item, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	wait := time.Hour
	for id, it := range r.queue {
		if r.processing[id] {
			continue
		}
		if d := it.notBefore.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		delete(r.queue, id)
		r.processing[id] = true
		return id, it, 0
	}
	return "", nil, wait
}

func (r *Reconciler) worker(ctx context.Context) {
	for {
		id, it, wait := r.next()
		if id == "" {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-r.wake:
				t.Stop()
			case <-t.C:
			}
			continue
		}
		err := r.reconcile(ctx, id)
		r.mu.Lock()
		delete(r.processing, id)
		if err != nil && ctx.Err() == nil {
			it.attempts++
			backoff := min(r.opts.MinBackoff<<min(it.attempts-1, 20), r.opts.MaxBackoff)
			if queued, ok := r.queue[id]; ok {
				queued.attempts = it.attempts // a newer change arrived: keep its urgency
			} else {
				it.notBefore = time.Now().Add(backoff)
				r.queue[id] = it
			}
			r.log.Warn("router sync failed", "router_id", id, "attempt", it.attempts, "retry_in", backoff.String(), "err", err)
		}
		r.mu.Unlock()
		r.signal()
	}
}

func (r *Reconciler) reconcile(ctx context.Context, id string) error {
	d, provider, ok := r.state.DesiredRouter(id)
	if !ok {
		return r.deleteGone(ctx, id)
	}
	r.mu.Lock()
	r.known[id] = &item{provider: provider, profile: d.Profile}
	r.mu.Unlock()
	drv, _, ok := r.state.Driver(provider)
	if !ok {
		return r.state.RecordStatus(ctx, id, l3.Status{}, errNoDriver(provider))
	}
	st, syncErr := drv.Sync(ctx, d)
	if err := r.state.RecordStatus(ctx, id, st, syncErr); err != nil {
		return err
	}
	return syncErr
}

// deleteGone deletes router id, which no longer exists, from its backend:
// the provider and profile come from its tombstone, or from memory for a
// router deleted without one. The tombstone goes once the driver succeeded.
func (r *Reconciler) deleteGone(ctx context.Context, id string) error {
	r.mu.Lock()
	k := r.known[id]
	r.mu.Unlock()
	provider, profile, tomb := r.state.DeletedRouter(id)
	if !tomb {
		if k == nil {
			return nil // never synced by us, and nothing recorded: nothing to do
		}
		provider, profile = k.provider, k.profile
	}
	drv, _, ok := r.state.Driver(provider)
	if !ok {
		// The provider's driver is not loaded here (any more): keep the
		// tombstone for a server that has it, or for a restart with it.
		r.log.Warn("deleted router's driver not loaded; its backend keeps it for now", "router_id", id, "provider", provider)
		return nil
	}
	var err error
	if pd, ok := drv.(ProfileDeleter); ok {
		err = pd.DeleteWithProfile(ctx, id, profile)
	} else {
		err = drv.Delete(ctx, id)
	}
	if err != nil {
		return err
	}
	if tomb {
		if err := r.state.ForgetDeletedRouter(ctx, id); err != nil {
			return err
		}
	}
	r.mu.Lock()
	delete(r.known, id)
	r.mu.Unlock()
	return nil
}

type errNoDriver string

func (e errNoDriver) Error() string { return "no driver loaded for provider " + string(e) }
