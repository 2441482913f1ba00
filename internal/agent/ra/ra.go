// Package ra sends IPv6 router advertisements to the VMs of a hypervisor
// from inside spinel's agent, with no radvd (design brief §5.3, §5.4).
//
// Each port with an IPv6 subnet whose ipv6_ra_mode is set gets a listener
// on its tap: a raw ICMPv6 socket bound to the tap, which receives the
// guest's router solicitations and sends advertisements to all nodes
// (ff02::1) with hop limit 255, from the tap's link-local address (the
// guests' IPv6 gateway, identical on every hypervisor since every tap has
// the same MAC). A listener advertises unsolicited a few times quickly once
// the tap's link-local address is usable, then every MinInterval to
// MaxInterval, and answers each solicitation at once (no more often than
// MinDelayBetweenRAs, RFC 4861's MIN_DELAY_BETWEEN_RAS). With a single
// router per link the random delay of RFC 4861 section 6.2.6, which keeps
// several routers from answering in step, is left out.
//
// The advertisement makes the host the default router and announces every
// prefix OFF-LINK (L=0): the guest then sends everything, same-prefix
// peers included, to the host, which routes it (there is no NDP proxy).
// A is set for slaac and dhcpv6-stateless subnets, M when a subnet is
// dhcpv6-stateful and O when one is dhcpv6-stateless, as Neutron's radvd
// configuration does; the port's MTU and its subnets' IPv6 DNS servers
// (RDNSS, RFC 8106) complete it.
//
// No final advertisement with router lifetime 0 is sent when a port goes
// away: it leaves a host when it migrates, and the guest, running on
// another host by then, must keep its router.
//
// Sockets are created by SetPorts on the calling thread, and the first
// call also opens the netlink socket through which listeners read their
// tap's link-local and MAC addresses: call SetPorts from the namespace
// the taps live in (the agent's own namespace in production).
package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Config is the server's configuration. Zero fields take the defaults.
type Config struct {
	// MinInterval and MaxInterval bound the random interval between
	// unsolicited advertisements; default 30s and 60s.
	MinInterval, MaxInterval time.Duration
	// InitialAdvertisements are sent InitialInterval apart once a tap's
	// link-local address is usable and after a port's advertisement
	// changed; default 3 and 3s (RFC 4861 allows up to 16s).
	InitialAdvertisements int
	InitialInterval       time.Duration
	// MinDelayBetweenRAs is the shortest time between two
	// advertisements on a tap, solicited or not; default 3s.
	MinDelayBetweenRAs time.Duration
	// RouterLifetime is how long the guest keeps the host as its default
	// router without a new advertisement; default 30 minutes, so that a
	// stopped or restarting agent does not take the guests' IPv6 default
	// route with it. At most 9000s.
	RouterLifetime time.Duration
	// ValidLifetime and PreferredLifetime are the prefixes' lifetimes;
	// default 1 day and 4 hours (radvd's defaults).
	ValidLifetime, PreferredLifetime time.Duration
	// DNSLifetime is the RDNSS lifetime; default RouterLifetime.
	DNSLifetime time.Duration
	// CurHopLimit is the hop limit the guest should use; default 64.
	CurHopLimit uint8
}

func (c *Config) setDefaults() {
	if c.MinInterval <= 0 {
		c.MinInterval = 30 * time.Second
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 60 * time.Second
	}
	c.MaxInterval = max(c.MaxInterval, c.MinInterval)
	if c.InitialAdvertisements <= 0 {
		c.InitialAdvertisements = 3
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = 3 * time.Second
	}
	if c.MinDelayBetweenRAs <= 0 {
		c.MinDelayBetweenRAs = 3 * time.Second
	}
	if c.RouterLifetime <= 0 {
		c.RouterLifetime = 30 * time.Minute
	}
	if c.ValidLifetime <= 0 {
		c.ValidLifetime = 24 * time.Hour
	}
	if c.PreferredLifetime <= 0 {
		c.PreferredLifetime = 4 * time.Hour
	}
	c.PreferredLifetime = min(c.PreferredLifetime, c.ValidLifetime)
	if c.DNSLifetime <= 0 {
		c.DNSLifetime = c.RouterLifetime
	}
	if c.CurHopLimit == 0 {
		c.CurHopLimit = 64
	}
}

// Stats are the server's counters since New.
type Stats struct {
	Sent          uint64 // advertisements sent
	Solicitations uint64 // valid router solicitations received
	SendErrors    uint64
}

// Server sends router advertisements on the taps of the ports it is
// given. Create it with New.
type Server struct {
	cfg Config
	log *slog.Logger

	// nl reads links and addresses in the namespace of the first
	// SetPorts; listeners share it under nlMu.
	nlMu sync.Mutex
	nl   *netlink.Handle

	lns *tapnet.Listeners[*advert, *listener]

	sent, solicitations, sendErrors atomic.Uint64
}

// listener serves one tap.
type listener struct {
	tap     string
	ifindex int
	conn    *net.IPConn
	pc      *ipv6.PacketConn
	ad      atomic.Pointer[advert]
	solicit chan struct{} // a solicitation arrived
	changed chan struct{} // the advertisement changed
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New returns a server that serves no port yet.
func New(cfg Config, log *slog.Logger) *Server {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "ra")}
	s.lns = tapnet.NewListeners(s.log, s.start)
	return s
}

// SetPorts makes ports the complete set of ports served (level-triggered,
// see tapnet.Listeners.Sync): a listener on the tap of each port that has
// an IPv6 subnet with ipv6_ra_mode set; a port whose advertisement changed
// is advertised to at once. Call it again when a tap appears. The error
// joins the problems of individual ports; the other ports are served
// regardless.
func (s *Server) SetPorts(ports []agentapi.Port) error {
	_, err := s.Apply(&agentapi.State{Ports: ports})
	return err
}

// Close stops every listener. The server cannot be used afterwards.
func (s *Server) Close() error {
	s.lns.Close()
	s.nlMu.Lock()
	defer s.nlMu.Unlock()
	if s.nl != nil {
		s.nl.Close()
		s.nl = nil
	}
	return nil
}

// Name and Apply make the server one of the agent's Programmers.
func (s *Server) Name() string { return "ra" }

// Apply serves st's ports and returns those that need nothing more from
// router advertisements: ports whose tap has a listener, and ports
// without an IPv6 subnet with ipv6_ra_mode set.
func (s *Server) Apply(st *agentapi.State) (map[string]bool, error) {
	s.nlMu.Lock()
	if s.nl == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			s.nlMu.Unlock()
			return nil, fmt.Errorf("ra: netlink: %w", err)
		}
		s.nl = h
	}
	s.nlMu.Unlock()
	ready, err := s.lns.Sync(st.Ports, func(p *agentapi.Port) (*advert, error) { return buildAdvert(&s.cfg, p) })
	if err != nil {
		return ready, fmt.Errorf("ra: %w", err)
	}
	return ready, nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Solicitations: s.solicitations.Load(), SendErrors: s.sendErrors.Load()}
}

var (
	allNodes   = net.ParseIP("ff02::1")
	allRouters = net.ParseIP("ff02::2")
)

// listen opens a raw ICMPv6 socket on the device with index ifindex
// that receives router solicitations only and sends with hop limit 255.
func listen(ifindex int) (*net.IPConn, *ipv6.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("bind to ifindex %d: %w", ifindex, serr)
		}
		return nil
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, nil, err
	}
	conn := c.(*net.IPConn)
	pc := ipv6.NewPacketConn(conn)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	ifc := &net.Interface{Index: ifindex}
	for _, err := range []error{
		pc.SetICMPFilter(&f),
		pc.SetMulticastHopLimit(255),
		pc.SetHopLimit(255),
		pc.SetMulticastLoopback(false),
		pc.SetControlMessage(ipv6.FlagHopLimit, true),
		// Solicitations go to all routers. A host with forwarding on
		// has joined the group already; this covers one without.
		pc.JoinGroup(ifc, &net.IPAddr{IP: allRouters}),
	} {
		if err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, pc, nil
}

// start opens the socket of a tap on the calling thread and serves it.
func (s *Server) start(tap string, ifindex int, a *advert) (*listener, error) {
	conn, pc, err := listen(ifindex)
	if err != nil {
		return nil, err
	}
	ln := &listener{tap: tap, ifindex: ifindex, conn: conn, pc: pc,
		solicit: make(chan struct{}, 1), changed: make(chan struct{}, 1), stop: make(chan struct{})}
	ln.ad.Store(a)
	ln.wg.Add(2)
	go s.receive(ln)
	go s.advertise(ln)
	s.log.Info("serving", "tap", tap, "ifindex", ifindex, "port", a.portID)
	return ln, nil
}

// Swap makes listener a tapnet.Listener: it serves a from now on, and
// advertises at once if what it announces changed.
func (ln *listener) Swap(a *advert) *advert {
	old := ln.ad.Swap(a)
	if string(old.body) != string(a.body) {
		select {
		case ln.changed <- struct{}{}:
		default:
		}
	}
	return old
}

// Stop closes the listener's socket and waits for its goroutines.
func (ln *listener) Stop() {
	close(ln.stop)
	ln.conn.Close()
	ln.wg.Wait()
}

// receive passes valid router solicitations on to advertise.
func (s *Server) receive(ln *listener) {
	defer ln.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, cm, from, err := ln.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("receive", "tap", ln.tap, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// The zone would be named in this goroutine's namespace,
		// not necessarily the tap's.
		var src net.IP
		if a, ok := from.(*net.IPAddr); ok {
			src = a.IP
		}
		// RFC 4861 section 6.1.1: hop limit 255, code 0, 8 octets or more.
		if n < 8 || buf[0] != typeRouterSolicitation || buf[1] != 0 || cm == nil || cm.HopLimit != 255 {
			s.log.Debug("invalid solicitation", "tap", ln.tap, "from", src, "len", n)
			continue
		}
		s.solicitations.Add(1)
		s.log.Debug("solicitation", "tap", ln.tap, "from", src)
		select {
		case ln.solicit <- struct{}{}:
		default:
		}
	}
}

// advertise sends the advertisements of a tap.
func (s *Server) advertise(ln *listener) {
	defer ln.wg.Done()
	var (
		last    time.Time  // last advertisement sent
		lastSrc netip.Addr // its source
		initial int        // initial advertisements sent
		backoff time.Duration
		next    = time.Now()
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	// soon advances the next advertisement to now, or to the earliest
	// time MinDelayBetweenRAs allows.
	soon := func() {
		at := time.Now()
		if earliest := last.Add(s.cfg.MinDelayBetweenRAs); earliest.After(at) {
			at = earliest
		}
		if at.Before(next) {
			next = at
			timer.Reset(time.Until(at))
		}
	}
	for {
		select {
		case <-ln.stop:
			return
		case <-ln.solicit:
			soon()
			continue
		case <-ln.changed:
			initial = 0
			soon()
			continue
		case <-timer.C:
		}
		src, mac, err := s.linkLocal(ln.ifindex)
		if err != nil || !src.IsValid() {
			// No usable link-local yet: the tap has no carrier (the VM
			// is not running) or its address is still tentative.
			if err != nil {
				s.log.Debug("no link-local address", "tap", ln.tap, "err", err)
			}
			backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
			next = time.Now().Add(backoff)
			timer.Reset(backoff)
			continue
		}
		backoff = 0
		if src != lastSrc {
			initial = 0 // a new link-local address: start over quickly
		}
		a := ln.ad.Load()
		msg := a.marshal(&s.cfg, mac)
		_, err = ln.pc.WriteTo(msg, &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ln.ifindex},
			&net.IPAddr{IP: allNodes})
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.sendErrors.Add(1)
			s.log.Warn("send", "tap", ln.tap, "port", a.portID, "src", src, "err", err)
			backoff = time.Second
			next = time.Now().Add(backoff)
			timer.Reset(backoff)
			continue
		}
		s.sent.Add(1)
		last, lastSrc = time.Now(), src
		initial++
		wait := s.cfg.InitialInterval
		if initial >= s.cfg.InitialAdvertisements {
			wait = s.cfg.MinInterval + rand.N(s.cfg.MaxInterval-s.cfg.MinInterval+1)
		}
		wait = max(wait, s.cfg.MinDelayBetweenRAs)
		next = last.Add(wait)
		timer.Reset(wait)
		s.log.Debug("advertised", "tap", ln.tap, "port", a.portID, "src", src, "next_in", wait.String())
	}
}

// linkLocal returns a usable (not tentative) link-local address of the
// device and its MAC address; no address and no error when it has none.
func (s *Server) linkLocal(ifindex int) (netip.Addr, net.HardwareAddr, error) {
	s.nlMu.Lock()
	defer s.nlMu.Unlock()
	if s.nl == nil {
		return netip.Addr{}, nil, net.ErrClosed
	}
	link, err := s.nl.LinkByIndex(ifindex)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	addrs, err := s.nl.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Is6() || !ip.IsLinkLocalUnicast() ||
			a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		return ip, link.Attrs().HardwareAddr, nil
	}
	return netip.Addr{}, nil, nil
}
