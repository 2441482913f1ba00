package ipam

import (
	mathrand "math/rand"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func usedSet(ips ...string) map[netip.Addr]bool {
	m := make(map[netip.Addr]bool, len(ips))
	for _, s := range ips {
		m[a(s)] = true
	}
	return m
}

func TestFirstFree(t *testing.T) {
	pools := []Range{rg("10.0.0.2", "10.0.0.4"), rg("10.0.0.10", "10.0.0.12")}
	tests := []struct {
		name  string
		pools []Range
		used  []string
		want  string // "" = none free
	}{
		{"empty used", pools, nil, "10.0.0.2"},
		{"skip used", pools, []string{"10.0.0.2", "10.0.0.3"}, "10.0.0.4"},
		{"next pool", pools, []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"}, "10.0.0.11"},
		{"hole", pools, []string{"10.0.0.2", "10.0.0.4"}, "10.0.0.3"},
		{"pool order kept", []Range{rg("10.0.0.10", "10.0.0.12"), rg("10.0.0.2", "10.0.0.4")}, nil, "10.0.0.10"},
		{"all used", pools, []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10", "10.0.0.11", "10.0.0.12"}, ""},
		{"no pools", nil, nil, ""},
		{"malformed skipped", []Range{rg("10.0.0.9", "10.0.0.2"), rg("10.0.0.20", "10.0.0.20")}, nil, "10.0.0.20"},
		{"top of v4 space", []Range{rg("255.255.255.254", "255.255.255.255")}, []string{"255.255.255.254", "255.255.255.255"}, ""},
		{"top of v6 space", []Range{rg("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
			[]string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := usedSet(tc.used...)
			got, found := FirstFree(tc.pools, func(x netip.Addr) bool { return m[x] })
			if tc.want == "" {
				if found {
					t.Fatalf("FirstFree = %s, want none", got)
				}
				return
			}
			if !found || got != a(tc.want) {
				t.Fatalf("FirstFree = %s, %v; want %s", got, found, tc.want)
			}
		})
	}
	if got, found := FirstFree(pools, nil); !found || got != a("10.0.0.2") {
		t.Errorf("FirstFree(nil used) = %s %v", got, found)
	}
}

func TestFirstFreeDoesNotScanPool(t *testing.T) {
	p := pfx("2001:db8::/64")
	pools := DefaultPools(p, ap("2001:db8::"))
	m := map[netip.Addr]bool{}
	x := a("2001:db8::1")
	for i := 0; i < 100; i++ {
		m[x] = true
		x = x.Next()
	}
	calls := 0
	got, found := FirstFree(pools, func(y netip.Addr) bool { calls++; return m[y] })
	if !found || got != a("2001:db8::65") {
		t.Fatalf("FirstFree = %s %v", got, found)
	}
	if calls != 101 {
		t.Fatalf("used called %d times, want 101", calls)
	}
}

func TestRandomFreeIPv6(t *testing.T) {
	p := pfx("2001:db8::/64")
	pools := DefaultPools(p, ap("2001:db8::"))
	rnd := rand.New(rand.NewPCG(1, 2))
	used := map[netip.Addr]bool{}
	calls := 0
	isUsed := func(x netip.Addr) bool { calls++; return used[x] }
	for i := 0; i < 200; i++ {
		got, found := RandomFree(pools, isUsed, rnd)
		if !found {
			t.Fatal("RandomFree found nothing in a /64")
		}
		if !InPools(pools, got) || !p.Contains(got) {
			t.Fatalf("RandomFree = %s, outside %s", got, rangesString(pools))
		}
		if used[got] {
			t.Fatalf("RandomFree returned used address %s", got)
		}
		used[got] = true
	}
	if calls > 220 {
		t.Fatalf("used called %d times for 200 allocations in a /64", calls)
	}
	// The addresses are spread over the /64, not clustered at its start.
	high := 0
	for x := range used {
		if x.As16()[8] >= 0x80 {
			high++
		}
	}
	if high < 50 || high > 150 {
		t.Fatalf("%d of 200 addresses in the upper half of the /64", high)
	}
}

func TestRandomFreeFallback(t *testing.T) {
	pools := []Range{rg("10.0.0.2", "10.0.0.254")}
	used := map[netip.Addr]bool{}
	for x := a("10.0.0.2"); x != a("10.0.0.255"); x = x.Next() {
		used[x] = true
	}
	delete(used, a("10.0.0.77"))
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20; i++ {
		got, found := RandomFree(pools, func(x netip.Addr) bool { return used[x] }, rnd)
		if !found || got != a("10.0.0.77") {
			t.Fatalf("RandomFree = %s %v, want 10.0.0.77", got, found)
		}
	}
	used[a("10.0.0.77")] = true
	if got, found := RandomFree(pools, func(x netip.Addr) bool { return used[x] }, rnd); found {
		t.Fatalf("RandomFree on a full pool = %s", got)
	}
	if _, found := RandomFree(nil, nil, rnd); found {
		t.Fatal("RandomFree(nil pools) found something")
	}
	if _, found := RandomFree([]Range{rg("10.0.0.9", "10.0.0.1")}, nil, rnd); found {
		t.Fatal("RandomFree on malformed pool found something")
	}
}

func TestRandomFreeSources(t *testing.T) {
	pools := []Range{rg("10.0.0.2", "10.0.0.3"), rg("10.0.0.10", "10.0.0.10")}
	seen := map[netip.Addr]bool{}
	// math/rand (v1), math/rand/v2 and the nil default all work.
	v1 := mathrand.New(mathrand.NewSource(7))
	for i := 0; i < 300; i++ {
		for _, r := range []Rand{v1, rand.New(rand.NewPCG(uint64(i), 9)), nil} {
			got, found := RandomFree(pools, nil, r)
			if !found || !InPools(pools, got) {
				t.Fatalf("RandomFree = %s %v", got, found)
			}
			seen[got] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("only saw %v", seen)
	}
}

func TestRandomFreeMultiplePoolsIPv4Boundaries(t *testing.T) {
	pools := []Range{rg("255.255.255.250", "255.255.255.255")}
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200; i++ {
		got, found := RandomFree(pools, nil, rnd)
		if !found || !pools[0].Contains(got) {
			t.Fatalf("RandomFree = %s %v", got, found)
		}
	}
}

func TestWindowedRandomFree(t *testing.T) {
	pools := []Range{rg("10.0.0.2", "10.0.0.4"), rg("10.0.0.10", "10.0.0.254")}
	used := usedSet("10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10", "10.0.0.12")
	isUsed := func(x netip.Addr) bool { return used[x] }
	allowed := map[netip.Addr]bool{a("10.0.0.11"): true, a("10.0.0.13"): true, a("10.0.0.14"): true}
	seen := map[netip.Addr]bool{}
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 200; i++ {
		got, found := WindowedRandomFree(pools, isUsed, rnd, 3)
		if !found || !allowed[got] {
			t.Fatalf("WindowedRandomFree = %s %v, want one of the first 3 free", got, found)
		}
		seen[got] = true
	}
	if len(seen) != 3 {
		t.Fatalf("saw %v, want all 3 window addresses", seen)
	}
	// Default window, v6 /64: stays within the first MaxWindow addresses.
	p6 := DefaultPools(pfx("2001:db8::/64"), ap("2001:db8::"))
	limit := a("2001:db8::1")
	for i := 0; i < MaxWindow; i++ {
		limit = limit.Next()
	}
	for i := 0; i < 50; i++ {
		got, found := WindowedRandomFree(p6, nil, rnd, 0)
		if !found || got.Compare(limit) >= 0 || got.Compare(a("2001:db8::1")) < 0 {
			t.Fatalf("WindowedRandomFree(v6) = %s", got)
		}
	}
	// Full pools.
	full := usedSet("10.0.0.2", "10.0.0.3")
	if got, found := WindowedRandomFree([]Range{rg("10.0.0.2", "10.0.0.3")}, func(x netip.Addr) bool { return full[x] }, rnd, 0); found {
		t.Fatalf("WindowedRandomFree on full pool = %s", got)
	}
}

func TestNextFree(t *testing.T) {
	pools := []Range{
		{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.5")},
		{netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.11")},
	}
	usedSet := func(addrs ...string) func(netip.Addr) bool {
		m := map[netip.Addr]bool{}
		for _, a := range addrs {
			m[netip.MustParseAddr(a)] = true
		}
		return func(a netip.Addr) bool { return m[a] }
	}
	cases := []struct {
		after string
		used  []string
		want  string
		ok    bool
	}{
		{"10.0.0.2", nil, "10.0.0.3", true},
		{"10.0.0.5", nil, "10.0.0.10", true},
		{"10.0.0.11", nil, "10.0.0.2", true},
		{"10.0.0.3", []string{"10.0.0.4", "10.0.0.5", "10.0.0.10", "10.0.0.11"}, "10.0.0.2", true},
		{"10.0.0.3", []string{"10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.10", "10.0.0.11"}, "10.0.0.3", true},
		{"10.0.0.3", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.10", "10.0.0.11"}, "", false},
		{"192.0.2.1", nil, "10.0.0.2", true},
	}
	for _, c := range cases {
		got, ok := NextFree(pools, netip.MustParseAddr(c.after), usedSet(c.used...))
		if ok != c.ok || (ok && got.String() != c.want) {
			t.Errorf("NextFree(after %s, used %v) = %v, %v; want %s, %v", c.after, c.used, got, ok, c.want, c.ok)
		}
	}
}
