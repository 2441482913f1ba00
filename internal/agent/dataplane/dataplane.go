// Package dataplane programs the Linux kernel for spinel's routed ports:
// the hypervisor side of the fabric model in DESIGN.md. For every port
// whose tap exists it configures the tap (fixed host MAC, MTU, admin
// state, proxy ARP and forwarding sysctls), routes the port's addresses to
// the tap, writes permanent neighbour entries for them and holds each
// subnet gateway as a host address on lo, all through netlink (and procfs
// for sysctls), never by running ip(8).
//
// Apply is level-triggered: it takes the complete desired set of ports,
// reads the kernel's current state once and writes only the difference,
// so a repeated Apply writes nothing. Everything it creates is
// recognisable as spinel's after a restart, so a restarted agent
// reconciles by mark and sweep and never flushes:
//
//   - routes carry spinel's route protocol (Config.RouteProtocol, 250 by
//     default) in the main table;
//   - gateway addresses on lo carry the same number as their address
//     protocol (IFA_PROTO, kernel >= 5.18, both families) and, for IPv4,
//     the label "lo:spinel" as well, which ip(8) shows;
//   - neighbour entries are only swept on spinel taps: interfaces named
//     "tap…" that either belong to a desired port or carry the host MAC,
//     and only permanent ones (the kernel's own entries are left alone).
//
// Routes, addresses and neighbours that are not spinel's are never
// touched, nor are interfaces other than desired ports' taps.
package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// DefaultRouteProtocol is spinel's route protocol number (rtnetlink
// protocols 0-4 belong to the kernel, numbers up to 255 that iproute2's
// rt_protos does not name are free; 250 is not claimed by any routing
// daemon).
const DefaultRouteProtocol netlink.RouteProtocol = 250

// DefaultRouteMetric is the metric of port routes (routed-networking
// brief §5.6: 1024 normally; a lower one is left for ports migrating in).
const DefaultRouteMetric = 1024

// LoLabel is the IPv4 address label of the gateway addresses spinel puts
// on lo. IPv6 has no labels; both families are also marked by address
// protocol (see the package comment).
const LoLabel = "lo:spinel"

// Config configures a Dataplane. Zero fields take their defaults.
type Config struct {
	// RouteProtocol marks spinel's routes and lo addresses; it must stay
	// the same across restarts. Default DefaultRouteProtocol.
	RouteProtocol netlink.RouteProtocol
	// RouteMetric is the metric of port routes. Default DefaultRouteMetric.
	RouteMetric int
	// HostMAC is the MAC every host-side tap carries. Default
	// agentapi.HostMAC.
	HostMAC string
}

// Result says what an Apply achieved, port by port. Ids are sorted.
type Result struct {
	// Ready holds the ports whose tap exists and whose every item was
	// programmed.
	Ready []string
	// Pending holds the ports whose tap does not exist (yet): nothing was
	// done for them and it is not an error.
	Pending []string
	// Failed holds the ports some of whose items failed, with the
	// reasons; the rest of their items were applied.
	Failed map[string]error
}

// Dataplane programs the kernel of one network namespace (the one current
// when New was called) for spinel's routed ports. Apply may be called from
// any goroutine; calls are serialised.
type Dataplane struct {
	cfg     Config
	hostMAC net.HardwareAddr
	log     *slog.Logger

	mu      sync.Mutex
	ns      netns.NsHandle
	h       *netlink.Handle
	sockets map[int]*nl.SocketHandle // for raw address requests (IFA_PROTO)

	// writes counts every change written to the kernel (netlink requests
	// and sysctl writes); tests use it to check that a no-op Apply writes
	// nothing.
	writes int
}

// netlinkTimeout bounds every netlink request, so a wedged kernel or
// socket cannot hang the agent's loop.
const netlinkTimeout = 10 * time.Second

// New returns a Dataplane for the current network namespace (of the
// calling thread). It changes nothing in the kernel. Close releases it.
func New(cfg Config, log *slog.Logger) (*Dataplane, error) {
	if cfg.RouteProtocol == 0 {
		cfg.RouteProtocol = DefaultRouteProtocol
	}
	if cfg.RouteProtocol <= unix.RTPROT_STATIC {
		return nil, fmt.Errorf("dataplane: route protocol %d is reserved for the kernel", cfg.RouteProtocol)
	}
	if cfg.RouteMetric == 0 {
		cfg.RouteMetric = DefaultRouteMetric
	}
	if cfg.HostMAC == "" {
		cfg.HostMAC = agentapi.HostMAC
	}
	mac, err := net.ParseMAC(cfg.HostMAC)
	if err != nil {
		return nil, fmt.Errorf("dataplane: host MAC: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// The namespace and the sockets are pinned now, on this thread; the
	// handle and sockets then work from any thread.
	runtime.LockOSThread()
	ns, err := netns.Get()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("dataplane: current network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("dataplane: netlink handle: %w", err)
	}
	if err := h.SetSocketTimeout(netlinkTimeout); err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("dataplane: netlink timeout: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("dataplane: netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("dataplane: netlink timeout: %w", err)
	}
	return &Dataplane{
		cfg:     cfg,
		hostMAC: mac,
		log:     log.With("component", "dataplane"),
		ns:      ns,
		h:       h,
		sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}},
	}, nil
}

// Close releases the Dataplane's sockets and namespace handle. It changes
// nothing in the kernel: what Apply programmed stays (restarts never
// flush).
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h == nil {
		return nil
	}
	d.h.Close()
	for _, sh := range d.sockets {
		sh.Close()
	}
	err := d.ns.Close()
	d.h, d.sockets = nil, nil
	return err
}

// Apply makes the kernel hold exactly the given routed ports (see the
// package comment): it programs every port whose tap exists, reports the
// others as pending, and removes spinel's routes, lo addresses and
// neighbour entries that no port needs any more. It is idempotent; an
// Apply with nothing to change writes nothing.
//
// A failed item does not stop the others: per-port failures are in
// Result.Failed, and the returned error joins every failure (per-port and
// global, such as a failed sweep or dump).
func (d *Dataplane) Apply(ports []agentapi.Port) (Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h == nil {
		return Result{}, errors.New("dataplane: closed")
	}
	start, writes := time.Now(), d.writes
	var a *applier
	err := d.inNS(func() {
		a = newApplier(d, ports)
		a.run()
	})
	if err != nil {
		return Result{}, fmt.Errorf("dataplane: entering network namespace: %w", err)
	}
	res, err := a.result()
	d.log.Debug("applied", "op", "apply", "ready", len(res.Ready), "pending", len(res.Pending),
		"failed", len(res.Failed), "writes", d.writes-writes, "duration", time.Since(start))
	return res, err
}

// inNS runs f on a locked thread in the Dataplane's namespace: procfs's
// /proc/sys/net shows the namespace of the thread that opens it.
func (d *Dataplane) inNS(f func()) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	if cur.Equal(d.ns) {
		defer runtime.UnlockOSThread()
		f()
		return nil
	}
	if err := netns.Set(d.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		if err := netns.Set(cur); err != nil {
			// Leave the thread locked: it is in the wrong namespace
			// and must not run other goroutines.
			d.log.Error("cannot restore the thread's network namespace", "err", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
