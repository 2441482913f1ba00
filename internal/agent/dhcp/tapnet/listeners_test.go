package tapnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/agentapi"
)

type answer struct{ port, text string }

func (a *answer) PortID() string { return a.port }

type fakeListener struct {
	tap     string
	ifindex int
	a       *answer
	stopped bool
}

func (f *fakeListener) Swap(a *answer) *answer { old := f.a; f.a = a; return old }
func (f *fakeListener) Stop()                  { f.stopped = true }

// TestListenersSync drives the reconciliation with fake listeners on the
// loopback device (a "tap" that exists in any namespace).
func TestListenersSync(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	var started []*fakeListener
	failStart := false
	ls := NewListeners(slog.New(slog.DiscardHandler), func(tap string, ifindex int, a *answer) (*fakeListener, error) {
		if failStart {
			return nil, errors.New("no socket")
		}
		f := &fakeListener{tap: tap, ifindex: ifindex, a: a}
		started = append(started, f)
		return f, nil
	})
	build := func(p *agentapi.Port) (*answer, error) {
		switch p.MAC {
		case "none":
			return nil, fmt.Errorf("nothing here: %w", ErrNotServed)
		case "bad":
			return nil, errors.New("bad port")
		}
		return &answer{port: p.ID, text: p.MAC}, nil
	}
	port := func(id, tap, name string) agentapi.Port { return agentapi.Port{ID: id, Tap: tap, MAC: name} }

	ready, err := ls.Sync([]agentapi.Port{port("p1", "lo", "v1"), port("p2", "tapmissing000", "v1"), port("p3", "", "none")}, build)
	if err != nil {
		t.Fatal(err)
	}
	if !ready["p1"] || ready["p2"] || !ready["p3"] || len(started) != 1 || started[0].ifindex != lo.Index {
		t.Fatalf("first sync: ready %v, started %+v", ready, started)
	}
	// A changed answer is swapped in; nothing restarts.
	ready, err = ls.Sync([]agentapi.Port{port("p1", "lo", "v2")}, build)
	if err != nil || !ready["p1"] || len(started) != 1 || started[0].a.text != "v2" || started[0].stopped {
		t.Fatalf("swap: ready %v err %v started %+v", ready, err, started)
	}
	// Another port on the same tap: swapped too.
	if _, err = ls.Sync([]agentapi.Port{port("p9", "lo", "v3")}, build); err != nil || started[0].a.port != "p9" {
		t.Fatalf("port change: %v %+v", err, started[0].a)
	}
	// Errors of single ports are joined; the others are served.
	ready, err = ls.Sync([]agentapi.Port{port("p9", "lo", "v3"), port("p4", "x", "bad"), port("p5", "lo", "v1")}, build)
	if err == nil || !strings.Contains(err.Error(), "port p4: bad port") || !strings.Contains(err.Error(), "tap lo is already port p9's") {
		t.Fatalf("errors: %v", err)
	}
	if !ready["p9"] || ready["p4"] || ready["p5"] {
		t.Fatalf("ready with errors: %v", ready)
	}
	// A port gone: its listener stops.
	if _, err = ls.Sync(nil, build); err != nil || !started[0].stopped {
		t.Fatalf("stop: %v %+v", err, started[0])
	}
	if _, ok := ls.Running("lo"); ok {
		t.Fatal("listener still registered")
	}
	// A failed start is the port's error, and it is not ready.
	failStart = true
	ready, err = ls.Sync([]agentapi.Port{port("p1", "lo", "v1")}, build)
	if err == nil || ready["p1"] {
		t.Fatalf("failed start: ready %v err %v", ready, err)
	}
	failStart = false
	if _, err = ls.Sync([]agentapi.Port{port("p1", "lo", "v1")}, build); err != nil {
		t.Fatal(err)
	}
	ls.Close()
	if !started[1].stopped {
		t.Error("Close left a listener running")
	}
	if _, err := ls.Sync(nil, build); err == nil {
		t.Error("Sync after Close succeeded")
	}
}
