package dhcp

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
)

// optionMSClasslessStaticRoute is option 249, Microsoft's pre-standard
// copy of option 121 that old Windows versions request instead.
const optionMSClasslessStaticRoute = dhcpv4.GenericOptionCode(249)

// minMessageSize is the largest IP datagram every client must accept
// (RFC 2131 section 2), used when a client sends no option 57.
const minMessageSize = 576

// ipUDPHeaders is the size of the IPv4 and UDP headers of a reply.
const ipUDPHeaders = 20 + 8

// reply is a message to send and where to send it.
type reply struct {
	msg    *dhcpv4.DHCPv4
	dstIP  netip.Addr
	dstMAC net.HardwareAddr
	// oversize is set when the reply exceeds the client's maximum
	// message size even without optional options.
	oversize bool
}

// answer returns the reply to req from the port whose lease is l, or nil
// and why not. It implements RFC 2131 section 4.3 for a server that owns
// exactly one binding (the port's fixed IP) and keeps no state.
func (l *lease) answer(req *dhcpv4.DHCPv4) (*reply, string) {
	switch {
	case req.OpCode != dhcpv4.OpcodeBootRequest:
		return nil, "not a BOOTREQUEST"
	case req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6:
		return nil, "not an Ethernet client"
	case !bytes.Equal(req.ClientHWAddr, l.mac):
		// The tap identifies the port; the MAC must match it too.
		return nil, "chaddr is not the port's MAC"
	case !isZero(req.GatewayIPAddr):
		return nil, "relayed request (giaddr set)"
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return l.configReply(req, dhcpv4.MessageTypeOffer, true), ""

	case dhcpv4.MessageTypeRequest:
		sid, want := req.ServerIdentifier(), req.RequestedIPAddress()
		switch {
		case sid != nil: // SELECTING
			if !eqIP(sid, l.serverID) {
				return nil, "client selected another server"
			}
			if !eqIP(want, l.ip) {
				return l.nak(req, "requested address is not this port's"), ""
			}
		case want != nil: // INIT-REBOOT
			if !eqIP(want, l.ip) || (!isZero(req.ClientIPAddr) && !eqIP(req.ClientIPAddr, l.ip)) {
				return l.nak(req, "requested address is not this port's"), ""
			}
		case !isZero(req.ClientIPAddr): // RENEWING or REBINDING
			if !eqIP(req.ClientIPAddr, l.ip) {
				return l.nak(req, "leased address is not this port's"), ""
			}
		default:
			return nil, "REQUEST without server identifier, requested address or ciaddr"
		}
		return l.configReply(req, dhcpv4.MessageTypeAck, true), ""

	case dhcpv4.MessageTypeInform:
		return l.configReply(req, dhcpv4.MessageTypeAck, false), ""

	case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline:
		// Nothing to free or to quarantine: the address is the port's,
		// fixed by the API. The caller logs them.
		return nil, ""

	default:
		return nil, "unexpected message type " + req.MessageType().String()
	}
}

// configReply builds an OFFER or ACK carrying the port's configuration;
// withAddress is false for the ACK to an INFORM, which carries neither
// yiaddr nor lease times (RFC 2131 section 4.3.5).
func (l *lease) configReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, withAddress bool) *reply {
	m := l.baseReply(req, mt)
	for code, v := range l.opts {
		m.Options[code] = v
	}
	if withAddress {
		m.YourIPAddr = ip4(l.ip)
	} else {
		m.Options.Del(dhcpv4.OptionIPAddressLeaseTime)
		m.Options.Del(dhcpv4.OptionRenewTimeValue)
		m.Options.Del(dhcpv4.OptionRebindingTimeValue)
	}
	if mt == dhcpv4.MessageTypeAck {
		m.ClientIPAddr = copyIP(req.ClientIPAddr)
	}
	// Option 249 only for clients that ask for it and not for 121 (old
	// Windows): the list would otherwise travel twice.
	ms := false
	if len(l.routes) > 0 && req.ParameterRequestList() != nil &&
		req.IsOptionRequested(optionMSClasslessStaticRoute) &&
		!req.IsOptionRequested(dhcpv4.OptionClasslessStaticRoute) {
		m.Options.Update(dhcpv4.Option{Code: optionMSClasslessStaticRoute, Value: l.routes})
		ms = true
	}

	r := &reply{msg: m}
	if max := maxMessageSize(req); len(m.ToBytes())+ipUDPHeaders > max {
		if ms {
			m.Options.Del(optionMSClasslessStaticRoute)
		}
		r.oversize = len(m.ToBytes())+ipUDPHeaders > max
	}

	// Destination, RFC 2131 section 4.1 (giaddr is always zero here).
	switch {
	case !isZero(req.ClientIPAddr):
		r.dstIP, r.dstMAC = addr(req.ClientIPAddr), l.mac
	case req.IsBroadcast() || !withAddress:
		r.dstIP, r.dstMAC = broadcastIP, tapnet.BroadcastMAC
	default:
		r.dstIP, r.dstMAC = l.ip, l.mac
	}
	return r
}

// nak builds a NAK, always broadcast (RFC 2131 section 4.1).
func (l *lease) nak(req *dhcpv4.DHCPv4, why string) *reply {
	m := l.baseReply(req, dhcpv4.MessageTypeNak)
	m.Options.Update(dhcpv4.OptServerIdentifier(ip4(l.serverID)))
	m.Options.Update(dhcpv4.OptMessage(why))
	return &reply{msg: m, dstIP: broadcastIP, dstMAC: tapnet.BroadcastMAC}
}

// baseReply is a BOOTREPLY to req of type mt with no options but the
// message type and those RFC 6842 and RFC 3046 say to echo.
func (l *lease) baseReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientHWAddr:  append(net.HardwareAddr(nil), req.ClientHWAddr...),
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       dhcpv4.Options{},
	}
	m.Options.Update(dhcpv4.OptMessageType(mt))
	if v := req.Options.Get(dhcpv4.OptionClientIdentifier); v != nil {
		m.Options[dhcpv4.OptionClientIdentifier.Code()] = v
	}
	return m
}

var broadcastIP = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// maxMessageSize is the largest reply datagram the client accepts.
func maxMessageSize(req *dhcpv4.DHCPv4) int {
	n, err := req.MaxMessageSize()
	if err != nil || int(n) < minMessageSize {
		return minMessageSize
	}
	return int(n)
}

func isZero(ip net.IP) bool { return ip == nil || ip.IsUnspecified() }

func eqIP(ip net.IP, a netip.Addr) bool {
	if ip == nil {
		return false
	}
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func copyIP(ip net.IP) net.IP {
	if ip == nil {
		return net.IPv4zero
	}
	return append(net.IP(nil), ip...)
}
