package ipam

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

func subnetLabel(subnetID string) string {
	if subnetID == "" {
		return newSubnet
	}
	return subnetID
}

// ---- DNS nameservers ----

// CheckNameserversFormat is neutron-lib's validate_nameservers (the API
// stage): each entry must be an IP address, else HTTPBadRequest "Invalid
// input for dns_nameservers. Reason: 'x' is not a valid nameserver. 'x' is
// not a valid IP address."; an entry equal (as a string) to an earlier one
// gives "... Reason: Duplicate nameserver '8.8.8.8'.".
func CheckNameserversFormat(ns []string) error {
	for i, host := range ns {
		if reason := CheckIPAddress(host); reason != "" {
			return invalidAttr("dns_nameservers", fmt.Sprintf("'%s' is not a valid nameserver. %s", host, reason))
		}
		for _, prev := range ns[:i] {
			if prev == host {
				return invalidAttr("dns_nameservers", fmt.Sprintf("Duplicate nameserver '%s'", host))
			}
		}
	}
	return nil
}

// CheckNameserversForSubnet is _validate_subnet's nameserver part: more
// than limit entries give DNSNameServersExhausted (400) "Unable to complete
// operation for <subnetID>. The number of DNS nameservers exceeds the limit
// 5." (subnetID "" prints "new subnet", as on create); an entry of the
// other IP version gives InvalidInput "dns_nameserver '8.8.8.8' does not
// match the ip_version '6'".
func CheckNameserversForSubnet(subnetID string, ns []string, ipVersion, limit int) error {
	if len(ns) > limit {
		return badRequest("DNSNameServersExhausted",
			"Unable to complete operation for %s. The number of DNS nameservers exceeds the limit %d.",
			subnetLabel(subnetID), limit)
	}
	for _, dns := range ns {
		a, ok := parseIPZerofill(dns)
		if !ok {
			return invalidInput("Error parsing dns address %s", dns)
		}
		if addrVersion(a) != ipVersion {
			return versionMismatch("dns_nameserver", dns, ipVersion)
		}
	}
	return nil
}

// ValidateNameservers validates a new subnet's dns_nameservers:
// CheckNameserversFormat, then CheckNameserversForSubnet with
// MaxDNSNameservers.
func ValidateNameservers(ns []string, ipVersion int) error {
	if err := CheckNameserversFormat(ns); err != nil {
		return err
	}
	return CheckNameserversForSubnet("", ns, ipVersion, MaxDNSNameservers)
}

// ---- host routes ----

// HostRoute is a subnet host route as a client sends it.
type HostRoute struct{ Destination, Nexthop string }

// pyRepr renders the route as the Python dict Neutron prints.
func (r HostRoute) pyRepr() string {
	return pyDict2("destination", r.Destination, "nexthop", r.Nexthop)
}

// routeCIDRReason is neutron-lib's validate_route_cidr.
func routeCIDRReason(data string) (netip.Prefix, string) {
	notValid := fmt.Sprintf("'%s' is not a valid CIDR", data)
	if strings.IndexFunc(data, unicode.IsSpace) >= 0 {
		return netip.Prefix{}, notValid
	}
	a, bits, ok := parseNetwork(data)
	if !ok {
		return netip.Prefix{}, notValid
	}
	p := netip.PrefixFrom(a, bits)
	if !strings.Contains(data, "/") || p.Masked().Addr() != a {
		return netip.Prefix{}, fmt.Sprintf("'%s' is not a recognized CIDR, '%s' is recommended", data, p.Masked())
	}
	// netaddr 0.8 compares an IPv6 network with the address ::1, which is
	// never equal, so only IPv4 destinations can be loopback.
	if a.Is4() && within(p, ipv4Loopback) {
		return netip.Prefix{}, fmt.Sprintf("'%s' is not a routable CIDR", data)
	}
	return p, ""
}

// CheckHostRoutesFormat is neutron-lib's validate_hostroutes (the API
// stage), route by route: the destination must be a CIDR without host bits
// ("'10.0.0.1/24' is not a recognized CIDR, '10.0.0.0/24' is recommended",
// "'x' is not a valid CIDR") and not inside 127.0.0.0/8 ("'127.0.0.0/8' is
// not a routable CIDR"); the nexthop an IP address ("'x' is not a valid IP
// address"); and the route not equal (as strings) to an earlier one
// ("Duplicate hostroute '{'destination': '10.0.0.0/24', 'nexthop':
// '10.0.0.1'}'"). All are HTTPBadRequest "Invalid input for host_routes.
// Reason: <reason>.".
func CheckHostRoutesFormat(routes []HostRoute) error {
	for i, r := range routes {
		if _, reason := routeCIDRReason(r.Destination); reason != "" {
			return invalidAttr("host_routes", reason)
		}
		if reason := CheckIPAddress(r.Nexthop); reason != "" {
			return invalidAttr("host_routes", reason)
		}
		for _, prev := range routes[:i] {
			if prev == r {
				return invalidAttr("host_routes", fmt.Sprintf("Duplicate hostroute '%s'", r.pyRepr()))
			}
		}
	}
	return nil
}

// CheckHostRoutesForSubnet is _validate_subnet's host route part: more than
// limit routes give HostRoutesExhausted (400) "Unable to complete operation
// for <subnetID>. The number of host routes exceeds the limit 20."
// (subnetID "" prints "new subnet"); then route by route a nexthop, then a
// destination, of the other IP version gives InvalidInput "nexthop
// '10.0.0.1' does not match the ip_version '6'" / "destination
// '10.0.0.0/24' does not match the ip_version '6'"; an unparsable route
// gives InvalidInput "Invalid route: {...}".
func CheckHostRoutesForSubnet(subnetID string, routes []HostRoute, ipVersion, limit int) error {
	if len(routes) > limit {
		return badRequest("HostRoutesExhausted",
			"Unable to complete operation for %s. The number of host routes exceeds the limit %d.",
			subnetLabel(subnetID), limit)
	}
	for _, r := range routes {
		dst, _, ok1 := parseNetwork(r.Destination)
		nh, ok2 := parseIPZerofill(r.Nexthop)
		if !ok1 || !ok2 {
			return invalidInput("Invalid route: %s", r.pyRepr())
		}
		if addrVersion(nh) != ipVersion {
			return versionMismatch("nexthop", r.Nexthop, ipVersion)
		}
		if addrVersion(dst) != ipVersion {
			return versionMismatch("destination", r.Destination, ipVersion)
		}
	}
	return nil
}

// ValidateHostRoutes validates a new subnet's host_routes:
// CheckHostRoutesFormat, then CheckHostRoutesForSubnet with
// MaxSubnetHostRoutes.
func ValidateHostRoutes(routes []HostRoute, ipVersion int) error {
	if err := CheckHostRoutesFormat(routes); err != nil {
		return err
	}
	return CheckHostRoutesForSubnet("", routes, ipVersion, MaxSubnetHostRoutes)
}

// NormalizeHostRoutes validates routes like ValidateHostRoutes and returns
// them in canonical form: destinations as canonical CIDRs ("10.0/16" ->
// "10.0.0.0/16", "2001:DB8::/32" -> "2001:db8::/32") and nexthops as
// canonical addresses. (Neutron itself stores and returns the strings as
// the client sent them.)
func NormalizeHostRoutes(routes []HostRoute, ipVersion int) ([]HostRoute, error) {
	if err := ValidateHostRoutes(routes, ipVersion); err != nil {
		return nil, err
	}
	out := make([]HostRoute, len(routes))
	for i, r := range routes {
		p, _ := routeCIDRReason(r.Destination)
		nh, _ := parseIPZerofill(r.Nexthop)
		out[i] = HostRoute{Destination: p.Masked().String(), Nexthop: nh.String()}
	}
	return out, nil
}

// ---- IPv6 modes ----

func isIPv6Mode(s string) bool {
	for _, m := range IPv6Modes {
		if s == m {
			return true
		}
	}
	return false
}

// IsAutoAddressMode reports whether a subnet with these modes gives ports
// automatic (EUI-64) addresses: either mode is slaac or dhcpv6-stateless
// (ipv6_utils.is_auto_address_subnet).
func IsAutoAddressMode(raMode, addrMode *string) bool {
	auto := func(m *string) bool { return m != nil && (*m == IPv6SLAAC || *m == DHCPv6Stateless) }
	return auto(raMode) || auto(addrMode)
}

// CheckIPv6ModeValues is the API stage check of ipv6_ra_mode, then
// ipv6_address_mode (nil: not set): a set value must be one of IPv6Modes,
// else HTTPBadRequest "Invalid input for ipv6_ra_mode. Reason: foo is not in
// valid_values." (neutron-lib literally prints "valid_values"). Neutron
// also refuses an explicit JSON null ("None is not in valid_values"), which
// a *string cannot express; callers must check that themselves.
func CheckIPv6ModeValues(raMode, addrMode *string) error {
	if raMode != nil && !isIPv6Mode(*raMode) {
		return invalidAttr("ipv6_ra_mode", fmt.Sprintf("%s is not in valid_values", *raMode))
	}
	if addrMode != nil && !isIPv6Mode(*addrMode) {
		return invalidAttr("ipv6_address_mode", fmt.Sprintf("%s is not in valid_values", *addrMode))
	}
	return nil
}

// ValidateIPv6Attributes checks ipv6_ra_mode and ipv6_address_mode (nil:
// not set) of a subnet being created, in Neutron's order:
//
//  1. CheckIPv6ModeValues;
//  2. ip_version 4 with either set: InvalidInput "ipv6_ra_mode is not valid
//     when ip_version is 4" / "ipv6_address_mode is not valid when
//     ip_version is 4";
//  3. ip_version 6: either set with enable_dhcp false: InvalidInput
//     "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is
//     set to False"; both set and different: InvalidInput "ipv6_ra_mode set
//     to 'slaac' with ipv6_address_mode set to 'dhcpv6-stateful' is not
//     valid. If both attributes are set, they must be the same value"; an
//     auto-address mode (slaac or dhcpv6-stateless, in either attribute) on
//     a prefix other than /64: InvalidInput "Invalid CIDR 2001:db8::/80 for
//     IPv6 address mode. OpenStack uses the EUI-64 address format, which
//     requires the prefix to be /64".
func ValidateIPv6Attributes(ipVersion int, raMode, addrMode *string, enableDHCP bool, p netip.Prefix) error {
	if err := CheckIPv6ModeValues(raMode, addrMode); err != nil {
		return err
	}
	switch ipVersion {
	case 4:
		if raMode != nil {
			return invalidInput("ipv6_ra_mode is not valid when ip_version is 4")
		}
		if addrMode != nil {
			return invalidInput("ipv6_address_mode is not valid when ip_version is 4")
		}
	case 6:
		if (raMode != nil || addrMode != nil) && !enableDHCP {
			return invalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False")
		}
		if raMode != nil && addrMode != nil && *raMode != *addrMode {
			return invalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. "+
				"If both attributes are set, they must be the same value", *raMode, *addrMode)
		}
		if IsAutoAddressMode(raMode, addrMode) && p.Bits() != 64 {
			return invalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, "+
				"which requires the prefix to be /64", p.Masked())
		}
	}
	return nil
}

// ValidateIPv6Modes is ValidateIPv6Attributes for a subnet with DHCP
// enabled (Neutron's default).
func ValidateIPv6Modes(ipVersion int, raMode, addrMode *string, p netip.Prefix) error {
	return ValidateIPv6Attributes(ipVersion, raMode, addrMode, true, p)
}

// ValidateIPv6DisableDHCP is the update-time rule for an IPv6 subnet whose
// update sets enable_dhcp to false: if the subnet has either IPv6 mode
// (curRA, curAddr; nil: not set), InvalidInput "Cannot disable enable_dhcp
// with ipv6 attributes set".
func ValidateIPv6DisableDHCP(curRA, curAddr *string) error {
	if curRA != nil || curAddr != nil {
		return invalidInput("Cannot disable enable_dhcp with ipv6 attributes set")
	}
	return nil
}
