package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Unnumbered sessions (RFC 8950 extended next hop over the IPv6 link-local
// addresses of the uplink) need each side to know the other's link-local
// address. FRR learns its neighbour's from the router advertisements it
// receives on the interface (`neighbor IFACE interface`), so the speaker
// advertises on every unnumbered uplink: router lifetime 0 (the ToR must
// not take the hypervisor as a default router), a source link-layer
// option, nothing else. It learns the ToR's address the same way, from
// the ToR's advertisement in the kernel's neighbour table, and solicits one
// (a router solicitation) to learn it at once rather than at the ToR's
// next periodic advertisement.
//
// The session is then configured as a numbered peer on the zoned
// link-local address (fe80::…%up1) instead of through GoBGP's
// NeighborInterface: GoBGP resolves an interface peer from the neighbour
// table again when it deletes it, which fails once a carrier loss has
// flushed the table, exactly when the speaker must delete it.

const (
	uplinkRAInterval = 10 * time.Second // FRR's own RA interval for unnumbered peers
	uplinkRAInitial  = time.Second      // first advertisements, 3 of them
	neighbourPoll    = 100 * time.Millisecond
	solicitInterval  = time.Second
)

var (
	allNodes   = net.ParseIP("ff02::1")
	allRouters = net.ParseIP("ff02::2")
)

// uplinkLinkLocal returns the index, MAC and usable (non-tentative)
// link-local address of iface.
func uplinkLinkLocal(iface string) (int, net.HardwareAddr, netip.Addr, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return 0, nil, netip.Addr{}, err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return 0, nil, netip.Addr{}, err
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			return l.Attrs().Index, l.Attrs().HardwareAddr, ip, nil
		}
	}
	return 0, nil, netip.Addr{}, fmt.Errorf("no usable link-local address on %s yet", iface)
}

// routerAdvert is an RA with router lifetime 0 and a source link-layer
// address option; routerSolicit an RS with the same option.
func routerAdvert(mac net.HardwareAddr) []byte {
	b := make([]byte, 16, 16+8)
	b[0] = byte(ipv6.ICMPTypeRouterAdvertisement)
	// b[4] cur hop limit 0 (unspecified), flags 0, router lifetime 0,
	// reachable time 0, retrans timer 0.
	return appendSLLA(b, mac)
}

func routerSolicit(mac net.HardwareAddr) []byte {
	b := make([]byte, 8, 8+8)
	b[0] = byte(ipv6.ICMPTypeRouterSolicitation)
	return appendSLLA(b, mac)
}

func appendSLLA(b []byte, mac net.HardwareAddr) []byte {
	if len(mac) != 6 {
		return b
	}
	return append(append(b, 1, 1), mac...) // type 1, length 1 (8 octets)
}

// openICMP opens a raw ICMPv6 socket that sends on ifindex with hop limit
// 255, as neighbour discovery requires. It receives nothing.
func openICMP(ifindex int) (*ipv6.PacketConn, net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, nil, err
	}
	pc := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true) // block every type: we only send
	for _, err := range []error{pc.SetICMPFilter(&f), pc.SetMulticastHopLimit(255), pc.SetHopLimit(255), pc.SetMulticastLoopback(false)} {
		if err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return pc, c, nil
}

// sendND sends msg from iface's link-local address to dst.
func sendND(iface string, dst net.IP, build func(net.HardwareAddr) []byte) error {
	idx, mac, src, err := uplinkLinkLocal(iface)
	if err != nil {
		return err
	}
	pc, c, err := openICMP(idx)
	if err != nil {
		return fmt.Errorf("bgp: icmpv6 socket on %s: %w", iface, err)
	}
	defer c.Close()
	msg := build(mac)
	// The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
	_, err = pc.WriteTo(msg, &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: idx}, &net.IPAddr{IP: dst, Zone: iface})
	return err
}

// advertiseUplinks sends router advertisements on every unnumbered uplink
// until ctx ends: three a second apart, then every uplinkRAInterval, and
// again quickly after a carrier comes back (kick).
func (s *Speaker) advertiseUplinks(ctx context.Context, kick <-chan string) {
	next := map[string]time.Time{}
	burst := map[string]int{}
	for _, u := range s.cfg.Uplinks {
		if !u.PeerAddress.IsValid() {
			next[u.Interface] = time.Now()
			burst[u.Interface] = 3
		}
	}
	if len(next) == 0 {
		return
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case iface := <-kick:
			if _, ok := next[iface]; ok {
				next[iface], burst[iface] = time.Now(), 3
			}
		case <-t.C:
		}
		now := time.Now()
		soonest := now.Add(uplinkRAInterval)
		for iface, at := range next {
			if !at.After(now) {
				if err := sendND(iface, allNodes, routerAdvert); err != nil {
					// Usually a link-local address still in DAD: retry soon.
					s.log.Debug("uplink router advertisement", "op", "ra", "interface", iface, "err", err)
					at = now.Add(200 * time.Millisecond)
				} else if burst[iface] > 0 {
					burst[iface]--
					at = now.Add(uplinkRAInitial)
				} else {
					at = now.Add(uplinkRAInterval)
				}
				next[iface] = at
			}
			if at.Before(soonest) {
				soonest = at
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(time.Until(soonest))
	}
}

// errNoNeighbour: the ToR's link-local address is not known yet.
var errNoNeighbour = errors.New("bgp: no link-local neighbour on the uplink yet")

// linkLocalNeighbour returns the one link-local neighbour of iface known
// to the kernel (learned from the ToR's router advertisements).
func linkLocalNeighbour(iface string) (netip.Addr, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	ns, err := netlink.NeighList(l.Attrs().Index, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, err
	}
	own := map[netip.Addr]bool{}
	if addrs, err := netlink.AddrList(l, netlink.FAMILY_V6); err == nil {
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				own[ip] = true
			}
		}
	}
	var found []netip.Addr
	for _, n := range ns {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || !ip.IsLinkLocalUnicast() || own[ip] || n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 || len(n.HardwareAddr) == 0 {
			continue
		}
		found = append(found, ip)
	}
	switch len(found) {
	case 0:
		return netip.Addr{}, errNoNeighbour
	case 1:
		return found[0], nil
	}
	// More than one router on a point-to-point uplink: prefer a router
	// entry (the kernel flags neighbours that advertised as routers).
	for _, n := range ns {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && n.Flags&netlink.NTF_ROUTER != 0 && ip.IsLinkLocalUnicast() && !own[ip] &&
			n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("bgp: %d link-local neighbours on %s, a point-to-point uplink has one", len(found), iface)
}

// resolveNeighbour waits until the ToR's link-local address on iface is
// known, soliciting an advertisement every second, and returns it zoned
// with iface. It gives up when ctx ends or still() turns false.
func (s *Speaker) resolveNeighbour(ctx context.Context, iface string, still func() bool) (netip.Addr, error) {
	var lastRS time.Time
	for {
		a, err := linkLocalNeighbour(iface)
		if err == nil {
			return a.WithZone(iface), nil
		}
		if !errors.Is(err, errNoNeighbour) {
			s.log.Warn("resolving the ToR's link-local address", "op", "resolve", "interface", iface, "err", err)
		}
		if time.Since(lastRS) >= solicitInterval {
			if err := sendND(iface, allRouters, routerSolicit); err == nil {
				lastRS = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, ctx.Err()
		case <-time.After(neighbourPoll):
		}
		if !still() {
			return netip.Addr{}, errors.New("bgp: uplink went down while resolving its neighbour")
		}
	}
}
