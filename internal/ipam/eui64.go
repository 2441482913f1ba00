package ipam

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"net"
	"net/netip"
)

// parseMAC accepts a 48-bit MAC or a 64-bit EUI in the forms net.ParseMAC
// knows (aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff) or as bare hex
// digits, and returns its EUI-64 (a MAC gets ff:fe inserted in the middle).
func parseMAC(mac string) (uint64, bool) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		if len(mac) != 12 && len(mac) != 16 {
			return 0, false
		}
		b, err := hex.DecodeString(mac)
		if err != nil {
			return 0, false
		}
		hw = b
	}
	switch len(hw) {
	case 6:
		return binary.BigEndian.Uint64([]byte{hw[0], hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]}), true
	case 8:
		return binary.BigEndian.Uint64(hw), true
	}
	return 0, false
}

// EUI64 is the SLAAC address of a host with the given MAC on IPv6 prefix p,
// as Neutron computes it (oslo_utils netutils.get_ipv6_addr_by_EUI64,
// RFC 4291 appendix A): the MAC's modified EUI-64 interface identifier
// (ff:fe inserted in the middle, the universal/local bit flipped) added to
// the prefix's network address. With the /64 prefixes Neutron requires for
// SLAAC that is 2001:db8::/64 + 00:16:3e:33:44:55 = 2001:db8::216:3eff:fe33:4455.
// An IPv4 prefix gives InvalidInput "Unable to generate IP address by EUI64
// for IPv4 prefix", a bad MAC InvalidInput "Bad prefix or mac format for
// generating IPv6 address by EUI-64: <prefix>, <mac>:" (oslo's messages;
// Neutron itself lets these through as internal errors).
func EUI64(p netip.Prefix, mac string) (netip.Addr, error) {
	if !p.IsValid() || prefixVersion(p) != 6 {
		return netip.Addr{}, invalidInput("Unable to generate IP address by EUI64 for IPv4 prefix")
	}
	eui, ok := parseMAC(mac)
	bad := func() (netip.Addr, error) {
		return netip.Addr{}, invalidInput("Bad prefix or mac format for generating IPv6 address by EUI-64: %s, %s:", p, mac)
	}
	if !ok {
		return bad()
	}
	b := p.Masked().Addr().As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	// (prefix.first + eui64) ^ (1 << 57), in 128 bits.
	lo, carry := bits.Add64(lo, eui, 0)
	hi, carry = bits.Add64(hi, 0, carry)
	if carry != 0 {
		return bad()
	}
	lo ^= 1 << 57
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b), nil
}

// IsEUI64Address is Neutron's ipv6_utils.is_eui64_address: an IPv6 address
// whose interface identifier has ff:fe in its middle (as EUI64 produces).
func IsEUI64Address(a netip.Addr) bool {
	if addrVersion(a) != 6 {
		return false
	}
	b := a.As16()
	return b[11] == 0xff && b[12] == 0xfe
}
