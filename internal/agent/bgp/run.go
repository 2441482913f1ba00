package bgp

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var bgpCtx = context.Background()

// resyncInterval is the backstop full kernel resync; it also ends the
// graceful-restart phase on time.
const resyncInterval = 5 * time.Second

// Run starts GoBGP, the sessions, the event watch and the netlink link
// watch, and keeps the kernel's learned routes in step until ctx ends. It
// must run in the network namespace that holds the uplinks (GoBGP opens its
// sockets from its own goroutines).
//
// GoBGP listens on Config.ListenPort (179 by default) as well as connecting
// out, so a ToR that restarts can re-open the session on its own connect
// timer instead of waiting for ours; only configured neighbours are accepted.
//
// Graceful restart: if learned routes of our protocol are already in the
// kernel this is a restart. They are kept (merged into what the sessions
// bring) until each uplink's peer sends End-of-RIB, its link goes down or the
// restart time passes, and then swept. Sessions then open with the
// Restart-State and Forwarding bits set, so the ToRs keep our prefixes, and
// only after the first SetAdvertised (or Config.AdvertiseWait), so that our
// End-of-RIB does not make the ToRs drop prefixes not yet re-announced. A
// first boot starts clean and opens the sessions at once (the host may need
// the default route to reach its controller).
//
// On return the sessions are closed without NOTIFICATION and kernel routes
// are left in place, so the next start is a graceful restart.
func (s *Speaker) Run(ctx context.Context) error {
	if err := s.setSysctls(); err != nil {
		return err
	}
	s.mu.Lock()
	err := s.scanRestart()
	restarting := s.restart != nil
	s.mu.Unlock()
	if err != nil {
		return err
	}

	lw, err := watchLinks()
	if err != nil {
		return err
	}
	defer func() { lw.stop() }()
	s.mu.Lock()
	for _, u := range s.cfg.Uplinks {
		l, err := netlink.LinkByName(u.Interface)
		s.linkUp[u.Interface] = err == nil && linkOperUp(l)
		if err != nil {
			s.log.Warn("uplink not found", "op", "link", "interface", u.Interface, "err", err)
		}
	}
	s.mu.Unlock()

	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelInfo)
	srv := server.NewBgpServer(server.LoggerOption(s.log.With("lib", "gobgp"), lvl))
	go srv.Serve()
	defer srv.Stop()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:              s.cfg.ASN,
		RouterId:         s.cfg.RouterID.String(),
		ListenPort:       s.cfg.ListenPort,
		UseMultiplePaths: true,
	}}); err != nil {
		return fmt.Errorf("bgp: start: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.StopBgp(sctx, &api.StopBgpRequest{AllowGracefulRestart: true}); err != nil {
			s.log.Warn("stop", "op", "stop", "err", err)
		}
	}()
	if err := s.setPolicies(ctx, srv); err != nil {
		return err
	}

	s.mu.Lock()
	s.srv = srv
	// A new GoBGP server holds no paths yet (Run may be called again after
	// an error): everything desired is added afresh.
	s.advertised = map[netip.Prefix]uuid.UUID{}
	err = s.applyAdvertisedLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.srv = nil
		s.mu.Unlock()
	}()
	if err != nil {
		return err
	}

	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	if err := srv.WatchEvent(wctx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE {
				s.log.Info("peer state", "event", "peer", "peer", ev.Peer.Conf.NeighborAddress,
					"interface", ev.Peer.Conf.NeighborInterface, "state", ev.Peer.State.SessionState.String())
			}
			s.trigger()
		},
		OnPathUpdate: func([]*apiutil.Path, time.Time) { s.trigger() },
		OnBestPath:   func([]*apiutil.Path, time.Time) { s.trigger() },
		OnPathEor: func(p *apiutil.Path, _ time.Time) {
			s.mu.Lock()
			pv, ok := s.peerViews()[p.PeerAddress.WithZone("")]
			if ok {
				s.eor[pv.uplink] = true
			}
			s.mu.Unlock()
			if ok {
				s.log.Info("end-of-RIB received", "event", "eor", "interface", pv.uplink, "family", p.Family.String())
			}
			s.trigger()
		},
	}, server.WatchPeer(), server.WatchUpdate(true, "", ""), server.WatchBestPath(true), server.WatchEor(true)); err != nil {
		return fmt.Errorf("bgp: watch: %w", err)
	}

	if restarting {
		s.mu.Lock()
		advCh := s.advCh
		s.mu.Unlock()
		t := time.NewTimer(s.cfg.AdvertiseWait)
		select {
		case <-advCh:
		case <-t.C:
			s.log.Warn("restart: no SetAdvertised yet, opening sessions anyway", "op", "restart")
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		t.Stop()
	}
	s.restarting = restarting
	raKick := make(chan string, len(s.cfg.Uplinks))
	go s.advertiseUplinks(ctx, raKick)
	for _, u := range s.cfg.Uplinks {
		s.mu.Lock()
		up := s.linkUp[u.Interface]
		s.mu.Unlock()
		if !up {
			continue // added when its carrier comes up
		}
		if err := s.openSession(ctx, srv, u); err != nil {
			return err
		}
	}
	s.log.Info("speaker running", "op", "run", "asn", s.cfg.ASN, "uplinks", len(s.cfg.Uplinks), "restart", restarting)

	tick := time.NewTicker(resyncInterval)
	defer tick.Stop()
	s.trigger()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-lw.errc:
			// A netlink socket can overflow or fail: subscribe again and
			// re-read every uplink's state, so no carrier change is lost.
			s.log.Warn("link watch failed: resubscribing", "op", "link", "err", err)
			lw.stop()
			if lw, err = s.rewatchLinks(ctx); err != nil {
				return err
			}
			for _, u := range s.cfg.Uplinks {
				s.onLink(ctx, srv, currentLink(u.Interface), raKick)
			}
		case lu, ok := <-lw.ch:
			if !ok {
				select {
				case lw.errc <- errors.New("link watch closed"):
				default:
				}
				lw.ch = nil // until resubscribed
				continue
			}
			s.onLink(ctx, srv, lu, raKick)
		case <-s.kick:
			s.sync()
		case <-tick.C:
			s.sync()
		}
	}
}

func (s *Speaker) sync() {
	if err := s.syncKernel(); err != nil {
		s.log.Error("kernel sync failed", "op", "route", "err", err)
	}
}

func linkOperUp(l netlink.Link) bool {
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_LOWER_UP != 0
}

// onLink reacts to an uplink's carrier: down shuts its session at once and
// drops its nexthop from the kernel; up re-enables the session.
func (s *Speaker) onLink(ctx context.Context, srv *server.BgpServer, lu netlink.LinkUpdate, raKick chan<- string) {
	u, ok := s.uplinkByName(lu.Attrs().Name)
	if !ok {
		return
	}
	up := lu.Header.Type != unix.RTM_DELLINK && linkOperUp(lu.Link)
	s.mu.Lock()
	was := s.linkUp[u.Interface]
	s.linkUp[u.Interface] = up
	if up != was {
		s.linkGen[u.Interface]++
	}
	s.mu.Unlock()
	if up == was {
		return
	}
	s.log.Info("uplink carrier changed", "event", "link", "interface", u.Interface, "up", up)
	s.sync() // kernel first: the nexthop goes before anything else
	// Delete and re-add rather than Disable/EnablePeer: an enabled peer sits
	// in GoBGP's fixed 5 s idle hold first, a new one connects at once.
	var err error
	if up {
		if !u.PeerAddress.IsValid() {
			select {
			case raKick <- u.Interface: // tell the ToR about us again at once
			default:
			}
		}
		err = s.openSession(ctx, srv, u)
	} else {
		err = s.closeSession(ctx, srv, u)
	}
	if err != nil {
		s.log.Warn("peer admin state", "op", "link", "interface", u.Interface, "err", err)
	}
}

// openSession adds u's peer to GoBGP. An unnumbered uplink's peer is added
// asynchronously, once the ToR's link-local address is known, unless the
// carrier changes again first.
func (s *Speaker) openSession(ctx context.Context, srv *server.BgpServer, u Uplink) error {
	if u.PeerAddress.IsValid() {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peerConfig(u, u.PeerAddress, s.restarting, false)}); err != nil {
			return fmt.Errorf("bgp: add peer %s: %w", u.PeerAddress, err)
		}
		return nil
	}
	s.mu.Lock()
	gen := s.linkGen[u.Interface]
	s.mu.Unlock()
	current := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.linkGen[u.Interface] == gen && s.linkUp[u.Interface]
	}
	restarting := s.restarting
	go func() {
		ll, err := s.resolveNeighbour(ctx, u.Interface, current)
		if err != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.linkGen[u.Interface] != gen || !s.linkUp[u.Interface] {
			return
		}
		if _, ok := s.resolved[u.Interface]; ok {
			return
		}
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peerConfig(u, ll, restarting, false)}); err != nil {
			s.log.Warn("add unnumbered peer", "op", "link", "interface", u.Interface, "peer", ll, "err", err)
			return
		}
		s.resolved[u.Interface] = ll
		s.log.Info("unnumbered session configured", "op", "link", "interface", u.Interface, "peer", ll)
	}()
	return nil
}

// closeSession deletes u's peer from GoBGP (without it, the session would
// linger until its hold timer).
func (s *Speaker) closeSession(ctx context.Context, srv *server.BgpServer, u Uplink) error {
	key := s.peerKey(u)
	if key == "" {
		return nil
	}
	s.mu.Lock()
	delete(s.resolved, u.Interface)
	s.mu.Unlock()
	return srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: key})
}

// peerConfig is the GoBGP peer of uplink u, whose neighbour is at addr
// (u.PeerAddress, or the ToR's zoned link-local address when unnumbered).
func (s *Speaker) peerConfig(u Uplink, addr netip.Addr, restarting, adminDown bool) *api.Peer {
	conf := &api.PeerConf{PeerAsn: u.PeerASN, AuthPassword: s.cfg.Password, AdminDown: adminDown, NeighborAddress: addr.String()}
	var fams []*api.Family
	v4 := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	v6 := &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	switch {
	case !u.PeerAddress.IsValid():
		fams = []*api.Family{v4, v6}
	case u.PeerAddress.Is4():
		fams = []*api.Family{v4}
	default:
		fams = []*api.Family{v6}
	}
	var afis []*api.AfiSafi
	for _, f := range fams {
		afis = append(afis, &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		})
	}
	return &api.Peer{
		Conf: conf,
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(s.cfg.ConnectRetry / time.Second),
			HoldTime:          uint64(s.cfg.Hold / time.Second),
			KeepaliveInterval: uint64(s.cfg.Keepalive / time.Second),
			// Re-open quickly after a link flap or a reset (GoBGP's default is 30 s).
			IdleHoldTimeAfterReset: 1,
		}},
		Transport: &api.Transport{BindInterface: u.Interface},
		GracefulRestart: &api.GracefulRestart{
			Enabled:     true,
			RestartTime: uint32(s.cfg.GracefulRestart / time.Second),
			// No N-bit (RFC 8538): with it, a hold-timer expiry — a link
			// that silently drops everything — is handled by the ToR as a
			// graceful restart and the dead path's routes are kept for the
			// whole restart time (a 120 s blackhole, measured in the lab).
			// Without it, an agent crash or SIGKILL (TCP closed, no
			// NOTIFICATION) still gets RFC 4724 graceful restart, while a
			// hold-timer expiry withdraws at once.
			NotificationEnabled: false,
			DeferralTime:        deferralTime,
			LocalRestarting:     restarting,
		},
		AfiSafis: afis,
	}
}

const (
	importV4Set = "spinel-import-v4"
	importV6Set = "spinel-import-v6"
)

// setPolicies installs the global policies. Import: our own local paths
// (GoBGP filters those with the global import policy too), the defaults and
// Config.Import, nothing else. Export: only local paths, so nothing learned
// from one ToR is ever passed to the other.
func (s *Speaker) setPolicies(ctx context.Context, srv *server.BgpServer) error {
	v4 := []*api.Prefix{{IpPrefix: "0.0.0.0/0", MaskLengthMin: 0, MaskLengthMax: 0}}
	v6 := []*api.Prefix{{IpPrefix: "::/0", MaskLengthMin: 0, MaskLengthMax: 0}}
	for _, p := range s.cfg.Import {
		p = p.Masked()
		e := &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())}
		if p.Addr().Is4() {
			v4 = append(v4, e)
		} else {
			v6 = append(v6, e)
		}
	}
	for name, pfx := range map[string][]*api.Prefix{importV4Set: v4, importV6Set: v6} {
		if err := srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: name, Prefixes: pfx,
		}}); err != nil {
			return fmt.Errorf("bgp: prefix set %s: %w", name, err)
		}
	}
	accept := &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT}
	local := &api.Statement{Name: "spinel-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept}
	imp := &api.Policy{Name: "spinel-import", Statements: []*api.Statement{
		local,
		{Name: "spinel-import-v4", Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: importV4Set}}, Actions: accept},
		{Name: "spinel-import-v6", Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: importV6Set}}, Actions: accept},
	}}
	exp := &api.Policy{Name: "spinel-export", Statements: []*api.Statement{
		{Name: "spinel-export-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept},
	}}
	for _, pa := range []struct {
		p   *api.Policy
		dir api.PolicyDirection
	}{{imp, api.PolicyDirection_POLICY_DIRECTION_IMPORT}, {exp, api.PolicyDirection_POLICY_DIRECTION_EXPORT}} {
		if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: pa.p, ReferExistingStatements: false}); err != nil {
			return fmt.Errorf("bgp: policy %s: %w", pa.p.Name, err)
		}
		if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name:          "global",
			Direction:     pa.dir,
			Policies:      []*api.Policy{{Name: pa.p.Name}},
			DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
		}}); err != nil {
			return fmt.Errorf("bgp: assign %s: %w", pa.p.Name, err)
		}
	}
	return nil
}

// linkWatch is a netlink link subscription.
type linkWatch struct {
	ch   chan netlink.LinkUpdate
	done chan struct{}
	errc chan error
}

func watchLinks() (*linkWatch, error) {
	w := &linkWatch{ch: make(chan netlink.LinkUpdate, 256), done: make(chan struct{}), errc: make(chan error, 1)}
	if err := netlink.LinkSubscribeWithOptions(w.ch, w.done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case w.errc <- err:
			default:
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("bgp: link subscribe: %w", err)
	}
	return w, nil
}

func (w *linkWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// rewatchLinks subscribes again, retrying until ctx ends.
func (s *Speaker) rewatchLinks(ctx context.Context) (*linkWatch, error) {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		w, err := watchLinks()
		if err == nil {
			return w, nil
		}
		s.log.Warn("link watch", "op", "link", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// currentLink is a synthetic update carrying iface's present state (a
// deletion if it is gone).
func currentLink(iface string) netlink.LinkUpdate {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_DELLINK}, Link: &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: iface}}}
	}
	return netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_NEWLINK}, Link: l}
}
