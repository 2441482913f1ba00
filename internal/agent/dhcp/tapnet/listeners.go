package tapnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// ErrNotServed is what a build function given to Listeners.Sync returns
// (possibly wrapped) for a port that needs nothing from the service: no
// DHCP-enabled subnet, say. Such a port counts as ready.
var ErrNotServed = errors.New("nothing to serve on this port")

// Answer is what a service serves on one port's tap (a DHCP lease, a
// router advertisement, ...). Answers are immutable once built.
type Answer interface {
	PortID() string
}

// Listener serves one tap.
type Listener[A Answer] interface {
	// Swap makes the running listener serve a instead and returns what it
	// served before.
	Swap(a A) (old A)
	// Stop closes the listener's sockets and returns once it has stopped.
	Stop()
}

// Listeners keeps one Listener per tap in step with a set of ports: the
// level-triggered reconciliation the agent's per-tap services (DHCPv4,
// DHCPv6, router advertisements) share. Its methods are safe for
// concurrent use. Listeners are started on the thread that calls Sync,
// whose network namespace must be the taps'.
type Listeners[A Answer, L Listener[A]] struct {
	start func(tap string, ifindex int, a A) (L, error)
	log   *slog.Logger

	mu     sync.Mutex
	taps   map[string]running[L]
	closed bool
}

type running[L any] struct {
	ln      L
	ifindex int
}

// NewListeners returns an empty set whose listeners start is called to
// create: it opens the sockets of the tap with index ifindex and serves a.
func NewListeners[A Answer, L Listener[A]](log *slog.Logger, start func(tap string, ifindex int, a A) (L, error)) *Listeners[A, L] {
	return &Listeners[A, L]{start: start, log: log, taps: map[string]running[L]{}}
}

// Sync makes ports the complete set of ports served. build returns each
// port's answer, or ErrNotServed. A listener is started on the tap of
// each port with an answer whose tap exists; listeners of ports no longer
// in the set, or whose tap is gone, are stopped; a listener whose tap was
// re-created (a new ifindex) is restarted; the others get their new
// answer in place. Call it again when a tap appears.
//
// ready holds the ids of the ports that need nothing more from the
// service: served on their tap, or with nothing to serve. The error joins
// the problems of individual ports; the other ports are served regardless.
func (ls *Listeners[A, L]) Sync(ports []agentapi.Port, build func(p *agentapi.Port) (A, error)) (ready map[string]bool, err error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return nil, errors.New("tapnet: listeners closed")
	}
	var errs []error
	ready = map[string]bool{}
	want := map[string]A{}
	for i := range ports {
		p := &ports[i]
		a, err := build(p)
		if errors.Is(err, ErrNotServed) {
			ready[p.ID] = true
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", p.ID, err))
			continue
		}
		tap := TapOf(p)
		if other, dup := want[tap]; dup {
			errs = append(errs, fmt.Errorf("port %s: tap %s is already port %s's", p.ID, tap, other.PortID()))
			continue
		}
		want[tap] = a
	}

	for tap := range ls.taps {
		if _, ok := want[tap]; !ok {
			ls.stop(tap)
		}
	}
	if len(want) == 0 {
		return ready, errors.Join(errs...)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		errs = append(errs, fmt.Errorf("list interfaces: %w", err))
		return ready, errors.Join(errs...)
	}
	index := make(map[string]int, len(ifaces))
	for _, ifc := range ifaces {
		index[ifc.Name] = ifc.Index
	}

	for tap, a := range want {
		r, have := ls.taps[tap]
		idx, ok := index[tap]
		switch {
		case !ok:
			if have {
				ls.log.Info("tap gone, stopping listener", "tap", tap, "port", a.PortID())
				ls.stop(tap)
			}
			continue
		case have && r.ifindex == idx:
			if old := r.ln.Swap(a); old.PortID() != a.PortID() {
				ls.log.Info("tap now serves another port", "tap", tap, "port", a.PortID(), "was", old.PortID())
			}
			ready[a.PortID()] = true
			continue
		case have:
			ls.log.Info("tap re-created, restarting listener", "tap", tap, "port", a.PortID())
			ls.stop(tap)
		}
		ln, err := ls.start(tap, idx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("port %s: tap %s: %w", a.PortID(), tap, err))
			continue
		}
		ls.taps[tap] = running[L]{ln: ln, ifindex: idx}
		ready[a.PortID()] = true
	}
	return ready, errors.Join(errs...)
}

// Close stops every listener; Sync fails afterwards.
func (ls *Listeners[A, L]) Close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	for tap := range ls.taps {
		ls.stop(tap)
	}
}

// Running reports whether tap has a listener (for tests).
func (ls *Listeners[A, L]) Running(tap string) (L, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	r, ok := ls.taps[tap]
	return r.ln, ok
}

// stop stops tap's listener; ls.mu is held.
func (ls *Listeners[A, L]) stop(tap string) {
	ls.taps[tap].ln.Stop()
	delete(ls.taps, tap)
	ls.log.Info("stopped", "tap", tap)
}

// TapOf is the name of a port's tap: as the server gave it, or derived
// from the port's id.
func TapOf(p *agentapi.Port) string {
	if p.Tap != "" {
		return p.Tap
	}
	return agentapi.TapName(p.ID)
}
