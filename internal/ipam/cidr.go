package ipam

import (
	"net/http"
	"net/netip"

	"github.com/spinel-net/spinel/internal/neutron"
)

var (
	ipv4Multicast = netip.MustParsePrefix("224.0.0.0/4")
	ipv6Multicast = netip.MustParsePrefix("ff00::/8")
	ipv4Loopback  = netip.MustParsePrefix("127.0.0.0/8")
)

// within reports whether prefix p lies entirely inside q (netaddr's
// "IPNetwork in IPNetwork").
func within(p, q netip.Prefix) bool {
	return p.Bits() >= q.Bits() && q.Contains(p.Addr())
}

// ParseCIDR parses and validates a subnet's cidr for a subnet of the given
// ip_version, as Neutron does, and returns it masked:
//
//   - ipVersion not 4 or 6: HTTPBadRequest "Invalid input for ip_version.
//     Reason: 5 is not in valid_values.";
//   - unparsable: InvalidInput "Invalid input for operation: <cidr> is not
//     in a CIDR format." Accepted are the forms netaddr accepts: partial
//     IPv4 ("10/8", "10.1/16"), IPv4 octets with leading zeros, a netmask or
//     hostmask instead of a length ("10.0.0.0/255.255.255.0"), and no "/"
//     at all (a /32 or /128);
//   - host bits set: silently cleared ("10.0.0.1/24" is 10.0.0.0/24), as
//     Neutron's create_subnet does; neutron-lib's "isn't a recognized IP
//     subnet cidr" message cannot occur because Neutron canonicalises the
//     cidr before validating it;
//   - version mismatch: InvalidInput "cidr '10.0.0.0/24' does not match the
//     ip_version '6'" (with the masked cidr);
//   - prefix length 0: InvalidInput "0 is not allowed as CIDR prefix
//     length" (Neutron checks this last, when saving; see the package doc).
//
// Neutron has no further IPv6 prefix rules at this stage (the /64 rule for
// SLAAC is in ValidateIPv6Attributes, the DHCP rules in ValidateCIDRForDHCP).
func ParseCIDR(cidr string, ipVersion int) (netip.Prefix, error) {
	p, err := ParseCIDRNoZeroCheck(cidr, ipVersion)
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := validateNotZeroPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// ParseCIDRNoZeroCheck is ParseCIDR without the /0 check, for callers that
// run that check where Neutron does (ValidateCIDRForNetwork).
func ParseCIDRNoZeroCheck(cidr string, ipVersion int) (netip.Prefix, error) {
	if err := ValidateIPVersion(ipVersion); err != nil {
		return netip.Prefix{}, err
	}
	a, bits, ok := parseNetwork(cidr)
	if !ok {
		return netip.Prefix{}, invalidInput("%s is not in a CIDR format", cidr)
	}
	p := netip.PrefixFrom(a, bits).Masked()
	if prefixVersion(p) != ipVersion {
		return netip.Prefix{}, versionMismatch("cidr", p.String(), ipVersion)
	}
	return p, nil
}

func validateNotZeroPrefix(p netip.Prefix) error {
	if p.Bits() == 0 {
		return invalidInput("0 is not allowed as CIDR prefix length")
	}
	return nil
}

// ValidateCIDRForNetwork is Neutron's _validate_subnet_cidr, run when the
// subnet is saved: a /0 is refused (InvalidInput "0 is not allowed as CIDR
// prefix length"), and so is a cidr overlapping any of existing, the cidrs
// of the network's other subnets (InvalidInput "Requested subnet with cidr:
// 10.0.0.0/24 for network: <networkID> overlaps with another subnet").
// Existing prefix-delegation placeholders (::/64) are ignored.
func ValidateCIDRForNetwork(networkID string, p netip.Prefix, existing []netip.Prefix) error {
	if err := validateNotZeroPrefix(p); err != nil {
		return err
	}
	for _, e := range existing {
		if e.Masked().String() == ProvisionalIPv6PDPrefix {
			continue
		}
		if Overlap(p, e) {
			return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet",
				p.Masked(), networkID)
		}
	}
	return nil
}

// Overlap reports whether two prefixes share any address (prefixes of
// different IP versions never do). Host bits are ignored.
func Overlap(a, b netip.Prefix) bool {
	return a.Masked().Overlaps(b.Masked())
}

// ValidateCIDRForDHCP is the part of Neutron's _validate_subnet that runs
// when DHCP is being enabled (on create with enable_dhcp true, on update
// when enable_dhcp goes from false to true). All failures are InvalidInput:
//
//   - IPv4 longer than /30 or IPv6 longer than /126: "Subnet has a prefix
//     length that is incompatible with DHCP service enabled";
//   - inside 224.0.0.0/4 or ff00::/8: "Multicast IP subnet is not supported
//     if enable_dhcp is True";
//   - inside 127.0.0.0/8: "Loopback IP subnet is not supported if
//     enable_dhcp is True" (netaddr never calls an IPv6 network loopback);
//   - IPv4 network starting at 0.0.0.0: "First IP '0.0.0.0' of network is
//     not supported if enable_dhcp is True."
func ValidateCIDRForDHCP(p netip.Prefix) error {
	p = p.Masked()
	v := prefixVersion(p)
	if (v == 4 && p.Bits() > 30) || (v == 6 && p.Bits() > 126) {
		return invalidInput("Subnet has a prefix length that is incompatible with DHCP service enabled")
	}
	if (v == 4 && within(p, ipv4Multicast)) || (v == 6 && within(p, ipv6Multicast)) {
		return invalidInput("Multicast IP subnet is not supported if enable_dhcp is True")
	}
	if v == 4 && within(p, ipv4Loopback) {
		return invalidInput("Loopback IP subnet is not supported if enable_dhcp is True")
	}
	if v == 4 && p.Addr() == netip.IPv4Unspecified() {
		return invalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.")
	}
	return nil
}

// DefaultGateway is the gateway Neutron gives a subnet created without a
// gateway_ip (IpamBackendMixin._gateway_ip_str):
//
//   - IPv4: the network address + 1, e.g. 10.0.0.1 for 10.0.0.0/24. For a
//     /31 that is the second (last) address, which ValidateGatewayAllocatable
//     then refuses, so Neutron cannot create a /31 without an explicit
//     gateway_ip (null or another address). For a /32 it lies outside the
//     subnet (10.0.0.1 for 10.0.0.0/32), which Neutron accepts. For
//     255.255.255.255/32 there is none and the zero Addr is returned
//     (Neutron fails with an internal error).
//   - IPv6: the network address itself, the subnet-router anycast address
//     (2001:db8:: for 2001:db8::/64) — not ::1.
func DefaultGateway(p netip.Prefix) netip.Addr {
	p = p.Masked()
	if prefixVersion(p) == 6 {
		return p.Addr()
	}
	return p.Addr().Next()
}

// gatewayInvalidInSubnet is ipam.utils.check_gateway_invalid_in_subnet: an
// IPv4 gateway inside the subnet may be neither its first nor its last
// address (even for /31 and /32); an IPv6 gateway and a gateway outside
// the subnet are always acceptable.
func gatewayInvalidInSubnet(p netip.Prefix, gw netip.Addr) bool {
	p = p.Masked()
	if !p.Contains(gw) || prefixVersion(p) != 4 {
		return false
	}
	return gw == p.Addr() || gw == lastAddr(p)
}

// ValidateGateway checks a gateway_ip given for a subnet (Neutron's
// _validate_subnet; only when gateway_ip is set, not for the default
// gateway). Both failures are InvalidInput:
//
//   - version differs from the subnet's: "gateway_ip '10.0.0.1' does not
//     match the ip_version '6'";
//   - an IPv4 gateway inside the subnet equal to its network or broadcast
//     (last) address: "Gateway is not valid on subnet".
//
// A gateway outside the subnet is accepted, as is an IPv6 gateway equal to
// the subnet-router anycast address or the last address. Whether the
// gateway lies inside an allocation pool is ValidatePools' business.
func ValidateGateway(p netip.Prefix, gw netip.Addr) error {
	v := prefixVersion(p)
	if addrVersion(gw) != v {
		return versionMismatch("gateway_ip", gw.String(), v)
	}
	if gatewayInvalidInSubnet(p, gw) {
		return invalidInput("Gateway is not valid on subnet")
	}
	return nil
}

// ValidateGatewayAllocatable is the IPAM subnet request's gateway check
// (SubnetRequest._validate_gateway_ip_in_subnet), which also applies to the
// default gateway: IpamValueInvalid (409) "Gateway IP 10.0.0.1 cannot be
// allocated in CIDR 10.0.0.0/31". For a user-given gateway ValidateGateway
// has already refused the same cases, so this only matters for
// DefaultGateway on an IPv4 /31.
func ValidateGatewayAllocatable(p netip.Prefix, gw netip.Addr) error {
	if gw.IsValid() && gatewayInvalidInSubnet(p, gw) {
		return neutron.Newf(http.StatusConflict, "IpamValueInvalid",
			"Gateway IP %s cannot be allocated in CIDR %s", gw, p.Masked())
	}
	return nil
}

// IsValidIPForSubnet is ipam.utils.check_subnet_ip, the test of a fixed IP
// requested on a subnet: the address must be inside the subnet; for IPv4 it
// may be neither the network nor the broadcast address; for IPv6 the
// network (subnet-router anycast) address is allowed only to router ports
// (RouterPortOwners) and to callers that do not know the owner (""). When
// this is false Neutron answers InvalidIpForSubnet (400) "IP address %s is
// not a valid IP for the specified subnet.".
func IsValidIPForSubnet(p netip.Prefix, a netip.Addr, deviceOwner string) bool {
	p = p.Masked()
	if !p.Contains(a) {
		return false
	}
	if prefixVersion(p) == 4 {
		return a != p.Addr() && a != lastAddr(p)
	}
	if a != p.Addr() || deviceOwner == "" {
		return true
	}
	for _, o := range RouterPortOwners {
		if o == deviceOwner {
			return true
		}
	}
	return false
}
