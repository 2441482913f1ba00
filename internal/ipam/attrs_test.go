package ipam

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestCheckIPAddress(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{"10.0.0.1", ""},
		{"0.0.0.0", ""},
		{"255.255.255.255", ""},
		{"::1", ""},
		{"2001:DB8::1", ""},
		{"::ffff:10.0.0.1", ""},
		{"010.0.0.1", "'010.0.0.1' is not an accepted IP address, '10.0.0.1' is recommended"},
		{"10.0.0.01", "'10.0.0.01' is not an accepted IP address, '10.0.0.1' is recommended"},
		{"10.0.0", "'10.0.0' is not a valid IP address"},
		{"10", "'10' is not a valid IP address"},
		{"10.0.0.256", "'10.0.0.256' is not a valid IP address"},
		{"10.0.0.-1", "'10.0.0.-1' is not a valid IP address"},
		{"1.2.3.4.5", "'1.2.3.4.5' is not a valid IP address"},
		{" 10.0.0.1", "' 10.0.0.1' is not a valid IP address"},
		{"10.0.0.1\n", "'10.0.0.1\n' is not a valid IP address"},
		{"fe80::1%eth0", "'fe80::1%eth0' is not a valid IP address"},
		{"2001:db8::/64", "'2001:db8::/64' is not a valid IP address"},
		{"foo", "'foo' is not a valid IP address"},
		{"", "'' is not a valid IP address"},
	}
	for _, tc := range tests {
		if got := CheckIPAddress(tc.in); got != tc.reason {
			t.Errorf("CheckIPAddress(%q) = %q, want %q", tc.in, got, tc.reason)
		}
	}
	got, err := ParseIPAddress("gateway_ip", "2001:DB8:0::1")
	if err != nil || got != a("2001:db8::1") {
		t.Fatalf("ParseIPAddress = %s, %v", got, err)
	}
	_, err = ParseIPAddress("gateway_ip", "10.0.0.300")
	attrErr("gateway_ip", "'10.0.0.300' is not a valid IP address").check(t, err)
}

func TestPyInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"24", 24, true}, {"024", 24, true}, {" 24 ", 24, true}, {"+3", 3, true}, {"-3", -3, true},
		{"1_0", 10, true}, {"", 0, false}, {"_1", 0, false}, {"1__0", 0, false}, {"1_", 0, false},
		{"0x10", 0, false}, {"2.5", 0, false}, {"99999999999999999999999", 0, false}, {"-", 0, false},
	} {
		got, ok := pyInt(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("pyInt(%q) = %d, %v", tc.in, got, ok)
		}
	}
}

func TestValidateNameservers(t *testing.T) {
	tests := []struct {
		name    string
		ns      []string
		version int
		err     wantErr
	}{
		{"none", nil, 4, ok},
		{"v4", []string{"8.8.8.8", "8.8.4.4"}, 4, ok},
		{"v6", []string{"2001:4860:4860::8888"}, 6, ok},
		{"five", []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5"}, 4, ok},
		{"invalid", []string{"8.8.8.8", "foo"}, 4,
			attrErr("dns_nameservers", "'foo' is not a valid nameserver. 'foo' is not a valid IP address")},
		{"leading zero", []string{"08.8.8.8"}, 4,
			attrErr("dns_nameservers", "'08.8.8.8' is not a valid nameserver. '08.8.8.8' is not an accepted IP address, '8.8.8.8' is recommended")},
		{"duplicate", []string{"8.8.8.8", "8.8.4.4", "8.8.8.8"}, 4,
			attrErr("dns_nameservers", "Duplicate nameserver '8.8.8.8'")},
		{"duplicate before too many", []string{"1.1.1.1", "1.1.1.1", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}, 4,
			attrErr("dns_nameservers", "Duplicate nameserver '1.1.1.1'")},
		{"v6 spelled differently is no duplicate", []string{"2001:db8::1", "2001:DB8::1"}, 6, ok},
		{"too many", []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}, 4,
			wantErr{400, "DNSNameServersExhausted", "Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5."}},
		{"too many before version", []string{"::1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}, 4,
			wantErr{400, "DNSNameServersExhausted", "Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5."}},
		{"wrong version", []string{"8.8.8.8", "2001:4860:4860::8888"}, 4,
			inputErr("dns_nameserver '2001:4860:4860::8888' does not match the ip_version '4'")},
		{"wrong version v6", []string{"8.8.8.8"}, 6,
			inputErr("dns_nameserver '8.8.8.8' does not match the ip_version '6'")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.err.check(t, ValidateNameservers(tc.ns, tc.version))
		})
	}
	wantErr{400, "DNSNameServersExhausted", "Unable to complete operation for sub-1. The number of DNS nameservers exceeds the limit 1."}.
		check(t, CheckNameserversForSubnet("sub-1", []string{"1.1.1.1", "1.1.1.2"}, 4, 1))
	inputErr("Error parsing dns address bogus").check(t, CheckNameserversForSubnet("", []string{"bogus"}, 4, 5))
}

func TestValidateHostRoutes(t *testing.T) {
	r := func(d, n string) HostRoute { return HostRoute{Destination: d, Nexthop: n} }
	many := make([]HostRoute, 21)
	for i := range many {
		many[i] = r(fmt.Sprintf("10.%d.0.0/16", i), "10.0.0.1")
	}
	tests := []struct {
		name    string
		routes  []HostRoute
		version int
		err     wantErr
	}{
		{"none", nil, 4, ok},
		{"v4", []HostRoute{r("0.0.0.0/0", "10.0.0.1"), r("192.168.0.0/16", "10.0.0.2")}, 4, ok},
		{"v6", []HostRoute{r("::/0", "2001:db8::1"), r("2001:db9::/32", "2001:db8::2")}, 6, ok},
		{"twenty", many[:20], 4, ok},
		{"partial destination accepted", []HostRoute{r("10.1/16", "10.0.0.1")}, 4, ok},
		{"v6 loopback is routable for netaddr", []HostRoute{r("::1/128", "2001:db8::1")}, 6, ok},
		{"host bits", []HostRoute{r("10.0.0.1/24", "10.0.0.1")}, 4,
			attrErr("host_routes", "'10.0.0.1/24' is not a recognized CIDR, '10.0.0.0/24' is recommended")},
		{"no prefix", []HostRoute{r("10.0.0.0", "10.0.0.1")}, 4,
			attrErr("host_routes", "'10.0.0.0' is not a recognized CIDR, '10.0.0.0/32' is recommended")},
		{"v6 host bits", []HostRoute{r("2001:db8::1/64", "2001:db8::1")}, 6,
			attrErr("host_routes", "'2001:db8::1/64' is not a recognized CIDR, '2001:db8::/64' is recommended")},
		{"invalid destination", []HostRoute{r("10.0.0.0/33", "10.0.0.1")}, 4,
			attrErr("host_routes", "'10.0.0.0/33' is not a valid CIDR")},
		{"whitespace destination", []HostRoute{r("10.0.0.0/24 ", "10.0.0.1")}, 4,
			attrErr("host_routes", "'10.0.0.0/24 ' is not a valid CIDR")},
		{"loopback", []HostRoute{r("127.0.0.0/8", "10.0.0.1")}, 4,
			attrErr("host_routes", "'127.0.0.0/8' is not a routable CIDR")},
		{"loopback /32", []HostRoute{r("127.0.0.1/32", "10.0.0.1")}, 4,
			attrErr("host_routes", "'127.0.0.1/32' is not a routable CIDR")},
		{"invalid nexthop", []HostRoute{r("10.1.0.0/16", "10.0.0")}, 4,
			attrErr("host_routes", "'10.0.0' is not a valid IP address")},
		{"duplicate", []HostRoute{r("10.1.0.0/16", "10.0.0.1"), r("10.2.0.0/16", "10.0.0.1"), r("10.1.0.0/16", "10.0.0.1")}, 4,
			attrErr("host_routes", "Duplicate hostroute '{'destination': '10.1.0.0/16', 'nexthop': '10.0.0.1'}'")},
		{"same destination other nexthop is fine", []HostRoute{r("10.1.0.0/16", "10.0.0.1"), r("10.1.0.0/16", "10.0.0.2")}, 4, ok},
		{"too many", many, 4,
			wantErr{400, "HostRoutesExhausted", "Unable to complete operation for new subnet. The number of host routes exceeds the limit 20."}},
		{"nexthop version checked first", []HostRoute{r("2001:db8::/64", "2001:db8::1")}, 4,
			inputErr("nexthop '2001:db8::1' does not match the ip_version '4'")},
		{"destination version", []HostRoute{r("2001:db8::/64", "10.0.0.1")}, 4,
			inputErr("destination '2001:db8::/64' does not match the ip_version '4'")},
		{"v6 subnet v4 route", []HostRoute{r("10.0.0.0/8", "10.0.0.1")}, 6,
			inputErr("nexthop '10.0.0.1' does not match the ip_version '6'")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.err.check(t, ValidateHostRoutes(tc.routes, tc.version))
		})
	}
	wantErr{400, "HostRoutesExhausted", "Unable to complete operation for sub-1. The number of host routes exceeds the limit 1."}.
		check(t, CheckHostRoutesForSubnet("sub-1", many[:2], 4, 1))
	inputErr("Invalid route: {'destination': 'x', 'nexthop': '10.0.0.1'}").
		check(t, CheckHostRoutesForSubnet("", []HostRoute{r("x", "10.0.0.1")}, 4, 20))
}

func TestNormalizeHostRoutes(t *testing.T) {
	in := []HostRoute{
		{Destination: "10.1/16", Nexthop: "10.0.0.1"},
		{Destination: "192.168.0.0/255.255.255.0", Nexthop: "10.0.0.2"},
		{Destination: "010.2.0.0/16", Nexthop: "10.0.0.3"},
	}
	want := []HostRoute{
		{Destination: "10.1.0.0/16", Nexthop: "10.0.0.1"},
		{Destination: "192.168.0.0/24", Nexthop: "10.0.0.2"},
		{Destination: "10.2.0.0/16", Nexthop: "10.0.0.3"},
	}
	got, err := NormalizeHostRoutes(in, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	got, err = NormalizeHostRoutes([]HostRoute{{Destination: "2001:DB8:0::/32", Nexthop: "2001:DB8::0001"}}, 6)
	if err != nil || got[0] != (HostRoute{Destination: "2001:db8::/32", Nexthop: "2001:db8::1"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = NormalizeHostRoutes([]HostRoute{{Destination: "10.0.0.0/8", Nexthop: "::1"}}, 4)
	inputErr("nexthop '::1' does not match the ip_version '4'").check(t, err)
}

func TestValidateIPv6Attributes(t *testing.T) {
	p64 := pfx("2001:db8::/64")
	p80 := pfx("2001:db8::/80")
	p4 := pfx("10.0.0.0/24")
	bothMustMatch := func(ra, am string) wantErr {
		return inputErr(fmt.Sprintf("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. "+
			"If both attributes are set, they must be the same value", ra, am))
	}
	eui := inputErr("Invalid CIDR 2001:db8::/80 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64")
	noDHCP := inputErr("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False")
	tests := []struct {
		name     string
		version  int
		ra, am   *string
		dhcp     bool
		p        netip.Prefix
		wantErrs wantErr
	}{
		{"v4 none", 4, nil, nil, true, p4, ok},
		{"v6 none", 6, nil, nil, true, p64, ok},
		{"v6 none /80", 6, nil, nil, false, p80, ok},
		{"slaac both", 6, sp("slaac"), sp("slaac"), true, p64, ok},
		{"stateless both", 6, sp("dhcpv6-stateless"), sp("dhcpv6-stateless"), true, p64, ok},
		{"stateful both /80", 6, sp("dhcpv6-stateful"), sp("dhcpv6-stateful"), true, p80, ok},
		{"ra only", 6, sp("slaac"), nil, true, p64, ok},
		{"address only", 6, nil, sp("dhcpv6-stateful"), true, p80, ok},
		{"bad ra", 6, sp("foo"), nil, true, p64, attrErr("ipv6_ra_mode", "foo is not in valid_values")},
		{"bad address mode", 6, nil, sp("SLAAC"), true, p64, attrErr("ipv6_address_mode", "SLAAC is not in valid_values")},
		{"bad ra checked first", 4, sp(""), sp("bar"), true, p4, attrErr("ipv6_ra_mode", " is not in valid_values")},
		{"bad value on v4", 4, nil, sp("bar"), true, p4, attrErr("ipv6_address_mode", "bar is not in valid_values")},
		{"v4 ra", 4, sp("slaac"), sp("slaac"), true, p4, inputErr("ipv6_ra_mode is not valid when ip_version is 4")},
		{"v4 address mode", 4, nil, sp("slaac"), true, p4, inputErr("ipv6_address_mode is not valid when ip_version is 4")},
		{"dhcp off", 6, sp("slaac"), nil, false, p64, noDHCP},
		{"dhcp off before mismatch", 6, sp("slaac"), sp("dhcpv6-stateful"), false, p64, noDHCP},
		{"mismatch", 6, sp("slaac"), sp("dhcpv6-stateful"), true, p64, bothMustMatch("slaac", "dhcpv6-stateful")},
		{"mismatch before eui", 6, sp("dhcpv6-stateless"), sp("slaac"), true, p80, bothMustMatch("dhcpv6-stateless", "slaac")},
		{"slaac /80", 6, sp("slaac"), sp("slaac"), true, p80, eui},
		{"stateless ra only /80", 6, sp("dhcpv6-stateless"), nil, true, p80, eui},
		{"slaac address only /80", 6, nil, sp("slaac"), true, p80, eui},
		{"slaac /48", 6, sp("slaac"), nil, true, pfx("2001:db8::/48"),
			inputErr("Invalid CIDR 2001:db8::/48 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.wantErrs.check(t, ValidateIPv6Attributes(tc.version, tc.ra, tc.am, tc.dhcp, tc.p))
			if tc.dhcp {
				tc.wantErrs.check(t, ValidateIPv6Modes(tc.version, tc.ra, tc.am, tc.p))
			}
		})
	}
}

func TestIPv6Helpers(t *testing.T) {
	if !IsAutoAddressMode(sp("slaac"), nil) || !IsAutoAddressMode(nil, sp("dhcpv6-stateless")) ||
		IsAutoAddressMode(sp("dhcpv6-stateful"), sp("dhcpv6-stateful")) || IsAutoAddressMode(nil, nil) {
		t.Error("IsAutoAddressMode")
	}
	ok.check(t, ValidateIPv6DisableDHCP(nil, nil))
	inputErr("Cannot disable enable_dhcp with ipv6 attributes set").check(t, ValidateIPv6DisableDHCP(nil, sp("slaac")))
	inputErr("Cannot disable enable_dhcp with ipv6 attributes set").check(t, ValidateIPv6DisableDHCP(sp("slaac"), nil))
	ok.check(t, CheckIPv6ModeValues(sp("dhcpv6-stateful"), sp("dhcpv6-stateless")))
}

func TestPyStr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1": "'10.0.0.1'",
		"it's":     `"it's"`,
		`a'b"c`:    `'a\'b"c'`,
		`x\y`:      `'x\\y'`,
	} {
		if got := pyStr(in); got != want {
			t.Errorf("pyStr(%q) = %s, want %s", in, got, want)
		}
	}
}
