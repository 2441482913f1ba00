// Package dhcp serves DHCPv4 to the VMs of a hypervisor from inside
// spinel's agent, with no dnsmasq (design brief §5.4).
//
// Each served port gets its own listener on its tap: a UDP socket on port
// 67 bound to the tap's ifindex, which receives the guest's broadcasts
// (DISCOVER, REQUEST, INFORM) and its unicast renewals to the gateway (a
// /32 the dataplane puts on lo). The tap identifies the port; the client
// MAC (chaddr) must also be the port's or the request gets no answer. The server keeps no lease state: every port has
// exactly one address, so answers are a pure function of the port's
// desired state, and option changes reach the guest at its next renewal.
//
// Replies are built as whole IPv4/UDP packets and written to the tap with
// an AF_PACKET socket (package tapnet): unicast to the guest's MAC and
// its new address, or broadcast when the client sets the broadcast flag
// or for a NAK, as RFC 2131 section 4.1 says. The tap has no IPv4
// address, so the kernel could neither pick the gateway as source nor
// deliver to an address the guest does not have yet.
//
// DHCPv6 and router advertisements will be siblings of this server with
// the same shape (New, SetPorts, Close, and the agent's Programmer
// methods) and the same transport helpers from tapnet.
//
// Every socket is created by SetPorts on the calling thread, so it
// belongs to that thread's network namespace: call SetPorts from the
// namespace the taps live in (the agent's own namespace in production).
package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Config is the server's configuration.
type Config struct {
	// ServerID is the server identifier (option 54) and source address
	// for ports whose subnet has no gateway. A port on a subnet with a
	// gateway always gets the gateway: it is the address the guest
	// renews with, and it is local on every hypervisor.
	ServerID netip.Addr
	// LeaseTime is the lease time handed out; default 24h. Renewal (T1)
	// is at half of it and rebinding (T2) at seven eighths.
	LeaseTime time.Duration
	// DomainName is option 15 for ports without a dns_domain.
	DomainName string
	// MetadataIP is routed via the gateway in option 121; default
	// 169.254.169.254.
	MetadataIP netip.Addr
}

// Server answers DHCPv4 on the taps of the ports it is given. Create it
// with New.
type Server struct {
	cfg Config
	log *slog.Logger
	lns *tapnet.Listeners[*lease, *listener]
}

// listener serves one tap.
type listener struct {
	tap     string
	ifindex int
	conn    *net.UDPConn
	send    *tapnet.Sender
	lease   atomic.Pointer[lease]
	limit   tapnet.Bucket
	done    chan struct{}
}

// New returns a server that serves no port yet.
func New(cfg Config, log *slog.Logger) *Server {
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = 24 * time.Hour
	}
	if !cfg.MetadataIP.IsValid() {
		cfg.MetadataIP = defaultMetadataIP
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "dhcp4")}
	s.lns = tapnet.NewListeners(s.log, s.start)
	return s
}

// SetPorts makes ports the complete set of ports served (level-triggered,
// see tapnet.Listeners.Sync): a listener on the tap of each port that has
// an IPv4 address on a DHCP-enabled subnet. Call it again when a tap
// appears. The error joins the problems of individual ports; the other
// ports are served regardless.
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
func (s *Server) Name() string { return "dhcp4" }

// Apply serves st's ports and returns those that need nothing more from
// DHCPv4: ports served on their tap, and ports without an IPv4 address on
// a DHCP-enabled subnet.
func (s *Server) Apply(st *agentapi.State) (map[string]bool, error) {
	ready, err := s.lns.Sync(st.Ports, func(p *agentapi.Port) (*lease, error) { return buildLease(&s.cfg, p) })
	if err != nil {
		return ready, fmt.Errorf("dhcp: %w", err)
	}
	return ready, nil
}

// Swap and Stop make listener a tapnet.Listener.
func (ln *listener) Swap(l *lease) *lease { return ln.lease.Swap(l) }

// Stop closes the listener's sockets and waits for its goroutine.
func (ln *listener) Stop() {
	ln.conn.Close()
	<-ln.done
	ln.send.Close()
}

// start opens the sockets of a tap on the calling thread and serves them.
func (s *Server) start(tap string, ifindex int, l *lease) (*listener, error) {
	conn, err := tapnet.ListenUDP("udp4", ifindex, 67)
	if err != nil {
		return nil, err
	}
	snd, err := tapnet.NewSender(ifindex)
	if err != nil {
		conn.Close()
		return nil, err
	}
	ln := &listener{tap: tap, ifindex: ifindex, conn: conn, send: snd,
		limit: tapnet.Bucket{Rate: 10, Burst: 30}, done: make(chan struct{})}
	ln.lease.Store(l)
	go s.serve(ln)
	s.log.Info("serving", "tap", tap, "ifindex", ifindex, "port", l.portID, "ip", l.ip)
	return ln, nil
}

func (s *Server) serve(ln *listener) {
	defer close(ln.done)
	buf := make([]byte, 4096)
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
		s.handle(ln, buf[:n], from)
	}
}

// handle answers one request received on ln's tap.
func (s *Server) handle(ln *listener, pkt []byte, from netip.AddrPort) {
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		s.log.Debug("malformed request", "tap", ln.tap, "err", err)
		return
	}
	l := ln.lease.Load()
	log := s.log.With("tap", ln.tap, "port", l.portID, "xid", req.TransactionID.String(),
		"chaddr", req.ClientHWAddr.String(), "from", from.String())
	mt := req.MessageType()
	r, why := l.answer(req)
	switch {
	case r == nil && mt == dhcpv4.MessageTypeDecline && why == "":
		log.Warn("guest declined its address: it sees the address in use (duplicate IP?)",
			"ip", l.ip, "message", req.Message())
		return
	case r == nil && mt == dhcpv4.MessageTypeRelease && why == "":
		log.Debug("guest released its address", "ip", l.ip)
		return
	case r == nil:
		log.Debug("no answer", "type", mt.String(), "reason", why)
		return
	}
	if r.oversize {
		log.Warn("reply exceeds the client's maximum message size; some clients will drop it",
			"size", len(r.msg.ToBytes())+ipUDPHeaders, "max", maxMessageSize(req))
	}
	if err := ln.send.SendUDP4(r.dstMAC, l.serverID, r.dstIP, 67, 68, r.msg.ToBytes()); err != nil {
		log.Warn("send", "type", r.msg.MessageType().String(), "err", err)
		return
	}
	lvl := slog.LevelDebug
	if r.msg.MessageType() == dhcpv4.MessageTypeNak {
		lvl = slog.LevelInfo
	}
	log.Log(context.Background(), lvl, "answered", "request", mt.String(), "reply", r.msg.MessageType().String(),
		"yiaddr", r.msg.YourIPAddr.String(), "to", r.dstIP, "why", r.msg.Message())
}
