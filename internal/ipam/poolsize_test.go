package ipam

import (
	"math"
	"testing"
)

func TestPoolSize(t *testing.T) {
	tests := []struct {
		name  string
		pools []Range
		want  uint64
	}{
		{"none", nil, 0},
		{"v4 /24 default", DefaultPools(pfx("10.0.0.0/24"), ap("10.0.0.1")), 253},
		{"v4 split by gateway", DefaultPools(pfx("10.0.0.0/24"), ap("10.0.0.128")), 253},
		{"single address", []Range{rg("10.0.0.5", "10.0.0.5")}, 1},
		{"two pools", []Range{rg("10.0.0.2", "10.0.0.9"), rg("10.0.0.20", "10.0.0.29")}, 18},
		{"malformed counts as empty", []Range{rg("10.0.0.9", "10.0.0.2"), {}, rg("10.0.0.2", "10.0.0.3")}, 2},
		{"v6 /64 minus gateway", DefaultPools(pfx("2001:db8::/64"), ap("2001:db8::1")), math.MaxUint64 - 1},
		{"v6 /64 saturates with another pool", append(DefaultPools(pfx("2001:db8::/64"), nil), rg("2001:db8:0:1::1", "2001:db8:0:1::2")), math.MaxUint64},
		{"v6 /48 saturates", []Range{rg("2001:db8::1", "2001:db8:0:ffff:ffff:ffff:ffff:ffff")}, math.MaxUint64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PoolSize(tc.pools); got != tc.want {
				t.Fatalf("PoolSize = %d, want %d", got, tc.want)
			}
		})
	}
}
