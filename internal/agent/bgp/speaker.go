// Package bgp is the hypervisor's embedded BGP speaker: GoBGP v4 as a library
// plus netlink, without zebra.
//
// The speaker holds one eBGP single-hop session per uplink, exports exactly
// the locally originated prefixes handed to SetAdvertised (never anything it
// learned: a hypervisor must not become a transit), imports only the default
// routes and Config.Import, and installs what it learns as one ECMP kernel
// route per prefix over the uplinks whose session is Established and whose
// link is up, with its own route protocol so that a restart can find them
// again (graceful restart: see Run).
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/vishvananda/netlink"
)

// Uplink is one routed link towards a ToR and its BGP neighbour.
type Uplink struct {
	Interface string // kernel interface name, e.g. "up1"
	// PeerAddress is the numbered neighbour on the link. The zero Addr selects
	// an unnumbered session over the IPv6 link-local addresses of the link
	// (extended next hop, RFC 8950) carrying IPv4 and IPv6 unicast; see
	// unnumbered.go for how the two sides find each other. A numbered IPv4
	// neighbour carries IPv4 only, a numbered IPv6 one IPv6 only.
	PeerAddress netip.Addr
	PeerASN     uint32
}

// Config configures a Speaker. Zero durations take the defaults noted.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // IPv4
	Uplinks  []Uplink

	Keepalive    time.Duration // default 3s
	Hold         time.Duration // default 9s
	ConnectRetry time.Duration // default 2s
	Password     string        // TCP MD5 password for every session; empty: none

	// GracefulRestart is the restart time announced to the ToRs (default
	// 120s); the notification (N) bit is always set.
	GracefulRestart time.Duration

	// LearnedProtocol is the kernel route protocol of BGP-learned routes
	// (default 251). Every route with this protocol belongs to the speaker.
	LearnedProtocol netlink.RouteProtocol

	// Import lists prefixes accepted from the ToRs besides 0.0.0.0/0 and ::/0
	// (exact match).
	Import []netip.Prefix

	// ListenPort is the local BGP port: 0 means 179, -1 means no listener
	// (sessions are then only opened by this side).
	ListenPort int32

	// AdvertiseWait bounds how long Run, when it finds a restart, waits for
	// the first SetAdvertised call before it opens sessions (default 30s).
	AdvertiseWait time.Duration
}

const (
	defaultProtocol = netlink.RouteProtocol(251)
	routeMetric     = 20 // kernel metric of learned routes (as FRR uses)
	deferralTime    = 30 // seconds GoBGP defers its selection after a restart
)

func (c *Config) setDefaults() {
	if c.Keepalive == 0 {
		c.Keepalive = 3 * time.Second
	}
	if c.Hold == 0 {
		c.Hold = 9 * time.Second
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = 2 * time.Second
	}
	if c.GracefulRestart == 0 {
		c.GracefulRestart = 120 * time.Second
	}
	if c.LearnedProtocol == 0 {
		c.LearnedProtocol = defaultProtocol
	}
	if c.ListenPort == 0 {
		c.ListenPort = 179
	}
	if c.AdvertiseWait == 0 {
		c.AdvertiseWait = 30 * time.Second
	}
}

func (c *Config) validate() error {
	if c.ASN == 0 {
		return errors.New("bgp: ASN is required")
	}
	if !c.RouterID.Is4() {
		return fmt.Errorf("bgp: router ID %v is not an IPv4 address", c.RouterID)
	}
	if len(c.Uplinks) == 0 {
		return errors.New("bgp: no uplinks")
	}
	seen := map[string]bool{}
	for _, u := range c.Uplinks {
		if u.Interface == "" || u.PeerASN == 0 {
			return fmt.Errorf("bgp: uplink %+v needs an interface and a peer ASN", u)
		}
		if seen[u.Interface] {
			return fmt.Errorf("bgp: uplink %s listed twice", u.Interface)
		}
		seen[u.Interface] = true
	}
	if c.Keepalive <= 0 || c.Hold < 3*time.Second || c.Hold < c.Keepalive {
		return fmt.Errorf("bgp: bad timers keepalive %v hold %v", c.Keepalive, c.Hold)
	}
	for _, p := range c.Import {
		if !p.IsValid() {
			return fmt.Errorf("bgp: invalid import prefix %v", p)
		}
	}
	return nil
}

// Speaker is the embedded BGP speaker. Create it with New, start it with
// Run; SetAdvertised and Peers are safe for concurrent use.
type Speaker struct {
	cfg Config
	log *slog.Logger

	kick chan struct{} // coalesced "recompute kernel routes"

	mu         sync.Mutex
	srv        *server.BgpServer // nil until Run has started GoBGP
	desired    map[netip.Prefix]bool
	advertised map[netip.Prefix]uuid.UUID // paths currently in GoBGP
	advSet     bool                       // SetAdvertised called at least once
	advCh      chan struct{}              // closed on the first SetAdvertised
	linkUp     map[string]bool            // uplink name -> oper up
	eor        map[string]bool            // uplink name -> End-of-RIB received
	restart    *restartState              // nil on first boot or once swept
	restarting bool                       // Run found a restart (owned by Run's goroutine)
	resolved   map[string]netip.Addr      // unnumbered uplink -> zoned link-local peer of its session
	linkGen    map[string]int             // uplink -> carrier changes seen (cancels stale resolutions)
}

// New validates cfg and returns a Speaker. It does no I/O.
func New(cfg Config, log *slog.Logger) (*Speaker, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Speaker{
		cfg:        cfg,
		log:        log.With("component", "bgp"),
		kick:       make(chan struct{}, 1),
		desired:    map[netip.Prefix]bool{},
		advertised: map[netip.Prefix]uuid.UUID{},
		advCh:      make(chan struct{}),
		linkUp:     map[string]bool{},
		eor:        map[string]bool{},
		resolved:   map[string]netip.Addr{},
		linkGen:    map[string]int{},
	}, nil
}

// SetAdvertised replaces the set of locally originated prefixes (VM /32s and
// /128s, floating IPs, loopback addresses) with exactly prefixes, diffed into
// GoBGP AddPath/DeletePath. The caller programs the data path before adding
// a prefix and withdraws it before removing the data path. It may be called
// before Run; the set is then applied when GoBGP starts.
func (s *Speaker) SetAdvertised(prefixes []netip.Prefix) error {
	want := make(map[netip.Prefix]bool, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("bgp: invalid prefix %v", p)
		}
		want[p.Masked()] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = want
	if !s.advSet {
		s.advSet = true
		close(s.advCh)
	}
	if s.srv == nil {
		return nil
	}
	return s.applyAdvertisedLocked()
}

func (s *Speaker) applyAdvertisedLocked() error {
	var add []*apiutil.Path
	var addPfx []netip.Prefix
	for p := range s.desired {
		if _, ok := s.advertised[p]; ok {
			continue
		}
		path, err := localPath(p)
		if err != nil {
			return err
		}
		add = append(add, path)
		addPfx = append(addPfx, p)
	}
	// Withdraw by path, not by UUID: GoBGP's delete-by-UUID scans its whole
	// UUID map and RIB per request (1000 withdrawals took 1.3 s that way).
	var del []*apiutil.Path
	var delPfx []netip.Prefix
	for p := range s.advertised {
		if s.desired[p] {
			continue
		}
		path, err := localPath(p)
		if err != nil {
			return err
		}
		del = append(del, path)
		delPfx = append(delPfx, p)
	}
	// Withdraw first, so that a failed add never leaves stale paths behind.
	if len(del) > 0 {
		if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: del}); err != nil {
			return fmt.Errorf("bgp: withdraw %d prefixes: %w", len(del), err)
		}
		for _, p := range delPfx {
			delete(s.advertised, p)
		}
	}
	if len(add) > 0 {
		rsp, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: add})
		if err != nil {
			return fmt.Errorf("bgp: advertise %d prefixes: %w", len(add), err)
		}
		var errs []error
		for i, r := range rsp {
			if r.Error != nil {
				errs = append(errs, fmt.Errorf("%v: %w", addPfx[i], r.Error))
				continue
			}
			s.advertised[addPfx[i]] = r.UUID
		}
		if len(errs) > 0 {
			return fmt.Errorf("bgp: advertise: %w", errors.Join(errs...))
		}
	}
	if len(add)+len(del) > 0 {
		s.log.Debug("advertised set changed", "op", "advertise", "added", len(add), "withdrawn", len(del), "total", len(s.advertised))
	}
	return nil
}

// localPath builds a locally originated path; the next hop is rewritten to
// the session's own address by GoBGP (eBGP next-hop-self).
func localPath(p netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, fmt.Errorf("bgp: prefix %v: %w", p, err)
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if p.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
		return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: attrs}, nil
	}
	mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
	if err != nil {
		return nil, err
	}
	attrs = append(attrs, mp)
	return &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri, Attrs: attrs}, nil
}

// PeerStatus is one session as reported by Peers.
type PeerStatus struct {
	Interface string
	Peer      string // neighbour address (resolved link-local when unnumbered)
	State     string // idle, connect, active, opensent, openconfirm, established
	Uptime    time.Duration
	Sent      int // prefixes advertised to the peer
	Received  int // prefixes received from the peer (before import policy; FRR echoes our own
	// prefixes back, which GoBGP drops as AS-path loops but counts here)
}

// Peers reports every configured session, in Config.Uplinks order. It
// returns nil before Run has started GoBGP.
func (s *Speaker) Peers() []PeerStatus {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	byKey := map[string]*api.Peer{}
	_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		byKey[p.GetConf().GetNeighborAddress()] = p
	})
	out := make([]PeerStatus, 0, len(s.cfg.Uplinks))
	for _, u := range s.cfg.Uplinks {
		key := s.peerKey(u)
		ps := PeerStatus{Interface: u.Interface, Peer: key, State: "idle"}
		if key == "" {
			ps.Peer = "unnumbered"
		}
		if p := byKey[key]; key != "" && p != nil {
			st := p.GetState()
			ps.State = sessionStateName(st.GetSessionState())
			if st.GetNeighborAddress() != "" {
				ps.Peer = st.GetNeighborAddress()
			}
			if st.GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED {
				if up := p.GetTimers().GetState().GetUptime(); up != nil && up.GetSeconds() > 0 {
					ps.Uptime = time.Since(up.AsTime()).Truncate(time.Second)
				}
			}
			for _, a := range p.GetAfiSafis() {
				ps.Sent += int(a.GetState().GetAdvertised())
				ps.Received += int(a.GetState().GetReceived())
			}
		}
		out = append(out, ps)
	}
	return out
}

func sessionStateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_SESSION_STATE_IDLE:
		return "idle"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "connect"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "active"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "opensent"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// peerKey is how GoBGP names the neighbour of u: its address, for an
// unnumbered uplink the zoned link-local address its session was opened
// with ("" while there is none).
func (s *Speaker) peerKey(u Uplink) string {
	if u.PeerAddress.IsValid() {
		return u.PeerAddress.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.resolved[u.Interface]; ok {
		return a.String()
	}
	return ""
}

func (s *Speaker) trigger() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Speaker) uplinkByName(name string) (Uplink, bool) {
	i := slices.IndexFunc(s.cfg.Uplinks, func(u Uplink) bool { return u.Interface == name })
	if i < 0 {
		return Uplink{}, false
	}
	return s.cfg.Uplinks[i], true
}
