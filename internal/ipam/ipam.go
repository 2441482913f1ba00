// Package ipam is Neutron's IP address management logic for subnets, as
// pure functions (no I/O, no state): CIDR, gateway, allocation pool, DNS
// nameserver, host route and IPv6 mode validation with Neutron's exact
// error types, HTTP statuses and messages (as *neutron.Error); the default
// gateway and allocation pools Neutron derives from a CIDR; and address
// selection inside allocation pools.
//
// The rules follow Neutron 21 / neutron-lib 3.1 with netaddr 0.8 (the
// versions Debian 12 ships): neutron/ipam/utils.py,
// neutron/db/ipam_backend_mixin.py, neutron/db/db_base_plugin_v2.py
// (_validate_subnet and friends), neutron/ipam/requests.py,
// neutron_lib/api/validators and neutron_lib/api/converters.
//
// Neutron checks a subnet create request in stages, and when several things
// are wrong the stage order decides which error the client sees. A caller
// that wants Neutron's exact precedence runs the checks in this order:
//
//  1. API attribute conversion and validation, attribute by attribute in
//     the order ip_version, cidr, gateway_ip, allocation_pools,
//     dns_nameservers, host_routes, ipv6_ra_mode, ipv6_address_mode:
//     ValidateIPVersion, ParseCIDR's syntax check, ParseIPAddress,
//     ParsePools, CheckNameserversFormat, CheckHostRoutesFormat,
//     CheckIPv6ModeValues. These fail with HTTPBadRequest
//     "Invalid input for <attr>. Reason: <reason>." (except the cidr
//     converter, which fails with InvalidInput).
//  2. _validate_subnet: cidr ip_version (ParseCIDR), DHCP prefix rules
//     (ValidateCIDRForDHCP, only when enable_dhcp), gateway
//     (ValidateGateway, only when given), nameservers
//     (CheckNameserversForSubnet), host routes (CheckHostRoutesForSubnet),
//     IPv6 modes (ValidateIPv6Attributes).
//  3. IPAM allocation: the default gateway (DefaultGateway) when none was
//     given, allocation pools (ParsePools + ValidatePools, or
//     DefaultPools), then ValidateGatewayAllocatable.
//  4. Saving: /0 and overlap with the network's other subnets
//     (ValidateCIDRForNetwork).
//
// ParseCIDR also rejects /0 (stage 4 in Neutron), so a /0 request with
// another error reports the /0 first; callers for whom that matters can
// parse with ParseCIDRNoZeroCheck.
package ipam

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Neutron's default configuration limits (neutron/conf/common.py).
const (
	// MaxDNSNameservers is cfg.CONF.max_dns_nameservers.
	MaxDNSNameservers = 5
	// MaxSubnetHostRoutes is cfg.CONF.max_subnet_host_routes.
	MaxSubnetHostRoutes = 20
)

// IPv6 address / router advertisement modes (neutron_lib.constants).
const (
	DHCPv6Stateful  = "dhcpv6-stateful"
	DHCPv6Stateless = "dhcpv6-stateless"
	IPv6SLAAC       = "slaac"
)

// IPv6Modes are the valid values of ipv6_ra_mode and ipv6_address_mode,
// in Neutron's order.
var IPv6Modes = []string{DHCPv6Stateful, DHCPv6Stateless, IPv6SLAAC}

// ProvisionalIPv6PDPrefix is the temporary CIDR of a prefix-delegation
// subnet; it never counts as overlapping (constants.PROVISIONAL_IPV6_PD_PREFIX).
const ProvisionalIPv6PDPrefix = "::/64"

// RouterPortOwners are the device owners that may use the IPv6 subnet-router
// anycast address (constants.ROUTER_PORT_OWNERS).
var RouterPortOwners = []string{
	"network:router_interface",
	"network:ha_router_replicated_interface",
	"network:router_interface_distributed",
	"network:router_centralized_snat",
	"network:router_gateway",
}

// newSubnet is what Neutron prints as the subnet id of a subnet being
// created (s.get('id', _('new subnet'))).
const newSubnet = "new subnet"

func invalidInput(format string, args ...any) *neutron.Error {
	return neutron.InvalidInput(format, args...)
}

func invalidAttr(attr, reason string) *neutron.Error {
	return neutron.InvalidAttribute(attr, reason)
}

func badRequest(typ, format string, args ...any) *neutron.Error {
	return neutron.Newf(http.StatusBadRequest, typ, format, args...)
}

// addrVersion is 4 or 6 (0 for the zero Addr). IPv4-mapped IPv6 addresses
// are version 6, as netaddr has them.
func addrVersion(a netip.Addr) int {
	switch {
	case a.Is4():
		return 4
	case a.Is6():
		return 6
	}
	return 0
}

func prefixVersion(p netip.Prefix) int { return addrVersion(p.Addr()) }

// pyStr renders s as Python's repr() of a str would (for the dict reprs
// Neutron puts in some messages).
func pyStr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
	}
	r := strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(r, "'", `\'`) + "'"
}

// pyDict2 renders a two-key Python dict of strings, keys in the given order.
func pyDict2(k1, v1, k2, v2 string) string {
	return fmt.Sprintf("{%s: %s, %s: %s}", pyStr(k1), pyStr(v1), pyStr(k2), pyStr(v2))
}

// ValidateIPVersion checks the ip_version attribute as Neutron's API layer
// does: HTTPBadRequest "Invalid input for ip_version. Reason: 5 is not in
// valid_values." (neutron-lib literally prints "valid_values").
func ValidateIPVersion(ipVersion int) error {
	if ipVersion != 4 && ipVersion != 6 {
		return invalidAttr("ip_version", fmt.Sprintf("%d is not in valid_values", ipVersion))
	}
	return nil
}

// versionMismatch is _validate_ip_version's InvalidInput.
func versionMismatch(name, addr string, ipVersion int) *neutron.Error {
	return invalidInput("%s '%s' does not match the ip_version '%d'", name, addr, ipVersion)
}
