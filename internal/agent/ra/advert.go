package ra

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Neutron's ipv6_ra_mode values.
const (
	ModeSLAAC     = "slaac"
	ModeStateful  = "dhcpv6-stateful"
	ModeStateless = "dhcpv6-stateless"
)

// ICMPv6 types and neighbour discovery option types (RFC 4861, RFC 8106).
const (
	typeRouterSolicitation  = 133
	typeRouterAdvertisement = 134

	optSourceLinkLayerAddr = 1
	optPrefixInformation   = 3
	optMTU                 = 5
	optRDNSS               = 25
)

// maxRDNSS is the most addresses one RDNSS option can carry (its length
// is a byte counting units of 8 octets).
const maxRDNSS = 127

// advert is what the server announces on one port's tap, computed once
// per SetPorts from the port's desired state. It is immutable: a changed
// port gets a new advert swapped in atomically.
type advert struct {
	portID   string
	managed  bool // M: addresses by DHCPv6 (some subnet is dhcpv6-stateful)
	other    bool // O: other configuration by DHCPv6 (some subnet is dhcpv6-stateless)
	lifetime time.Duration
	mtu      uint32 // 0: no MTU option
	prefixes []prefix
	dns      []netip.Addr
	// body is the advertisement without the source link-layer address
	// option (which depends on the tap's MAC at send time); two adverts
	// with the same body announce the same thing.
	body []byte
}

type prefix struct {
	netip.Prefix
	autonomous bool // A: the guest forms an address from it (SLAAC)
}

// PortID makes advert a tapnet.Answer.
func (a *advert) PortID() string { return a.portID }

// errNoRA means that no IPv6 subnet of the port has ipv6_ra_mode set:
// routers are announced by someone else, or not at all, as in Neutron.
var errNoRA = fmt.Errorf("no IPv6 subnet with ipv6_ra_mode: %w", tapnet.ErrNotServed)

// buildAdvert computes the advertisement for port p.
func buildAdvert(cfg *Config, p *agentapi.Port) (*advert, error) {
	a := &advert{portID: p.ID}
	gateway := false
	seenDNS := map[netip.Addr]bool{}
	for i := range p.Subnets {
		sn := &p.Subnets[i]
		if sn.IPv6RAMode == "" || sn.IPVersion == 4 {
			continue
		}
		pfx, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6() {
			return nil, fmt.Errorf("subnet %s: bad IPv6 CIDR %q", sn.ID, sn.CIDR)
		}
		pfx = pfx.Masked()
		auto := false
		switch sn.IPv6RAMode {
		case ModeSLAAC:
			auto = true
		case ModeStateless:
			auto, a.other = true, true
		case ModeStateful:
			a.managed = true
		default:
			return nil, fmt.Errorf("subnet %s: unknown ipv6_ra_mode %q", sn.ID, sn.IPv6RAMode)
		}
		if sn.GatewayIP != "" {
			gateway = true
		}
		if j := slices.IndexFunc(a.prefixes, func(q prefix) bool { return q.Prefix == pfx }); j >= 0 {
			a.prefixes[j].autonomous = a.prefixes[j].autonomous || auto
		} else {
			a.prefixes = append(a.prefixes, prefix{Prefix: pfx, autonomous: auto})
		}
		for _, s := range sn.DNSNameservers {
			d, err := netip.ParseAddr(s)
			if err != nil || !d.Is6() || d.Is4In6() || seenDNS[d] || len(a.dns) == maxRDNSS {
				continue
			}
			seenDNS[d] = true
			a.dns = append(a.dns, d.WithZone(""))
		}
	}
	if len(a.prefixes) == 0 {
		return nil, errNoRA
	}
	// The host is every guest's IPv6 router (its tap's link-local), but a
	// subnet without a gateway asks for no default route, as in Neutron,
	// where such a subnet cannot be attached to a router.
	if gateway {
		a.lifetime = cfg.RouterLifetime
	}
	if p.MTU >= 1280 {
		a.mtu = uint32(p.MTU)
	}
	a.body = a.marshal(cfg, nil)
	return a, nil
}

// marshal encodes the advertisement as an ICMPv6 message (RFC 4861
// section 4.2) with its checksum zero: the kernel computes it on a raw
// ICMPv6 socket. mac, when given, goes into a source link-layer address
// option, which saves the guest a neighbour solicitation.
func (a *advert) marshal(cfg *Config, mac net.HardwareAddr) []byte {
	b := make([]byte, 16, 16+8+8+32*len(a.prefixes)+8+16*len(a.dns))
	b[0] = typeRouterAdvertisement
	b[4] = cfg.CurHopLimit
	if a.managed {
		b[5] |= 0x80
	}
	if a.other {
		b[5] |= 0x40
	}
	binary.BigEndian.PutUint16(b[6:], uint16(seconds(a.lifetime, 9000)))
	// Reachable time and retransmission timer stay 0: unspecified.

	if len(mac) == 6 {
		b = append(b, optSourceLinkLayerAddr, 1)
		b = append(b, mac...)
	}
	if a.mtu != 0 {
		b = append(b, optMTU, 1, 0, 0)
		b = binary.BigEndian.AppendUint32(b, a.mtu)
	}
	for _, p := range a.prefixes {
		// L is always 0: the prefix is off-link, so the guest sends
		// everything, same-prefix peers included, to the router.
		var flags byte
		if p.autonomous {
			flags |= 0x40
		}
		b = append(b, optPrefixInformation, 4, byte(p.Bits()), flags)
		b = binary.BigEndian.AppendUint32(b, seconds(cfg.ValidLifetime, 0))
		b = binary.BigEndian.AppendUint32(b, seconds(cfg.PreferredLifetime, 0))
		b = append(b, 0, 0, 0, 0)
		a16 := p.Addr().As16()
		b = append(b, a16[:]...)
	}
	if len(a.dns) > 0 {
		b = append(b, optRDNSS, byte(1+2*len(a.dns)), 0, 0)
		b = binary.BigEndian.AppendUint32(b, seconds(cfg.DNSLifetime, 0))
		for _, d := range a.dns {
			d16 := d.As16()
			b = append(b, d16[:]...)
		}
	}
	return b
}

// seconds converts d to whole seconds, capped at max (0: at 2^32-2, as
// 2^32-1 means infinity in neighbour discovery).
func seconds(d time.Duration, max uint32) uint32 {
	if max == 0 {
		max = 0xfffffffe
	}
	s := d.Round(time.Second) / time.Second
	switch {
	case s <= 0:
		return 0
	case s >= time.Duration(max):
		return max
	}
	return uint32(s)
}
