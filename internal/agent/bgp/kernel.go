package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nexthop is one kernel nexthop of a learned route. gw may be an IPv6
// link-local address for an IPv4 route (RFC 5549, installed with RTA_VIA).
type nexthop struct {
	link string // uplink interface name
	gw   netip.Addr
}

// restartState is the graceful-restart bookkeeping: the learned routes found
// in the kernel at start, kept per uplink until that uplink's peer sends
// End-of-RIB, its link goes down, or the deadline passes.
type restartState struct {
	deadline time.Time
	stale    map[netip.Prefix][]nexthop
}

// routeSet is prefix -> nexthops, sorted.
type routeSet map[netip.Prefix][]nexthop

func (r routeSet) add(p netip.Prefix, nh nexthop) {
	if slices.Contains(r[p], nh) {
		return
	}
	r[p] = append(r[p], nh)
}

func sortNexthops(n []nexthop) {
	slices.SortFunc(n, func(a, b nexthop) int {
		if c := strings.Compare(a.link, b.link); c != 0 {
			return c
		}
		return a.gw.Compare(b.gw)
	})
}

// setSysctls applies the kernel settings the speaker depends on: nexthops on
// a link without carrier are ignored at once (the speaker also reacts, but
// the kernel is faster), ECMP hashes on L4 ports, and the uplinks take no
// routes from router advertisements.
func (s *Speaker) setSysctls() error {
	set := map[string]string{
		"/proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown":     "1",
		"/proc/sys/net/ipv6/conf/all/ignore_routes_with_linkdown":     "1",
		"/proc/sys/net/ipv4/conf/default/ignore_routes_with_linkdown": "1",
		"/proc/sys/net/ipv6/conf/default/ignore_routes_with_linkdown": "1",
		"/proc/sys/net/ipv4/fib_multipath_hash_policy":                "1",
		"/proc/sys/net/ipv6/fib_multipath_hash_policy":                "1",
	}
	var errs []error
	for k, v := range set {
		if err := os.WriteFile(k, []byte(v), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range s.cfg.Uplinks {
		// Per-interface copies; the IPv6 one exists only with IPv6 enabled.
		for _, f := range []string{"ipv4", "ipv6"} {
			_ = os.WriteFile("/proc/sys/net/"+f+"/conf/"+u.Interface+"/ignore_routes_with_linkdown", []byte("1"), 0o644)
		}
		// Routes come from BGP only: the ToRs' router advertisements (sent
		// for unnumbered sessions) must not add a default of their own.
		// The neighbour entry an advertisement creates, which unnumbered
		// sessions need, is made regardless.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+u.Interface+"/accept_ra", []byte("0"), 0o644)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bgp: sysctls: %w", errors.Join(errs...))
	}
	return nil
}

// kernelRoutes lists the learned routes (our protocol) in the main table.
func (s *Speaker) kernelRoutes() (routeSet, map[netip.Prefix]netlink.Route, error) {
	names := map[int]string{}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("bgp: list links: %w", err)
	}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	set := routeSet{}
	raw := map[netip.Prefix]netlink.Route{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := netlink.RouteListFiltered(fam, &netlink.Route{Protocol: s.cfg.LearnedProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, nil, fmt.Errorf("bgp: list routes: %w", err)
		}
		for _, r := range rs {
			p := routeDst(r, fam)
			raw[p] = r
			set[p] = nil
			if len(r.MultiPath) == 0 {
				if nh, ok := toNexthop(names[r.LinkIndex], r.Gw, r.Via); ok {
					set.add(p, nh)
				}
			}
			for _, m := range r.MultiPath {
				if nh, ok := toNexthop(names[m.LinkIndex], m.Gw, m.Via); ok {
					set.add(p, nh)
				}
			}
			sortNexthops(set[p])
		}
	}
	return set, raw, nil
}

func routeDst(r netlink.Route, fam int) netip.Prefix {
	if r.Dst == nil {
		if fam == netlink.FAMILY_V4 {
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(r.Dst.IP)
	if fam == netlink.FAMILY_V4 {
		a = a.Unmap()
	}
	ones, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(a, ones)
}

func toNexthop(link string, gw net.IP, via netlink.Destination) (nexthop, bool) {
	if v, ok := via.(*netlink.Via); ok && v != nil {
		a, ok := netip.AddrFromSlice(v.Addr)
		return nexthop{link: link, gw: a.Unmap()}, ok && link != ""
	}
	a, ok := netip.AddrFromSlice(gw)
	return nexthop{link: link, gw: a.Unmap()}, ok && link != ""
}

// scanRestart looks for learned routes left by a previous run. Finding any
// means this is a restart: they stay in place (stale) until each uplink's
// peer has sent End-of-RIB.
func (s *Speaker) scanRestart() error {
	set, _, err := s.kernelRoutes()
	if err != nil {
		return err
	}
	if len(set) == 0 {
		return nil
	}
	s.restart = &restartState{deadline: time.Now().Add(s.cfg.GracefulRestart), stale: set}
	s.log.Info("learned routes found in the kernel: graceful restart", "op", "restart", "routes", len(set))
	return nil
}

// peerView is what the kernel sync needs to know about one GoBGP neighbour.
type peerView struct {
	uplink      string
	established bool
}

// peerViews maps each GoBGP neighbour's address (without zone) to its
// uplink. The caller holds s.mu.
func (s *Speaker) peerViews() map[netip.Addr]peerView {
	out := map[netip.Addr]peerView{}
	_ = s.srv.ListPeer(bgpCtx, &api.ListPeerRequest{}, func(p *api.Peer) {
		addr, err := netip.ParseAddr(p.GetState().GetNeighborAddress())
		if err != nil {
			addr, err = netip.ParseAddr(p.GetConf().GetNeighborAddress())
			if err != nil {
				return
			}
		}
		name := ""
		for _, u := range s.cfg.Uplinks {
			if u.PeerAddress == addr.WithZone("") || s.resolved[u.Interface].WithZone("") == addr.WithZone("") && addr.Is6() {
				name = u.Interface
			}
		}
		if name == "" {
			return
		}
		out[addr.WithZone("")] = peerView{
			uplink:      name,
			established: p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED,
		}
	})
	return out
}

// desiredRoutes computes the learned routes from the GoBGP RIB: per prefix,
// the next hops of Established peers on links that are up. If a prefix has
// none, the stale paths GoBGP keeps as graceful-restart helper are used as a
// last resort. Kernel routes of a previous run are merged in until swept.
func (s *Speaker) desiredRoutes() (routeSet, error) {
	peers := s.peerViews()
	fresh, stale := routeSet{}, routeSet{}
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam},
			func(nlri bgp.NLRI, paths []*apiutil.Path) {
				for _, p := range paths {
					if p.Withdrawal || p.Filtered || !p.PeerAddress.IsValid() {
						continue
					}
					pv, ok := peers[p.PeerAddress.WithZone("")]
					if !ok || !s.linkUp[pv.uplink] {
						continue
					}
					pfx, ok := pathPrefix(nlri)
					if !ok {
						continue
					}
					gw, ok := pathNexthop(p)
					if !ok {
						continue
					}
					nh := nexthop{link: pv.uplink, gw: gw}
					if pv.established && !p.Stale {
						fresh.add(pfx, nh)
					} else {
						stale.add(pfx, nh)
					}
				}
			})
		if err != nil {
			return nil, fmt.Errorf("bgp: list RIB %v: %w", fam, err)
		}
	}
	for p, nhs := range stale {
		if len(fresh[p]) == 0 {
			fresh[p] = nhs
		}
	}
	if r := s.restart; r != nil {
		for p, nhs := range r.stale {
			for _, nh := range nhs {
				if s.linkUp[nh.link] && !s.eor[nh.link] {
					fresh.add(p, nh)
				}
			}
		}
	}
	for p := range fresh {
		sortNexthops(fresh[p])
	}
	return fresh, nil
}

func pathPrefix(n bgp.NLRI) (netip.Prefix, bool) {
	switch v := n.(type) {
	case *bgp.IPAddrPrefix:
		return v.Prefix, true
	}
	p, err := netip.ParsePrefix(n.String())
	return p, err == nil
}

func pathNexthop(p *apiutil.Path) (netip.Addr, bool) {
	for _, a := range p.Attrs {
		switch v := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			if v == nil {
				continue
			}
			if v.LinkLocalNexthop.IsValid() && !v.Nexthop.IsGlobalUnicast() {
				return v.LinkLocalNexthop, true
			}
			return v.Nexthop, v.Nexthop.IsValid()
		case *bgp.PathAttributeNextHop:
			if v == nil {
				continue
			}
			return v.Value, v.Value.IsValid()
		}
	}
	return netip.Addr{}, false
}

// maybeSweep ends the graceful-restart phase once every uplink's peer has
// sent End-of-RIB (or its link is down) or the restart time has passed.
func (s *Speaker) maybeSweep() {
	r := s.restart
	if r == nil {
		return
	}
	done := true
	for _, u := range s.cfg.Uplinks {
		if s.linkUp[u.Interface] && !s.eor[u.Interface] {
			done = false
		}
	}
	if done || time.Now().After(r.deadline) {
		s.log.Info("graceful restart finished: sweeping stale learned routes", "op", "sweep", "timeout", !done)
		s.restart = nil
	}
}

// syncKernel makes the kernel's learned routes equal to desiredRoutes.
func (s *Speaker) syncKernel() error {
	s.mu.Lock()
	s.maybeSweep()
	want, err := s.desiredRoutes()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	have, raw, err := s.kernelRoutes()
	if err != nil {
		return err
	}
	index := map[string]int{}
	for _, u := range s.cfg.Uplinks {
		if l, err := netlink.LinkByName(u.Interface); err == nil {
			index[u.Interface] = l.Attrs().Index
		}
	}
	var errs []error
	for p, nhs := range want {
		if len(nhs) == 0 || slices.Equal(nhs, have[p]) {
			continue
		}
		r := s.buildRoute(p, nhs, index)
		if len(r.MultiPath) == 0 {
			continue
		}
		if old, ok := raw[p]; ok && old.Priority != r.Priority {
			_ = netlink.RouteDel(&old)
		}
		if err := netlink.RouteReplace(&r); err != nil {
			errs = append(errs, fmt.Errorf("replace %v: %w", p, err))
			continue
		}
		s.log.Info("learned route installed", "op", "route", "prefix", p, "nexthops", fmtNexthops(nhs))
	}
	for p, r := range raw {
		if len(want[p]) > 0 {
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete %v: %w", p, err))
			continue
		}
		s.log.Info("learned route removed", "op", "route", "prefix", p)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bgp: kernel routes: %w", errors.Join(errs...))
	}
	return nil
}

func (s *Speaker) buildRoute(p netip.Prefix, nhs []nexthop, index map[string]int) netlink.Route {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	r := netlink.Route{
		Family:   fam,
		Dst:      &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Protocol: s.cfg.LearnedProtocol,
		Priority: routeMetric,
		Table:    unix.RT_TABLE_MAIN,
	}
	for _, nh := range nhs {
		idx, ok := index[nh.link]
		if !ok {
			continue
		}
		m := &netlink.NexthopInfo{LinkIndex: idx}
		if nh.gw.Is4() == p.Addr().Is4() {
			m.Gw = nh.gw.AsSlice()
		} else {
			m.Via = &netlink.Via{AddrFamily: netlink.FAMILY_V6, Addr: nh.gw.AsSlice()}
		}
		r.MultiPath = append(r.MultiPath, m)
	}
	return r
}

func fmtNexthops(nhs []nexthop) string {
	var b strings.Builder
	for i, nh := range nhs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s@%s", nh.gw, nh.link)
	}
	return b.String()
}
