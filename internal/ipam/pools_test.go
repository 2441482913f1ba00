package ipam

import (
	"math"
	"math/big"
	"net/netip"
	"testing"
)

func TestRangeBasics(t *testing.T) {
	r := rg("10.0.0.2", "10.0.0.254")
	if r.String() != "10.0.0.2-10.0.0.254" {
		t.Errorf("String = %q", r.String())
	}
	if got := rg("2001:DB8::1", "2001:db8::ffff:ffff:ffff:ffff").String(); got != "2001:db8::1-2001:db8::ffff:ffff:ffff:ffff" {
		t.Errorf("String = %q", got)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.0.0.1", false}, {"10.0.0.2", true}, {"10.0.0.100", true}, {"10.0.0.254", true},
		{"10.0.0.255", false}, {"::ffff:10.0.0.5", false}, {"2001:db8::5", false},
	} {
		if got := r.Contains(a(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s) = %v", tc.ip, got)
		}
	}
	if r.Contains(netip.Addr{}) {
		t.Error("Contains(zero) = true")
	}
	if r.Size().Int64() != 253 || r.Len() != 253 {
		t.Errorf("Size = %v, Len = %d", r.Size(), r.Len())
	}
	one := rg("10.0.0.5", "10.0.0.5")
	if one.Size().Int64() != 1 || !one.IsValid() {
		t.Errorf("single address range: size %v valid %v", one.Size(), one.IsValid())
	}
	v6 := rg("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")
	want := new(big.Int).Lsh(big.NewInt(1), 64)
	want.Sub(want, big.NewInt(1))
	if v6.Size().Cmp(want) != 0 || v6.Len() != math.MaxUint64 {
		t.Errorf("v6 Size = %v, Len = %d", v6.Size(), v6.Len())
	}
	big6 := rg("2001:db8::", "2001:db8:0:1::")
	if big6.Len() != math.MaxUint64 {
		t.Errorf("saturating Len = %d", big6.Len())
	}
	for _, bad := range []Range{
		rg("10.0.0.5", "10.0.0.4"),
		rg("10.0.0.5", "2001:db8::1"),
		{Start: a("10.0.0.1")},
		{},
	} {
		if bad.IsValid() {
			t.Errorf("%v should be invalid", bad)
		}
		if bad.Size().Sign() != 0 || bad.Len() != 0 {
			t.Errorf("%v: size %v", bad, bad.Size())
		}
	}
}

func TestInPools(t *testing.T) {
	pools := []Range{rg("10.0.0.2", "10.0.0.10"), rg("10.0.0.20", "10.0.0.30")}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.0.0.1", false}, {"10.0.0.2", true}, {"10.0.0.10", true}, {"10.0.0.15", false},
		{"10.0.0.25", true}, {"10.0.0.31", false}, {"2001:db8::2", false},
	} {
		if got := InPools(pools, a(tc.ip)); got != tc.want {
			t.Errorf("InPools(%s) = %v", tc.ip, got)
		}
	}
	if InPools(nil, a("10.0.0.2")) {
		t.Error("InPools(nil) = true")
	}
}

func TestParseRangeAndPools(t *testing.T) {
	tests := []struct {
		name  string
		pools []PoolSpec
		want  string
		err   wantErr
	}{
		{"one", []PoolSpec{{"10.0.0.2", "10.0.0.100"}}, "[10.0.0.2-10.0.0.100]", ok},
		{"single address", []PoolSpec{{"10.0.0.2", "10.0.0.2"}}, "[10.0.0.2-10.0.0.2]", ok},
		{"v6", []PoolSpec{{"2001:DB8::10", "2001:db8:0::20"}}, "[2001:db8::10-2001:db8::20]", ok},
		{"two", []PoolSpec{{"10.0.0.50", "10.0.0.60"}, {"10.0.0.2", "10.0.0.9"}}, "[10.0.0.50-10.0.0.60 10.0.0.2-10.0.0.9]", ok},
		{"empty", []PoolSpec{}, "[]", ok},
		{"bad start", []PoolSpec{{"10.0.0", "10.0.0.9"}},
			"", attrErr("allocation_pools", "'10.0.0' is not a valid IP address")},
		{"bad end", []PoolSpec{{"10.0.0.2", "foo"}},
			"", attrErr("allocation_pools", "'foo' is not a valid IP address")},
		{"leading zero", []PoolSpec{{"10.0.0.02", "10.0.0.9"}},
			"", attrErr("allocation_pools", "'10.0.0.02' is not an accepted IP address, '10.0.0.2' is recommended")},
		{"reversed", []PoolSpec{{"10.0.0.9", "10.0.0.2"}},
			"", wantErr{400, "InvalidAllocationPool", "The allocation pool {'start': '10.0.0.9', 'end': '10.0.0.2'} is not valid."}},
		{"mixed versions", []PoolSpec{{"10.0.0.2", "2001:db8::9"}},
			"", wantErr{400, "InvalidAllocationPool", "The allocation pool {'start': '10.0.0.2', 'end': '2001:db8::9'} is not valid."}},
		{"address errors before pool errors", []PoolSpec{{"10.0.0.9", "10.0.0.2"}, {"10.0.0.20", "x"}},
			"", attrErr("allocation_pools", "'x' is not a valid IP address")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePools(tc.pools)
			tc.err.check(t, err)
			if err == nil && rangesString(got) != tc.want {
				t.Fatalf("ParsePools = %s, want %s", rangesString(got), tc.want)
			}
			if len(tc.pools) == 1 {
				r, err := ParseRange(tc.pools[0].Start, tc.pools[0].End)
				tc.err.check(t, err)
				if err == nil && "["+r.String()+"]" != tc.want {
					t.Fatalf("ParseRange = %s, want %s", r, tc.want)
				}
			}
		})
	}
}

func TestDefaultPools(t *testing.T) {
	tests := []struct {
		cidr string
		gw   *netip.Addr
		want string
	}{
		{"10.0.0.0/24", ap("10.0.0.1"), "[10.0.0.2-10.0.0.254]"},
		{"10.0.0.0/24", nil, "[10.0.0.1-10.0.0.254]"},
		{"10.0.0.0/24", ap("10.0.0.254"), "[10.0.0.1-10.0.0.253]"},
		{"10.0.0.0/24", ap("10.0.0.128"), "[10.0.0.1-10.0.0.127 10.0.0.129-10.0.0.254]"},
		{"10.0.0.0/24", ap("10.0.0.2"), "[10.0.0.1-10.0.0.1 10.0.0.3-10.0.0.254]"},
		{"10.0.0.0/24", ap("192.168.0.1"), "[10.0.0.1-10.0.0.254]"},
		{"10.0.0.0/24", ap("10.0.0.0"), "[10.0.0.1-10.0.0.254]"},
		{"10.0.0.0/24", ap("2001:db8::1"), "[10.0.0.1-10.0.0.254]"},
		{"10.0.0.0/8", ap("10.0.0.1"), "[10.0.0.2-10.255.255.254]"},
		{"10.0.0.0/30", ap("10.0.0.1"), "[10.0.0.2-10.0.0.2]"},
		{"10.0.0.0/30", ap("10.0.0.2"), "[10.0.0.1-10.0.0.1]"},
		{"10.0.0.0/31", nil, "[10.0.0.0-10.0.0.1]"},
		{"10.0.0.0/31", ap("10.0.0.1"), "[10.0.0.0-10.0.0.0]"},
		{"10.0.0.0/32", nil, "[10.0.0.0-10.0.0.0]"},
		{"10.0.0.0/32", ap("10.0.0.0"), "[10.0.0.0-10.0.0.0]"}, // single address subnets keep their address
		{"10.0.0.0/32", ap("10.0.0.1"), "[10.0.0.0-10.0.0.0]"},
		{"2001:db8::/64", ap("2001:db8::"), "[2001:db8::1-2001:db8::ffff:ffff:ffff:ffff]"},
		{"2001:db8::/64", nil, "[2001:db8::1-2001:db8::ffff:ffff:ffff:ffff]"},
		{"2001:db8::/64", ap("2001:db8::1"), "[2001:db8::2-2001:db8::ffff:ffff:ffff:ffff]"},
		{"2001:db8::/64", ap("2001:db8::ffff:ffff:ffff:ffff"), "[2001:db8::1-2001:db8::ffff:ffff:ffff:fffe]"},
		{"::/64", nil, "[::1-::ffff:ffff:ffff:ffff]"},
		{"2001:db8::/127", ap("2001:db8::"), "[2001:db8::1-2001:db8::1]"},
		{"2001:db8::/127", ap("2001:db8::1"), "[]"},
		{"2001:db8::1/128", nil, "[2001:db8::1-2001:db8::1]"},
	}
	for _, tc := range tests {
		gw := "nil"
		if tc.gw != nil {
			gw = tc.gw.String()
		}
		t.Run(tc.cidr+" gw "+gw, func(t *testing.T) {
			got := DefaultPools(pfx(tc.cidr), tc.gw)
			if got == nil {
				t.Fatal("DefaultPools returned nil")
			}
			if s := rangesString(got); s != tc.want {
				t.Fatalf("DefaultPools = %s, want %s", s, tc.want)
			}
			// Default pools pass Neutron's own validation, except for
			// single-address subnets (Neutron never validates those).
			if err := ValidatePools(pfx(tc.cidr), got, tc.gw); err != nil && pfx(tc.cidr).Addr() != lastAddr(pfx(tc.cidr)) {
				t.Fatalf("ValidatePools(DefaultPools) = %v", err)
			}
		})
	}
}

func TestValidatePools(t *testing.T) {
	const cidr = "10.0.0.0/24"
	tests := []struct {
		name  string
		cidr  string
		pools []Range
		gw    *netip.Addr
		err   wantErr
	}{
		{"ok", cidr, []Range{rg("10.0.0.2", "10.0.0.100")}, ap("10.0.0.1"), ok},
		{"ok several", cidr, []Range{rg("10.0.0.50", "10.0.0.60"), rg("10.0.0.2", "10.0.0.49"), rg("10.0.0.61", "10.0.0.254")}, ap("10.0.0.1"), ok},
		{"ok no gateway", cidr, []Range{rg("10.0.0.1", "10.0.0.254")}, nil, ok},
		{"ok empty", cidr, nil, ap("10.0.0.1"), ok},
		{"ok gateway outside subnet", cidr, []Range{rg("10.0.0.1", "10.0.0.254")}, ap("10.0.1.1"), ok},
		{"ok /31 whole", "10.0.0.0/31", []Range{rg("10.0.0.0", "10.0.0.1")}, nil, ok},
		{"ok /32", "10.0.0.0/32", []Range{rg("10.0.0.0", "10.0.0.0")}, nil, ok},
		{"ok v6 last address", "2001:db8::/64", []Range{rg("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")}, ap("2001:db8::"), ok},

		{"reversed", cidr, []Range{rg("10.0.0.2", "10.0.0.9"), rg("10.0.0.30", "10.0.0.20")}, nil,
			wantErr{400, "InvalidAllocationPool", "The allocation pool {'start': '10.0.0.30', 'end': '10.0.0.20'} is not valid."}},
		{"mixed bounds", cidr, []Range{rg("10.0.0.2", "2001:db8::1")}, nil,
			wantErr{400, "InvalidAllocationPool", "The allocation pool {'start': '10.0.0.2', 'end': '2001:db8::1'} is not valid."}},
		{"malformed checked before bounds", cidr, []Range{rg("10.0.1.2", "10.0.1.9"), rg("10.0.0.9", "10.0.0.2")}, nil,
			wantErr{400, "InvalidAllocationPool", "The allocation pool {'start': '10.0.0.9', 'end': '10.0.0.2'} is not valid."}},
		{"wrong version", cidr, []Range{rg("2001:db8::1", "2001:db8::9")}, nil,
			wantErr{400, "InvalidAllocationPool", "The allocation pool 2001:db8::1-2001:db8::9 is not valid."}},
		{"includes network", cidr, []Range{rg("10.0.0.0", "10.0.0.9")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 10.0.0.0-10.0.0.9 spans beyond the subnet cidr 10.0.0.0/24."}},
		{"includes broadcast", cidr, []Range{rg("10.0.0.200", "10.0.0.255")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 10.0.0.200-10.0.0.255 spans beyond the subnet cidr 10.0.0.0/24."}},
		{"outside", cidr, []Range{rg("10.0.0.2", "10.0.0.9"), rg("10.0.1.2", "10.0.1.9")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 10.0.1.2-10.0.1.9 spans beyond the subnet cidr 10.0.0.0/24."}},
		{"bounds checked pool by pool with version", cidr, []Range{rg("10.0.1.2", "10.0.1.9"), rg("2001:db8::1", "2001:db8::9")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 10.0.1.2-10.0.1.9 spans beyond the subnet cidr 10.0.0.0/24."}},
		{"v6 includes anycast", "2001:db8::/64", []Range{rg("2001:db8::", "2001:db8::9")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 2001:db8::-2001:db8::9 spans beyond the subnet cidr 2001:db8::/64."}},
		{"v6 /128", "2001:db8::1/128", []Range{rg("2001:db8::1", "2001:db8::1")}, nil,
			wantErr{400, "OutOfBoundsAllocationPool", "The allocation pool 2001:db8::1-2001:db8::1 spans beyond the subnet cidr 2001:db8::1/128."}},
		{"overlap", cidr, []Range{rg("10.0.0.2", "10.0.0.10"), rg("10.0.0.5", "10.0.0.20")}, nil,
			wantErr{409, "OverlappingAllocationPools", "Found overlapping allocation pools: 10.0.0.2-10.0.0.10 10.0.0.5-10.0.0.20 for subnet 10.0.0.0/24."}},
		{"overlap touching", cidr, []Range{rg("10.0.0.2", "10.0.0.10"), rg("10.0.0.10", "10.0.0.20")}, nil,
			wantErr{409, "OverlappingAllocationPools", "Found overlapping allocation pools: 10.0.0.2-10.0.0.10 10.0.0.10-10.0.0.20 for subnet 10.0.0.0/24."}},
		{"overlap pair order", cidr, []Range{rg("10.0.0.50", "10.0.0.60"), rg("10.0.0.2", "10.0.0.9"), rg("10.0.0.5", "10.0.0.55")}, nil,
			wantErr{409, "OverlappingAllocationPools", "Found overlapping allocation pools: 10.0.0.50-10.0.0.60 10.0.0.5-10.0.0.55 for subnet 10.0.0.0/24."}},
		{"overlap before gateway", cidr, []Range{rg("10.0.0.1", "10.0.0.10"), rg("10.0.0.5", "10.0.0.20")}, ap("10.0.0.1"),
			wantErr{409, "OverlappingAllocationPools", "Found overlapping allocation pools: 10.0.0.1-10.0.0.10 10.0.0.5-10.0.0.20 for subnet 10.0.0.0/24."}},
		{"gateway in pool", cidr, []Range{rg("10.0.0.100", "10.0.0.200"), rg("10.0.0.2", "10.0.0.9")}, ap("10.0.0.5"),
			wantErr{409, "GatewayConflictWithAllocationPools", "Gateway ip 10.0.0.5 conflicts with allocation pool 10.0.0.2-10.0.0.9."}},
		{"default gateway in pool", cidr, []Range{rg("10.0.0.1", "10.0.0.100")}, ap("10.0.0.1"),
			wantErr{409, "GatewayConflictWithAllocationPools", "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.100."}},
		{"v6 gateway in pool", "2001:db8::/64", []Range{rg("2001:db8::1", "2001:db8::ff")}, ap("2001:db8::1"),
			wantErr{409, "GatewayConflictWithAllocationPools", "Gateway ip 2001:db8::1 conflicts with allocation pool 2001:db8::1-2001:db8::ff."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.err.check(t, ValidatePools(pfx(tc.cidr), tc.pools, tc.gw))
		})
	}
}
