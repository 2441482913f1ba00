// Package dhcp6 serves DHCPv6 to the VMs of a hypervisor from inside
// spinel's agent, with no dnsmasq (design brief §5.4): addresses (IA_NA)
// on dhcpv6-stateful subnets, and DNS servers and the search domain on
// dhcpv6-stateful and dhcpv6-stateless ones. Router advertisements,
// which tell guests to use it, are package ra's.
//
// Each served port gets its own listener on its tap: a UDP socket on port
// 547 bound to the tap's ifindex, member of All_DHCP_Relay_Agents_and_Servers
// (ff02::1:2) on the tap. The tap identifies the port, so the client's DUID
// and IAID do not matter: the server keeps no lease state, and every
// answer is a function of the port's desired state, so option changes
// reach the guest at its next renewal (or information refresh). Replies go
// from the tap's link-local address (the kernel picks it) to the client's
// link-local address, through the socket bound to the tap.
//
// The server DUID is a DUID-LL of the host MAC every tap carries
// (agentapi.HostMAC), so it is the same on every hypervisor, and a guest
// that migrated renews with the new host as with the old.
//
// Every socket is created by SetPorts on the calling thread, so it
// belongs to that thread's network namespace: call SetPorts from the
// namespace the taps live in (the agent's own namespace in production).
package dhcp6

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/net/ipv6"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Config is the server's configuration. Zero fields take the defaults.
type Config struct {
	// LeaseTime is the preferred and valid lifetime of the addresses
	// handed out; default 24h. Renewal (T1) is at half of it and
	// rebinding (T2) at four fifths (RFC 8415 section 21.4).
	LeaseTime time.Duration
	// InformationRefreshTime tells stateless clients when to ask again;
	// default half the lease time (clients take at least 10 minutes).
	InformationRefreshTime time.Duration
	// DomainName is the search domain for ports without a dns_domain.
	DomainName string
	// ServerDUID is the server identifier; default a DUID-LL of
	// agentapi.HostMAC.
	ServerDUID dhcpv6.DUID
	// DisableRapidCommit answers a Solicit carrying the Rapid Commit
	// option with an Advertise like any other. By default it gets a
	// Reply at once (RFC 8415 section 18.3.1), which is safe here: the
	// answer to the Request that would follow is the same.
	DisableRapidCommit bool
}

// Server answers DHCPv6 on the taps of the ports it is given. Create it
// with New.
type Server struct {
	cfg Config
	log *slog.Logger
	lns *tapnet.Listeners[*binding, *listener]
}

// listener serves one tap.
type listener struct {
	tap     string
	ifindex int
	conn    *net.UDPConn
	binding atomic.Pointer[binding]
	limit   tapnet.Bucket
	done    chan struct{}
}

// allDHCPServers (All_DHCP_Relay_Agents_and_Servers) is where clients send (RFC 8415 section 7.1).
var allDHCPServers = net.ParseIP("ff02::1:2")

// New returns a server that serves no port yet.
func New(cfg Config, log *slog.Logger) *Server {
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = 24 * time.Hour
	}
	if cfg.InformationRefreshTime <= 0 {
		cfg.InformationRefreshTime = cfg.LeaseTime / 2
	}
	if cfg.ServerDUID == nil {
		mac, _ := net.ParseMAC(agentapi.HostMAC)
		cfg.ServerDUID = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "dhcp6")}
	s.lns = tapnet.NewListeners(s.log, s.start)
	return s
}

// SetPorts makes ports the complete set of ports served (level-triggered,
// see tapnet.Listeners.Sync): a listener on the tap of each port that has
// a DHCP-enabled IPv6 subnet in a dhcpv6 address mode. Call it again when
// a tap appears. The error joins the problems of individual ports; the
// other ports are served regardless.
func (s *Server) SetPorts(ports []agentapi.Port) error {
	_, err := s.Apply(&agentapi.State{Ports: ports})
	return err
}

// Close stops every listener. The server cannot be used afterwards.
func (s *Server) Close() error {
	s.lns.Close()
	return nil
}

// Name and Apply make the server one of the agent's Programmers.
func (s *Server) Name() string { return "dhcp6" }

// Apply serves st's ports and returns those that need nothing more from
// DHCPv6: ports served on their tap, and ports without a DHCP-enabled
// IPv6 subnet in a dhcpv6 address mode.
func (s *Server) Apply(st *agentapi.State) (map[string]bool, error) {
	ready, err := s.lns.Sync(st.Ports, func(p *agentapi.Port) (*binding, error) { return buildBinding(&s.cfg, p) })
	if err != nil {
		return ready, fmt.Errorf("dhcp6: %w", err)
	}
	return ready, nil
}

// Swap and Stop make listener a tapnet.Listener.
func (ln *listener) Swap(b *binding) *binding { return ln.binding.Swap(b) }

// Stop closes the listener's socket and waits for its goroutine.
func (ln *listener) Stop() {
	ln.conn.Close()
	<-ln.done
}

// start opens the socket of a tap on the calling thread and serves it.
func (s *Server) start(tap string, ifindex int, b *binding) (*listener, error) {
	conn, err := tapnet.ListenUDP("udp6", ifindex, dhcpv6.DefaultServerPort)
	if err != nil {
		return nil, err
	}
	err = ipv6.NewPacketConn(conn).JoinGroup(&net.Interface{Index: ifindex},
		&net.UDPAddr{IP: allDHCPServers})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("join %s: %w", allDHCPServers, err)
	}
	ln := &listener{tap: tap, ifindex: ifindex, conn: conn,
		limit: tapnet.Bucket{Rate: 10, Burst: 30}, done: make(chan struct{})}
	ln.binding.Store(b)
	go s.serve(ln)
	s.log.Info("serving", "tap", tap, "ifindex", ifindex, "port", b.portID, "addresses", b.addrs)
	return ln, nil
}

func (s *Server) serve(ln *listener) {
	defer close(ln.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := ln.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("receive", "tap", ln.tap, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !ln.limit.Allow(time.Now()) {
			s.log.Debug("rate limited", "tap", ln.tap)
			continue
		}
		// The zone would be named in this goroutine's network namespace,
		// which need not be the tap's; the socket is bound to the tap, so
		// the reply leaves through it without one.
		s.handle(ln, buf[:n], netip.AddrPortFrom(from.Addr().WithZone(""), from.Port()))
	}
}

// handle answers one message received on ln's tap.
func (s *Server) handle(ln *listener, pkt []byte, from netip.AddrPort) {
	b := ln.binding.Load()
	log := s.log.With("tap", ln.tap, "port", b.portID, "from", from.String())
	if len(pkt) > 0 && (dhcpv6.MessageType(pkt[0]) == dhcpv6.MessageTypeRelayForward ||
		dhcpv6.MessageType(pkt[0]) == dhcpv6.MessageTypeRelayReply) {
		log.Debug("relay message on a tap ignored")
		return
	}
	req, err := dhcpv6.MessageFromBytes(pkt)
	if err != nil {
		log.Debug("malformed message", "err", err)
		return
	}
	log = log.With("xid", req.TransactionID.String())
	if cid := req.Options.ClientID(); cid != nil {
		log = log.With("duid", cid.String())
	}
	mt := req.MessageType
	r, why := b.answer(&s.cfg, req)
	if r == nil {
		log.Debug("no answer", "type", mt.String(), "reason", why)
		return
	}
	switch mt {
	case dhcpv6.MessageTypeDecline:
		log.Warn("guest declined its address: it sees the address in use (duplicate IP?)", "addresses", b.addrs)
	case dhcpv6.MessageTypeRelease:
		log.Debug("guest released its addresses")
	}
	if _, err := ln.conn.WriteToUDPAddrPort(r.ToBytes(), from); err != nil {
		log.Warn("send", "type", r.MessageType.String(), "err", err)
		return
	}
	lvl := slog.LevelDebug
	status := ""
	if st := r.Options.Status(); st != nil {
		status = st.StatusCode.String()
		if st.StatusCode == iana.StatusNotOnLink {
			lvl = slog.LevelInfo
		}
	}
	log.Log(context.Background(), lvl, "answered", "request", mt.String(), "reply", r.MessageType.String(),
		"addresses", b.addrs, "status", status)
}
