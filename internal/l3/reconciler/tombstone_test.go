package reconciler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/spinel-net/spinel/internal/l3"
)

// deleter records Delete calls and fails while failing is set.
type deleter struct {
	driver
	mu      sync.Mutex
	deleted []string
	failing bool
}

func (d *deleter) Delete(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing {
		return errors.New("backend unreachable")
	}
	d.deleted = append(d.deleted, id)
	return nil
}

func (d *deleter) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.deleted...)
}

// TestTombstoneSurvivesReconciler: a router deleted while no reconciler
// knew it (a new leader after the old one died) is deleted from its
// backend from its tombstone, which is forgotten only once the driver
// succeeded; a router with neither tombstone nor memory is left alone.
func TestTombstoneSurvivesReconciler(t *testing.T) {
	d := &deleter{failing: true}
	st := &state{routers: map[string]string{}, drivers: map[string]l3.Driver{"ext": d},
		tombs: map[string]string{"r-gone": "ext", "r-nodriver": "missing"}}
	r := New(st, slog.New(slog.DiscardHandler), Options{MinBackoff: 5e6, MaxBackoff: 2e7})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "failing deletes to be retried", func() bool {
		_, _, ok := st.DeletedRouter("r-gone")
		return ok && len(d.calls()) == 0
	})
	d.mu.Lock()
	d.failing = false
	d.mu.Unlock()
	waitFor(t, "the deletion to reach the backend", func() bool { return len(d.calls()) == 1 && d.calls()[0] == "r-gone" })
	waitFor(t, "the tombstone to be forgotten", func() bool { _, _, ok := st.DeletedRouter("r-gone"); return !ok })
	if _, _, ok := st.DeletedRouter("r-nodriver"); !ok {
		t.Error("the tombstone of a router whose driver is not loaded was dropped")
	}
	r.Enqueue("r-never-seen")
	r.Enqueue("r-gone")
	waitFor(t, "the queue to drain", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.queue) == 0 && len(r.processing) == 0
	})
	if got := d.calls(); len(got) != 1 {
		t.Errorf("deletes %v: want only r-gone, once", got)
	}
}
