package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// portState is one desired port during an Apply.
type portState struct {
	port agentapi.Port
	tap  string
	link netlink.Link // nil: the tap does not exist
	errs []error
}

func (ps *portState) fail(err error) { ps.errs = append(ps.errs, err) }

// routed reports whether the port gets routes, neighbours and gateways:
// its tap exists and it is administratively up (the kernel drops a
// down device's routes and neighbours anyway).
func (ps *portState) routed() bool { return ps.link != nil && ps.port.AdminStateUp }

// wantRoute is a route spinel wants: dst via the tap of its owner.
type wantRoute struct {
	dst   netip.Prefix
	link  int
	owner *portState
	fixed bool // for a fixed IP (wins over an allowed address pair)
}

// neighKey identifies a neighbour entry.
type neighKey struct {
	link int
	ip   netip.Addr
}

type wantNeigh struct {
	mac   net.HardwareAddr
	owner *portState
}

// applier is the state of one Apply.
type applier struct {
	d      *Dataplane
	ports  []*portState // sorted by port id
	global []error

	links   []netlink.Link
	byName  map[string]netlink.Link
	lo      netlink.Link
	ourTaps map[string]bool // taps of desired ports

	routes   map[netip.Prefix]*wantRoute
	neighs   map[neighKey]wantNeigh
	gateways map[netip.Addr][]*portState

	loListed bool // loAddrs was read
	loAddrs  []loAddr
}

func newApplier(d *Dataplane, ports []agentapi.Port) *applier {
	a := &applier{d: d, ourTaps: map[string]bool{}}
	seen := map[string]bool{}
	for _, p := range ports {
		if seen[p.ID] {
			continue // the first of duplicates wins
		}
		seen[p.ID] = true
		tap := p.Tap
		if tap == "" {
			tap = agentapi.TapName(p.ID)
		}
		a.ports = append(a.ports, &portState{port: p, tap: tap})
		a.ourTaps[tap] = true
	}
	slices.SortFunc(a.ports, func(x, y *portState) int { return strings.Compare(x.port.ID, y.port.ID) })
	return a
}

// run applies in a fixed order: global sysctls, taps, tap sysctls,
// gateway addresses, neighbours, routes, then the sweep of what is left.
func (a *applier) run() {
	a.globalSysctls()

	links, err := a.listLinks()
	if err != nil {
		a.failAll(fmt.Errorf("dataplane: listing links: %w", err))
		return
	}
	a.indexLinks(links)
	for _, ps := range a.ports {
		if ps.link = a.byName[ps.tap]; ps.link == nil {
			continue
		}
		a.configureTap(ps)
		a.tapSysctls(ps)
	}
	// Routes, neighbours and addresses are read below, after every link
	// change: a tap set down loses them.
	a.desire()
	a.syncAddrs()
	a.syncNeighs()
	a.syncRoutes()
	a.sweepAddrs()
}

// result builds the Result and the joined error.
func (a *applier) result() (Result, error) {
	res := Result{Failed: map[string]error{}}
	errs := slices.Clone(a.global)
	for _, ps := range a.ports {
		switch {
		case len(ps.errs) > 0:
			err := fmt.Errorf("port %s (%s): %w", ps.port.ID, ps.tap, errors.Join(ps.errs...))
			res.Failed[ps.port.ID] = err
			errs = append(errs, err)
		case ps.link == nil:
			res.Pending = append(res.Pending, ps.port.ID)
		default:
			res.Ready = append(res.Ready, ps.port.ID)
		}
	}
	return res, errors.Join(errs...)
}

// failAll records err for every port (nothing could be done).
func (a *applier) failAll(err error) {
	for _, ps := range a.ports {
		ps.fail(err)
	}
}

func (a *applier) indexLinks(links []netlink.Link) {
	a.links = links
	a.byName = make(map[string]netlink.Link, len(links))
	for _, l := range links {
		a.byName[l.Attrs().Name] = l
		if l.Attrs().Flags&net.FlagLoopback != 0 && a.lo == nil {
			a.lo = l
		}
	}
}

// configureTap gives a tap the host MAC, the port's MTU and admin state.
func (a *applier) configureTap(ps *portState) {
	h := a.d.h
	attrs := ps.link.Attrs()
	up := attrs.Flags&net.FlagUp != 0
	var changes []string
	write := func(what string, f func() error) bool {
		a.d.writes++
		changes = append(changes, what)
		if err := f(); err != nil {
			ps.fail(fmt.Errorf("%s: %w", what, err))
			return false
		}
		return true
	}
	if mtu := ps.port.MTU; mtu > 0 && attrs.MTU != mtu {
		write(fmt.Sprintf("setting MTU %d", mtu), func() error { return h.LinkSetMTU(ps.link, mtu) })
	}
	if !bytes.Equal(attrs.HardwareAddr, a.d.hostMAC) {
		// Change the MAC of a down link only: the IPv6 link-local
		// address (the guests' IPv6 gateway) is derived from it when
		// the link comes up and is not updated by a live change.
		if up && write("setting down to change the MAC", func() error { return h.LinkSetDown(ps.link) }) {
			up = false
		}
		if !up {
			write("setting MAC "+a.d.hostMAC.String(), func() error { return h.LinkSetHardwareAddr(ps.link, a.d.hostMAC) })
		}
	}
	switch {
	case ps.port.AdminStateUp && !up:
		write("setting up", func() error { return h.LinkSetUp(ps.link) })
	case !ps.port.AdminStateUp && up:
		write("setting down", func() error { return h.LinkSetDown(ps.link) })
	}
	if len(changes) > 0 {
		a.d.log.Debug("tap configured", "op", "tap", "port", ps.port.ID, "tap", ps.tap, "changes", changes)
	}
}

// desire computes the routes, neighbours and gateway addresses of the
// routed ports. Conflicts are settled deterministically: a fixed IP wins
// over an allowed address pair, then the lowest port id.
func (a *applier) desire() {
	a.routes = map[netip.Prefix]*wantRoute{}
	a.neighs = map[neighKey]wantNeigh{}
	a.gateways = map[netip.Addr][]*portState{}
	for _, ps := range a.ports {
		if !ps.routed() {
			continue
		}
		idx := ps.link.Attrs().Index
		mac, macErr := net.ParseMAC(ps.port.MAC)
		if macErr != nil && len(ps.port.FixedIPs) > 0 {
			ps.fail(fmt.Errorf("port MAC %q: %w", ps.port.MAC, macErr))
		}
		for _, f := range ps.port.FixedIPs {
			ip, err := netip.ParseAddr(f.IPAddress)
			if err != nil {
				ps.fail(fmt.Errorf("fixed IP %q: %w", f.IPAddress, err))
				continue
			}
			ip = ip.Unmap()
			dst := netip.PrefixFrom(ip, ip.BitLen())
			if prev, ok := a.routes[dst]; ok && prev.fixed {
				ps.fail(fmt.Errorf("fixed IP %s is also port %s's", ip, prev.owner.port.ID))
				continue
			}
			a.routes[dst] = &wantRoute{dst: dst, link: idx, owner: ps, fixed: true}
			if macErr == nil {
				a.neighs[neighKey{idx, ip}] = wantNeigh{mac: mac, owner: ps}
			}
		}
		for _, s := range ps.port.Subnets {
			if s.GatewayIP == "" {
				continue
			}
			gw, err := netip.ParseAddr(s.GatewayIP)
			if err != nil {
				ps.fail(fmt.Errorf("subnet %s gateway %q: %w", s.ID, s.GatewayIP, err))
				continue
			}
			gw = gw.Unmap()
			if !slices.Contains(a.gateways[gw], ps) {
				a.gateways[gw] = append(a.gateways[gw], ps)
			}
		}
	}
	// Pairs after every fixed IP, so that fixed IPs win whatever the order.
	for _, ps := range a.ports {
		if !ps.routed() {
			continue
		}
		idx := ps.link.Attrs().Index
		for _, p := range ps.port.AllowedAddressPairs {
			dst, err := parsePrefix(p.IPAddress)
			if err != nil {
				ps.fail(fmt.Errorf("allowed address pair %q: %w", p.IPAddress, err))
				continue
			}
			if dst.Bits() == 0 {
				// 0.0.0.0/0 or ::/0 means "any source" (port security
				// off in disguise), not "route everything to this VM".
				continue
			}
			if _, ok := a.routes[dst]; ok {
				continue // a fixed IP or an earlier port's pair
			}
			a.routes[dst] = &wantRoute{dst: dst, link: idx, owner: ps}
		}
	}
}

// parsePrefix parses an address ("10.0.0.5": a host route) or a CIDR,
// masked.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// managedTap reports whether l is a tap whose permanent neighbours spinel
// may sweep: a "tap…" interface of a desired port or with the host MAC.
func (a *applier) managedTap(l netlink.Link) bool {
	attrs := l.Attrs()
	if !strings.HasPrefix(attrs.Name, agentapi.TapPrefix) {
		return false
	}
	return a.ourTaps[attrs.Name] || bytes.Equal(attrs.HardwareAddr, a.d.hostMAC)
}

// syncNeighs writes the missing or wrong permanent neighbour entries and
// deletes the permanent ones on spinel taps that nobody wants.
func (a *applier) syncNeighs() {
	managed := map[int]bool{}
	for _, l := range a.links {
		if a.managedTap(l) {
			managed[l.Attrs().Index] = true
		}
	}
	have := map[neighKey]netlink.Neigh{}
	var listErr error
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := a.listNeighs(fam)
		if err != nil {
			listErr = err
			break
		}
		for _, n := range ns {
			if n.State&netlink.NUD_PERMANENT == 0 || !managed[n.LinkIndex] {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			have[neighKey{n.LinkIndex, ip.Unmap()}] = n
		}
	}
	if listErr != nil {
		err := fmt.Errorf("listing neighbours: %w", listErr)
		a.global = append(a.global, fmt.Errorf("dataplane: %w", err))
		for _, w := range a.neighs {
			w.owner.fail(err)
		}
		return
	}
	for k, w := range a.neighs {
		if n, ok := have[k]; ok && bytes.Equal(n.HardwareAddr, w.mac) {
			continue
		}
		a.d.writes++
		err := a.d.h.NeighSet(&netlink.Neigh{
			LinkIndex:    k.link,
			Family:       family(k.ip),
			State:        netlink.NUD_PERMANENT,
			Type:         unix.RTN_UNICAST,
			IP:           k.ip.AsSlice(),
			HardwareAddr: w.mac,
		})
		if err != nil {
			w.owner.fail(fmt.Errorf("neighbour %s -> %s: %w", k.ip, w.mac, err))
		} else {
			a.d.log.Debug("neighbour set", "op", "neigh-set", "port", w.owner.port.ID, "ip", k.ip, "mac", w.mac)
		}
	}
	for k, n := range have {
		if _, ok := a.neighs[k]; ok {
			continue
		}
		a.d.writes++
		if err := a.d.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			a.global = append(a.global, fmt.Errorf("dataplane: deleting neighbour %s on ifindex %d: %w", k.ip, k.link, err))
		} else {
			a.d.log.Debug("neighbour deleted", "op", "neigh-del", "ip", k.ip, "ifindex", k.link)
		}
	}
}

// syncRoutes adds the missing routes, replaces spinel's routes that
// differ and deletes spinel's routes that nobody wants. A route that
// exists but is not spinel's is left alone and fails its port.
func (a *applier) syncRoutes() {
	have, err := a.listRoutes()
	if err != nil {
		err = fmt.Errorf("listing routes: %w", err)
		a.global = append(a.global, fmt.Errorf("dataplane: %w", err))
		for _, w := range a.routes {
			w.owner.fail(err)
		}
		return
	}
	found := map[netip.Prefix]bool{}
	for _, r := range have {
		dst, ok := routeDst(r)
		w := a.routes[dst]
		switch {
		case ok && w != nil && r.Priority == a.d.cfg.RouteMetric && r.Table == unix.RT_TABLE_MAIN:
			found[dst] = true
			if a.routeMatches(r, w) {
				continue
			}
			a.d.writes++
			if err := a.d.h.RouteReplace(a.route(w)); err != nil {
				w.owner.fail(fmt.Errorf("replacing route %s: %w", dst, err))
			} else {
				a.d.log.Debug("route replaced", "op", "route-replace", "port", w.owner.port.ID, "dst", dst)
			}
		default:
			a.d.writes++
			if err := a.d.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				a.global = append(a.global, fmt.Errorf("dataplane: deleting route %v: %w", r.Dst, err))
			} else {
				a.d.log.Debug("route deleted", "op", "route-del", "dst", r.Dst)
			}
		}
	}
	for dst, w := range a.routes {
		if found[dst] {
			continue
		}
		a.d.writes++
		if err := a.d.h.RouteAdd(a.route(w)); err != nil {
			if errors.Is(err, unix.EEXIST) {
				err = fmt.Errorf("%w (a route that is not spinel's holds it)", err)
			}
			w.owner.fail(fmt.Errorf("adding route %s: %w", dst, err))
		} else {
			a.d.log.Debug("route added", "op", "route-add", "port", w.owner.port.ID, "dst", dst)
		}
	}
}

// route is the netlink form of a wanted route.
func (a *applier) route(w *wantRoute) *netlink.Route {
	r := &netlink.Route{
		LinkIndex: w.link,
		Dst:       prefixToIPNet(w.dst),
		Protocol:  a.d.cfg.RouteProtocol,
		Priority:  a.d.cfg.RouteMetric,
		Table:     unix.RT_TABLE_MAIN,
		Type:      unix.RTN_UNICAST,
		Family:    family(w.dst.Addr()),
	}
	if w.dst.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// routeMatches reports whether an existing route of spinel's (same dst,
// metric and table) is the wanted one.
func (a *applier) routeMatches(r netlink.Route, w *wantRoute) bool {
	if r.LinkIndex != w.link || len(r.MultiPath) > 0 || r.Gw != nil || r.Via != nil ||
		r.Src != nil || r.Encap != nil || (r.Type != 0 && r.Type != unix.RTN_UNICAST) {
		return false
	}
	if w.dst.Addr().Is4() && r.Scope != netlink.SCOPE_LINK {
		return false
	}
	return true
}

// routeDst is a route's destination as a prefix.
func routeDst(r netlink.Route) (netip.Prefix, bool) {
	if r.Dst == nil {
		return netip.Prefix{}, false
	}
	return ipNetToPrefix(r.Dst)
}

func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if ip.Is4In6() && bits == 32 {
		ip = ip.Unmap()
	}
	if bits != ip.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(ip netip.Addr) int {
	if ip.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
