// Package tapnet holds what the agent's per-tap guest services (DHCPv4,
// DHCPv6, router advertisements) share: Listeners, which keeps one
// listener per tap in step with the ports to serve; a UDP socket bound to
// one device; and a link-layer sender that writes complete IP packets to a
// given MAC on that device.
//
// Spinel's taps carry no IP address (the gateway addresses live as /32s
// on lo), so a server on a tap cannot rely on the kernel to pick a source
// address, to resolve the guest's MAC, or to route a reply to an address
// the guest does not have yet. The Sender therefore builds
// the IP and UDP headers itself and hands the packet to an AF_PACKET
// socket with the destination MAC, as ISC dhcpd's LPF mode does.
//
// Sockets belong to the network namespace of the thread that creates
// them; create them from the namespace the taps live in.
package tapnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenUDP opens a UDP socket on port, bound to the device with index
// ifindex only (SO_BINDTOIFINDEX, set before bind), for network "udp4" or
// "udp6". Several such sockets, one per tap, share the port; SO_REUSEADDR
// lets them coexist with a device-less socket on the same port (a
// dnsmasq of libvirt's default network, for instance).
func ListenUDP(network string, ifindex int, port int) (*net.UDPConn, error) {
	var addr string
	switch network {
	case "udp4":
		addr = "0.0.0.0:" + strconv.Itoa(port)
	case "udp6":
		addr = "[::]:" + strconv.Itoa(port)
	default:
		return nil, fmt.Errorf("tapnet: unsupported network %q", network)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex); serr == nil {
				return
			}
			// Kernels before 5.0 lack SO_BINDTOIFINDEX.
			ifc, err := net.InterfaceByIndex(ifindex)
			if err != nil {
				serr = err
				return
			}
			serr = unix.BindToDevice(int(fd), ifc.Name)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("bind to ifindex %d: %w", ifindex, serr)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Sender writes IP packets onto one device through an AF_PACKET socket.
// The socket is opened with protocol 0, so it never receives anything.
// Packets sent this way bypass the IP stack (routing, neighbour table,
// netfilter's IP hooks), not the device's qdisc or netdev hooks.
type Sender struct {
	fd      int
	ifindex int
}

// NewSender opens a sender on the device with index ifindex.
func NewSender(ifindex int) (*Sender, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return &Sender{fd: fd, ifindex: ifindex}, nil
}

// SendUDP4 sends payload in a UDP/IPv4 packet from src:sport to
// dst:dport, in an Ethernet frame to dstMAC (the kernel fills in the
// device's own MAC as the source).
func (s *Sender) SendUDP4(dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, payload []byte) error {
	pkt, err := BuildUDP4(src, dst, sport, dport, payload)
	if err != nil {
		return err
	}
	if len(dstMAC) != 6 {
		return fmt.Errorf("tapnet: bad MAC %v", dstMAC)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: s.ifindex, Halen: 6}
	copy(sa.Addr[:], dstMAC)
	for {
		err = unix.Sendto(s.fd, pkt, 0, sa)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Close closes the socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }

// BuildUDP4 returns an IPv4 packet (20-byte header, TTL 64, no options)
// carrying a UDP datagram, both checksums computed.
func BuildUDP4(src, dst netip.Addr, sport, dport uint16, payload []byte) ([]byte, error) {
	if !src.Is4() || !dst.Is4() {
		return nil, fmt.Errorf("tapnet: not IPv4: %v -> %v", src, dst)
	}
	total := 20 + 8 + len(payload)
	if total > 0xffff {
		return nil, fmt.Errorf("tapnet: payload too large (%d bytes)", len(payload))
	}
	b := make([]byte, total)
	ip := b[:20]
	ip[0] = 0x45 // version 4, IHL 5
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	ip[8] = 64 // TTL
	ip[9] = unix.IPPROTO_UDP
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(0, ip))

	udp := b[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	// Pseudo-header: source, destination, zero, protocol, UDP length.
	var sum uint32
	sum = sumWords(sum, s4[:])
	sum = sumWords(sum, d4[:])
	sum += uint32(unix.IPPROTO_UDP) + uint32(8+len(payload))
	c := checksum(sum, udp)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return b, nil
}

func sumWords(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func checksum(initial uint32, b []byte) uint16 {
	sum := sumWords(initial, b)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
