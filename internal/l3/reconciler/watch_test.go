package reconciler

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

// state is a fixed set of routers, each with its provider; provider p uses
// the driver named p.
type state struct {
	mu      sync.Mutex
	routers map[string]string // router id -> provider
	drivers map[string]l3.Driver
	tombs   map[string]string // deleted router id -> provider
}

func (s *state) DeletedRouter(id string) (string, *model.ServiceProfile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.tombs[id]
	return p, nil, ok
}

func (s *state) DeletedRouterIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.tombs {
		ids = append(ids, id)
	}
	return ids
}

func (s *state) ForgetDeletedRouter(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tombs, id)
	return nil
}

func (s *state) DesiredRouter(id string) (*l3.Router, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.routers[id]
	if !ok {
		return nil, "", false
	}
	return &l3.Router{Router: model.Router{Standard: model.Standard{ID: id}}}, p, true
}

func (s *state) RouterIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.routers {
		ids = append(ids, id)
	}
	return ids
}

func (s *state) RecordStatus(context.Context, string, l3.Status, error) error { return nil }

func (s *state) Driver(provider string) (l3.Driver, l3.Provider, bool) {
	d, ok := s.drivers[provider]
	return d, l3.Provider{ServiceType: l3.ServiceType, Name: provider, Driver: provider}, ok
}

// driver records the routers it syncs.
type driver struct {
	mu     sync.Mutex
	synced []string
}

func (d *driver) Capabilities() l3.Capabilities           { return l3.Capabilities{} }
func (d *driver) Validate(l3.Operation, *l3.Router) error { return nil }
func (d *driver) Delete(context.Context, string) error    { return nil }
func (d *driver) Sync(_ context.Context, r *l3.Router) (l3.Status, error) {
	d.mu.Lock()
	d.synced = append(d.synced, r.Router.ID)
	d.mu.Unlock()
	return l3.Status{}, nil
}

func (d *driver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.synced)
}

func (d *driver) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.synced
	d.synced = nil
	slices.Sort(out)
	return out
}

// resyncer is a driver that asks for resyncs and sweeps its backend.
type resyncer struct {
	driver
	resync  func()
	sweptMu sync.Mutex
	swept   []string // routers it held that exists() denied
	held    []string
}

func (d *resyncer) SetResync(f func()) { d.resync = f }
func (d *resyncer) Sweep(_ context.Context, exists func(string) bool) error {
	d.sweptMu.Lock()
	defer d.sweptMu.Unlock()
	for _, id := range d.held {
		if !exists(id) {
			d.swept = append(d.swept, id)
		}
	}
	return nil
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestWatch: a Resyncer's resync enqueues its own routers only, and a
// Sweeper is swept when Run starts and after a resync, with exists
// answering from the state.
func TestWatch(t *testing.T) {
	rs, plain := &resyncer{held: []string{"a1", "gone"}}, &driver{}
	st := &state{routers: map[string]string{"a1": "rs", "a2": "rs", "b1": "plain"},
		drivers: map[string]l3.Driver{"rs": rs, "plain": plain}}
	r := New(st, slog.New(slog.DiscardHandler), Options{Resync: time.Hour})
	r.Watch(st.drivers)
	if rs.resync == nil {
		t.Fatal("Watch did not register the resync function")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the initial syncs", func() bool { return rs.count()+plain.count() == 3 })
	waitFor(t, "the initial sweep", func() bool {
		rs.sweptMu.Lock()
		defer rs.sweptMu.Unlock()
		return slices.Equal(rs.swept, []string{"gone"})
	})
	rs.take()
	plain.take()

	rs.resync()
	waitFor(t, "the resync", func() bool { return rs.count() == 2 })
	time.Sleep(50 * time.Millisecond)
	if got := rs.take(); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("resync synced %v, want a1 a2", got)
	}
	if got := plain.take(); len(got) != 0 {
		t.Errorf("another driver's routers synced by the resync: %v", got)
	}
	waitFor(t, "a sweep after the resync", func() bool {
		rs.sweptMu.Lock()
		defer rs.sweptMu.Unlock()
		return len(rs.swept) == 2
	})
}
