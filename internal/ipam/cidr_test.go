package ipam

import (
	"net/netip"
	"testing"
)

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		cidr    string
		version int
		want    string
		err     wantErr
	}{
		{"10.0.0.0/24", 4, "10.0.0.0/24", ok},
		{"10.0.0.1/24", 4, "10.0.0.0/24", ok}, // host bits cleared silently
		{"10.0.0.255/31", 4, "10.0.0.254/31", ok},
		{"10/8", 4, "10.0.0.0/8", ok},
		{"10.1/16", 4, "10.1.0.0/16", ok},
		{"192.168.1/24", 4, "192.168.1.0/24", ok},
		{"010.000.001.000/24", 4, "10.0.1.0/24", ok},
		{"10.0.0.0/255.255.255.0", 4, "10.0.0.0/24", ok},
		{"10.0.0.0/0.0.0.255", 4, "10.0.0.0/24", ok},
		{"10.0.0.0/024", 4, "10.0.0.0/24", ok},
		{"10.0.0.5", 4, "10.0.0.5/32", ok},
		{"10.0.0.5/32", 4, "10.0.0.5/32", ok},
		{"2001:DB8::1/64", 6, "2001:db8::/64", ok},
		{"2001:db8:0:0::/64", 6, "2001:db8::/64", ok},
		{"2001:db8::", 6, "2001:db8::/128", ok},
		{"2001:db8::/ffff:ffff:ffff:ffff::", 6, "2001:db8::/64", ok},
		{"::ffff:10.0.0.0/120", 6, "::ffff:10.0.0.0/120", ok},
		{"::/64", 6, "::/64", ok},

		{"foo", 4, "", inputErr("foo is not in a CIDR format")},
		{"", 4, "", inputErr(" is not in a CIDR format")},
		{"10.0.0.0/33", 4, "", inputErr("10.0.0.0/33 is not in a CIDR format")},
		{"10.0.0.0/-1", 4, "", inputErr("10.0.0.0/-1 is not in a CIDR format")},
		{"10.0.0.0/", 4, "", inputErr("10.0.0.0/ is not in a CIDR format")},
		{"10.0.0.0/24/1", 4, "", inputErr("10.0.0.0/24/1 is not in a CIDR format")},
		{"10.0.0.0/255.0.255.0", 4, "", inputErr("10.0.0.0/255.0.255.0 is not in a CIDR format")},
		{"256.0.0.0/8", 4, "", inputErr("256.0.0.0/8 is not in a CIDR format")},
		{"1.2.3.4.5/24", 4, "", inputErr("1.2.3.4.5/24 is not in a CIDR format")},
		{"2001:db8::/129", 6, "", inputErr("2001:db8::/129 is not in a CIDR format")},
		{"2001:db8::g/64", 6, "", inputErr("2001:db8::g/64 is not in a CIDR format")},
		{"fe80::%eth0/64", 6, "", inputErr("fe80::%eth0/64 is not in a CIDR format")},

		{"10.0.0.0/24", 6, "", inputErr("cidr '10.0.0.0/24' does not match the ip_version '6'")},
		{"10.0.0.1/24", 6, "", inputErr("cidr '10.0.0.0/24' does not match the ip_version '6'")},
		{"2001:DB8::1/64", 4, "", inputErr("cidr '2001:db8::/64' does not match the ip_version '4'")},

		{"0.0.0.0/0", 4, "", inputErr("0 is not allowed as CIDR prefix length")},
		{"10.0.0.0/0", 4, "", inputErr("0 is not allowed as CIDR prefix length")},
		{"::/0", 6, "", inputErr("0 is not allowed as CIDR prefix length")},

		{"10.0.0.0/24", 5, "", attrErr("ip_version", "5 is not in valid_values")},
		{"10.0.0.0/24", 0, "", attrErr("ip_version", "0 is not in valid_values")},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			p, err := ParseCIDR(tc.cidr, tc.version)
			tc.err.check(t, err)
			if err == nil && p.String() != tc.want {
				t.Fatalf("ParseCIDR(%q) = %s, want %s", tc.cidr, p, tc.want)
			}
		})
	}
}

func TestParseCIDRNoZeroCheck(t *testing.T) {
	p, err := ParseCIDRNoZeroCheck("0.0.0.0/0", 4)
	if err != nil || p.String() != "0.0.0.0/0" {
		t.Fatalf("got %v, %v", p, err)
	}
	_, err = ParseCIDRNoZeroCheck("x", 4)
	inputErr("x is not in a CIDR format").check(t, err)
}

func TestValidateIPVersion(t *testing.T) {
	ok.check(t, ValidateIPVersion(4))
	ok.check(t, ValidateIPVersion(6))
	attrErr("ip_version", "7 is not in valid_values").check(t, ValidateIPVersion(7))
}

func TestDefaultGateway(t *testing.T) {
	tests := []struct {
		cidr, want string // want "" means the zero Addr
	}{
		{"10.0.0.0/24", "10.0.0.1"},
		{"10.0.0.0/8", "10.0.0.1"},
		{"10.0.0.0/30", "10.0.0.1"},
		{"10.0.0.0/31", "10.0.0.1"},
		{"10.0.0.0/32", "10.0.0.1"}, // outside the subnet, as in Neutron
		{"255.255.255.255/32", ""},
		{"2001:db8::/64", "2001:db8::"}, // subnet-router anycast
		{"2001:db8::/127", "2001:db8::"},
		{"2001:db8::5/128", "2001:db8::5"},
	}
	for _, tc := range tests {
		got := DefaultGateway(pfx(tc.cidr))
		if tc.want == "" {
			if got.IsValid() {
				t.Errorf("DefaultGateway(%s) = %s, want none", tc.cidr, got)
			}
			continue
		}
		if got != a(tc.want) {
			t.Errorf("DefaultGateway(%s) = %s, want %s", tc.cidr, got, tc.want)
		}
	}
	// Host bits are ignored.
	if got := DefaultGateway(netip.PrefixFrom(a("10.0.0.77"), 24)); got != a("10.0.0.1") {
		t.Errorf("unmasked prefix: got %s", got)
	}
}

func TestValidateGateway(t *testing.T) {
	notValid := inputErr("Gateway is not valid on subnet")
	tests := []struct {
		cidr, gw string
		err      wantErr
	}{
		{"10.0.0.0/24", "10.0.0.1", ok},
		{"10.0.0.0/24", "10.0.0.254", ok},
		{"10.0.0.0/24", "10.0.0.128", ok},
		{"10.0.0.0/24", "100.0.0.1", ok}, // outside the subnet is fine
		{"10.0.0.0/24", "10.0.1.0", ok},
		{"10.0.0.0/24", "10.0.0.0", notValid},
		{"10.0.0.0/24", "10.0.0.255", notValid},
		{"10.0.0.0/8", "10.255.255.255", notValid},
		{"10.0.0.0/31", "10.0.0.0", notValid},
		{"10.0.0.0/31", "10.0.0.1", notValid},
		{"10.0.0.0/32", "10.0.0.0", notValid},
		{"10.0.0.0/32", "10.0.0.1", ok},
		{"2001:db8::/64", "2001:db8::", ok},
		{"2001:db8::/64", "2001:db8::1", ok},
		{"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", ok},
		{"2001:db8::/64", "fe80::1", ok},
		{"10.0.0.0/24", "2001:db8::1", inputErr("gateway_ip '2001:db8::1' does not match the ip_version '4'")},
		{"2001:db8::/64", "10.0.0.1", inputErr("gateway_ip '10.0.0.1' does not match the ip_version '6'")},
		{"10.0.0.0/24", "::ffff:10.0.0.1", inputErr("gateway_ip '::ffff:10.0.0.1' does not match the ip_version '4'")},
	}
	for _, tc := range tests {
		t.Run(tc.cidr+" "+tc.gw, func(t *testing.T) {
			tc.err.check(t, ValidateGateway(pfx(tc.cidr), a(tc.gw)))
		})
	}
}

func TestValidateGatewayAllocatable(t *testing.T) {
	p := pfx("10.0.0.0/31")
	wantErr{409, "IpamValueInvalid", "Gateway IP 10.0.0.1 cannot be allocated in CIDR 10.0.0.0/31"}.
		check(t, ValidateGatewayAllocatable(p, DefaultGateway(p)))
	ok.check(t, ValidateGatewayAllocatable(pfx("10.0.0.0/24"), a("10.0.0.1")))
	ok.check(t, ValidateGatewayAllocatable(pfx("10.0.0.0/32"), a("10.0.0.1")))
	ok.check(t, ValidateGatewayAllocatable(pfx("2001:db8::/64"), a("2001:db8::")))
	ok.check(t, ValidateGatewayAllocatable(pfx("10.0.0.0/24"), netip.Addr{}))
}

func TestValidateCIDRForDHCP(t *testing.T) {
	prefixLen := inputErr("Subnet has a prefix length that is incompatible with DHCP service enabled")
	mc := inputErr("Multicast IP subnet is not supported if enable_dhcp is True")
	lo := inputErr("Loopback IP subnet is not supported if enable_dhcp is True")
	zero := inputErr("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.")
	tests := []struct {
		cidr string
		err  wantErr
	}{
		{"10.0.0.0/24", ok},
		{"10.0.0.0/30", ok},
		{"10.0.0.0/31", prefixLen},
		{"10.0.0.0/32", prefixLen},
		{"2001:db8::/64", ok},
		{"2001:db8::/126", ok},
		{"2001:db8::/127", prefixLen},
		{"2001:db8::/128", prefixLen},
		{"224.0.0.0/24", mc},
		{"239.1.0.0/16", mc},
		{"224.0.0.0/4", mc},
		{"224.0.0.0/3", ok}, // not inside 224/4
		{"ff02::/64", mc},
		{"127.0.0.0/24", lo},
		{"127.0.0.0/8", lo},
		{"0.0.0.0/24", zero},
		{"0.0.0.0/8", zero},
		{"::/64", ok},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			tc.err.check(t, ValidateCIDRForDHCP(pfx(tc.cidr)))
		})
	}
}

func TestValidateCIDRForNetwork(t *testing.T) {
	overlap := inputErr("Requested subnet with cidr: 10.0.0.0/24 for network: net-1 overlaps with another subnet")
	tests := []struct {
		name     string
		cidr     string
		existing []string
		err      wantErr
	}{
		{"none", "10.0.0.0/24", nil, ok},
		{"disjoint", "10.0.0.0/24", []string{"10.0.1.0/24", "2001:db8::/64"}, ok},
		{"same", "10.0.0.0/24", []string{"10.0.0.0/24"}, overlap},
		{"inside", "10.0.0.0/24", []string{"10.0.1.0/24", "10.0.0.128/25"}, overlap},
		{"containing", "10.0.0.0/24", []string{"10.0.0.0/16"}, overlap},
		{"pd placeholder ignored", "::/64", []string{"::/64"}, ok},
		{"v6 overlap", "2001:db8::/64", []string{"2001:db8::/48"},
			inputErr("Requested subnet with cidr: 2001:db8::/64 for network: net-1 overlaps with another subnet")},
		{"zero", "0.0.0.0/0", nil, inputErr("0 is not allowed as CIDR prefix length")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ex []netip.Prefix
			for _, e := range tc.existing {
				ex = append(ex, pfx(e))
			}
			tc.err.check(t, ValidateCIDRForNetwork("net-1", pfx(tc.cidr), ex))
		})
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/24", "10.0.0.0/24", true},
		{"10.0.0.0/24", "10.0.0.128/25", true},
		{"10.0.0.0/8", "10.255.0.0/16", true},
		{"10.0.0.0/24", "10.0.1.0/24", false},
		{"10.0.0.0/24", "2001:db8::/64", false},
		{"::ffff:10.0.0.0/120", "10.0.0.0/24", false},
		{"2001:db8::/64", "2001:db8::/48", true},
		{"2001:db8::/64", "2001:db8:0:1::/64", false},
	}
	for _, tc := range tests {
		if got := Overlap(pfx(tc.a), pfx(tc.b)); got != tc.want {
			t.Errorf("Overlap(%s, %s) = %v", tc.a, tc.b, got)
		}
		if got := Overlap(pfx(tc.b), pfx(tc.a)); got != tc.want {
			t.Errorf("Overlap(%s, %s) = %v", tc.b, tc.a, got)
		}
	}
	// host bits are ignored
	if !Overlap(netip.PrefixFrom(a("10.0.0.9"), 24), pfx("10.0.0.0/28")) {
		t.Error("unmasked prefixes should overlap")
	}
}

func TestIsValidIPForSubnet(t *testing.T) {
	tests := []struct {
		cidr, ip, owner string
		want            bool
	}{
		{"1.1.1.0/24", "1.1.1.0", "", false},
		{"1.1.1.0/24", "1.1.1.255", "", false},
		{"1.1.1.0/24", "1.1.1.1", "", true},
		{"1.1.1.0/24", "1.1.1.254", "compute:nova", true},
		{"1.1.1.0/24", "1.1.2.1", "", false},
		{"f111::/64", "f111::", "", true},
		{"f111::/64", "f111::", "network:router_gateway", true},
		{"f111::/64", "f111::", "network:router_interface", true},
		{"f111::/64", "f111::", "compute:nova", false},
		{"f111::/64", "f111::ffff:ffff:ffff:ffff", "compute:nova", true},
		{"f111::/64", "f111::50", "compute:nova", true},
		{"f111::/64", "f112::50", "", false},
		{"f111::/64", "1.1.1.1", "", false},
	}
	for _, tc := range tests {
		if got := IsValidIPForSubnet(pfx(tc.cidr), a(tc.ip), tc.owner); got != tc.want {
			t.Errorf("IsValidIPForSubnet(%s, %s, %q) = %v", tc.cidr, tc.ip, tc.owner, got)
		}
	}
}
