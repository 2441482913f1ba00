package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// This file reproduces the parts of netaddr 0.8 parsing that decide what
// Neutron accepts, so that the same strings are accepted and rejected.

// pyInt parses s as Python's int(s) does for base-10 ASCII input: optional
// surrounding whitespace, an optional sign, digits with single underscores
// between them. ok is false for anything else or on int64 overflow.
func pyInt(s string) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	s = strings.ReplaceAll(s, "_", "")
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// parsePton parses s as inet_pton(3) would for the given version (strict
// dotted quad without leading zeros for IPv4; no zone for IPv6).
func parsePton(s string, version int) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || addrVersion(a) != version {
		return netip.Addr{}, false
	}
	return a, true
}

// expandPartialIPv4 is netaddr's expand_partial_address: "10" -> "10.0.0.0",
// "10.1" -> "10.1.0.0", "010.0.0.1" -> "10.0.0.1".
func expandPartialIPv4(s string) (string, bool) {
	if strings.Contains(s, ":") {
		return "", false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return "", false
	}
	tokens := make([]string, 0, 4)
	for _, p := range parts {
		n, ok := pyInt(p)
		if !ok {
			return "", false
		}
		tokens = append(tokens, strconv.FormatInt(n, 10))
	}
	for len(tokens) < 4 {
		tokens = append(tokens, "0")
	}
	return strings.Join(tokens, "."), true
}

// addrBytes returns the address bytes (4 for IPv4, 16 for IPv6).
func addrBytes(a netip.Addr) []byte { return a.AsSlice() }

// maskPrefix interprets m as a netmask or else a hostmask, as netaddr does
// for "addr/255.255.255.0" or "addr/0.0.0.255".
func maskPrefix(m netip.Addr) (int, bool) {
	b := addrBytes(m)
	width := len(b) * 8
	bit := func(i int) bool { return b[i/8]&(0x80>>(i%8)) != 0 }
	// netmask: ones then zeros.
	ones := 0
	for ones < width && bit(ones) {
		ones++
	}
	isNet := true
	for i := ones; i < width; i++ {
		if bit(i) {
			isNet = false
			break
		}
	}
	if isNet {
		return ones, true
	}
	// hostmask: zeros then ones.
	zeros := 0
	for zeros < width && !bit(zeros) {
		zeros++
	}
	for i := zeros; i < width; i++ {
		if !bit(i) {
			return 0, false
		}
	}
	return zeros, true
}

// parseNetwork parses s like netaddr.IPNetwork(s): an address (IPv4 may be
// partial or have leading zeros) optionally followed by "/" and a prefix
// length, netmask or hostmask; without "/" the prefix is the full width.
// The host bits are kept (the returned address is not masked).
func parseNetwork(s string) (netip.Addr, int, bool) {
	val1, val2, hasSlash := strings.Cut(s, "/")
	for _, version := range []int{4, 6} {
		a, ok := parsePton(val1, version)
		if !ok && version == 4 {
			if exp, ok2 := expandPartialIPv4(val1); ok2 {
				a, ok = parsePton(exp, 4)
			}
		}
		if !ok {
			continue
		}
		width := a.BitLen()
		bits := width
		if hasSlash {
			if n, ok := pyInt(val2); ok {
				if n < 0 || n > int64(width) {
					continue
				}
				bits = int(n)
			} else {
				m, ok := parsePton(val2, version)
				if !ok {
					continue
				}
				if bits, ok = maskPrefix(m); !ok {
					continue
				}
			}
		}
		return a, bits, true
	}
	return netip.Addr{}, 0, false
}

// parseIPZerofill parses data like netaddr.IPAddress(data, flags=ZEROFILL):
// IPv4 octets are re-rendered through Python's int() (dropping leading
// zeros) and then parsed with inet_aton, otherwise IPv6 through inet_pton.
// Forms inet_aton accepts with fewer than four parts are not returned:
// every caller rejects them anyway (validate_ip_address requires three
// dots).
func parseIPZerofill(data string) (netip.Addr, bool) {
	if parts := strings.Split(data, "."); len(parts) == 4 {
		var b [4]byte
		good := true
		for i, p := range parts {
			n, ok := pyInt(p)
			if !ok || n < 0 || n > 255 {
				good = false
				break
			}
			b[i] = byte(n)
		}
		if good {
			return netip.AddrFrom4(b), true
		}
	}
	return parsePton(data, 6)
}

// ipAddressReason is neutron-lib's validate_ip_address: the address and ""
// when data is acceptable, otherwise the reason message.
func ipAddressReason(data string) (netip.Addr, string) {
	notValid := fmt.Sprintf("'%s' is not a valid IP address", data)
	if strings.IndexFunc(data, unicode.IsSpace) >= 0 {
		return netip.Addr{}, notValid
	}
	a, ok := parseIPZerofill(data)
	if !ok {
		return netip.Addr{}, notValid
	}
	if a.Is4() && a.String() != data {
		return netip.Addr{}, fmt.Sprintf("'%s' is not an accepted IP address, '%s' is recommended", data, a)
	}
	return a, ""
}

// CheckIPAddress is neutron-lib's validate_ip_address: "" if s is an
// acceptable IP address, else the reason ("'x' is not a valid IP address",
// or for IPv4 with leading zeros "'010.0.0.1' is not an accepted IP
// address, '10.0.0.1' is recommended").
func CheckIPAddress(s string) string {
	_, reason := ipAddressReason(s)
	return reason
}

// ParseIPAddress parses an IP address attribute (gateway_ip, a fixed IP, a
// pool bound ...) with Neutron's API validation. On failure it returns
// HTTPBadRequest "Invalid input for <attr>. Reason: <reason>.". IPv6 zones
// are rejected; IPv4-mapped IPv6 addresses are IPv6.
func ParseIPAddress(attr, s string) (netip.Addr, error) {
	a, reason := ipAddressReason(s)
	if reason != "" {
		return netip.Addr{}, invalidAttr(attr, reason)
	}
	return a, nil
}
