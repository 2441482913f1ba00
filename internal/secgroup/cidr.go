package secgroup

import (
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// prefix is an IP network as netaddr 0.8.0 (the version Neutron runs with
// on Debian 12) holds it: an address that keeps its host bits and a prefix
// length.
type prefix struct {
	addr netip.Addr // 4- or 16-byte (an IPv4-mapped address stays 16-byte)
	bits int
}

func (p prefix) version() int {
	if p.addr.Is4() {
		return 4
	}
	return 6
}

// String is str(netaddr.IPNetwork): address (host bits kept) "/" length.
func (p prefix) String() string {
	return formatAddr(p.addr) + "/" + strconv.Itoa(p.bits)
}

// cidr is IPNetwork.cidr: the host bits cleared.
func (p prefix) cidr() prefix {
	m, _ := p.addr.Prefix(p.bits)
	return prefix{addr: m.Addr(), bits: p.bits}
}

// parseIPNetwork mirrors netaddr 0.8.0's IPNetwork(s) for a string: IPv4
// is tried first (strict dotted quad, else a "partial" address such as
// "10" or "10.1" padded with zero octets), then IPv6 (inet_pton, no
// zone). The length after '/' is a Python int() or, failing that, a
// netmask or hostmask in the same family. No '/' means a host prefix.
func parseIPNetwork(s string) (prefix, bool) {
	if p, ok := parseNet(s, 4); ok {
		return p, true
	}
	return parseNet(s, 6)
}

func parseNet(s string, version int) (prefix, bool) {
	val1, val2, hasSlash := strings.Cut(s, "/")
	ip, ok := inetPton(val1, version)
	if !ok && version == 4 {
		ip, ok = expandPartialIPv4(val1)
	}
	if !ok {
		return prefix{}, false
	}
	width := 32
	if version == 6 {
		width = 128
	}
	plen := width
	if hasSlash {
		n, isInt := pyInt(val2)
		if isInt {
			if n < 0 || n > int64(width) {
				return prefix{}, false
			}
			plen = int(n)
		} else {
			mask, ok := inetPton(val2, version)
			if !ok {
				return prefix{}, false
			}
			var ok2 bool
			if plen, ok2 = maskLen(mask); !ok2 {
				return prefix{}, false
			}
		}
	}
	if plen < 0 || plen > width {
		return prefix{}, false
	}
	return prefix{addr: ip, bits: plen}, true
}

// inetPton is glibc inet_pton for AF_INET (version 4: exactly four decimal
// octets, no leading zeros) or AF_INET6 (version 6).
func inetPton(s string, version int) (netip.Addr, bool) {
	if strings.ContainsAny(s, "%") {
		return netip.Addr{}, false // zones are not inet_pton syntax
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	if version == 4 {
		return a, a.Is4()
	}
	return a, a.Is6()
}

// expandPartialIPv4 is netaddr's expand_partial_address followed by a
// strict parse: 1-4 dot-separated Python ints, padded with zero octets.
func expandPartialIPv4(s string) (netip.Addr, bool) {
	if strings.Contains(s, ":") {
		return netip.Addr{}, false
	}
	toks := strings.Split(s, ".")
	if len(toks) > 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, t := range toks {
		n, ok := pyInt(t)
		if !ok || n < 0 || n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// maskLen returns the prefix length of a netmask (checked first) or a
// hostmask, as netaddr's is_netmask / is_hostmask.
func maskLen(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	ones := 0
	for _, x := range b {
		ones += bits.OnesCount8(x)
	}
	width := len(b) * 8
	isNet, isHost := true, true
	for i := range width {
		bit := b[i/8]>>(7-uint(i%8))&1 == 1
		if bit != (i < ones) {
			isNet = false
		}
		if bit != (i >= width-ones) {
			isHost = false
		}
	}
	switch {
	case isNet:
		return ones, true
	case isHost:
		return width - ones, true
	}
	return 0, false
}

// formatAddr is glibc inet_ntop: dotted quad for IPv4; for IPv6 the
// longest (first on ties) run of two or more zero words is compressed,
// and "::a.b.c.d" / "::ffff:a.b.c.d" keep the dotted tail.
func formatAddr(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var w [8]int
	for i := range w {
		w[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := range 8 {
		if w[i] == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			sb.WriteString(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).String())
			break
		}
		sb.WriteString(strconv.FormatInt(int64(w[i]), 16))
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}

// CanonicalPrefix parses a remote_ip_prefix as Neutron's attribute
// converter does (str(netaddr.IPNetwork(s)), netaddr 0.8.0) and returns
// the stored form — prefix length added, host bits KEPT ("10.0.0.5/24"
// stays, "10.0.0.5" becomes "10.0.0.5/32", IPv6 in glibc inet_ntop form) —
// and its IP version (4 or 6). ok is false when netaddr would raise.
func CanonicalPrefix(s string) (canonical string, version int, ok bool) {
	p, ok := parseIPNetwork(s)
	if !ok {
		return "", 0, false
	}
	return p.String(), p.version(), true
}

// NormalizedCIDR is Neutron's normalized_cidr attribute: the rule's
// remote_ip_prefix with its host bits cleared ("10.0.0.5/24" ->
// "10.0.0.0/24"), or nil when the rule has no (or an unparsable) prefix.
func NormalizedCIDR(r Rule) *string {
	if r.RemoteIPPrefix == nil || *r.RemoteIPPrefix == "" {
		return nil
	}
	p, ok := parseIPNetwork(*r.RemoteIPPrefix)
	if !ok {
		return nil
	}
	s := p.cidr().String()
	return &s
}
