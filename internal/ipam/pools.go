package ipam

import (
	"net/http"
	"net/netip"

	"github.com/spinel-net/spinel/internal/neutron"
)

// usableBounds is the span Neutron allows allocation pools to cover: for
// IPv4 up to /30 everything but the network and broadcast addresses, for
// IPv4 /31 and /32 the whole subnet, for IPv6 everything but the network
// (subnet-router anycast) address. ok is false when the span is empty (an
// IPv6 /128).
func usableBounds(p netip.Prefix) (first, last netip.Addr, ok bool) {
	p = p.Masked()
	first, last = p.Addr(), lastAddr(p)
	if prefixVersion(p) == 4 {
		if p.Bits() <= 30 {
			return first.Next(), last.Prev(), true
		}
		return first, last, true
	}
	if first == last {
		return first, last, false
	}
	return first.Next(), last, true
}

// DefaultPools is Neutron's generate_pools: the allocation pools of a
// subnet created without any.
//
//   - A single-address subnet (IPv4 /32, IPv6 /128) gets that address as its
//     pool, whatever the gateway.
//   - IPv4 up to /30: network+1 .. broadcast-1; IPv4 /31: both addresses.
//   - IPv6: network+1 .. last; the subnet-router anycast address is never
//     pooled, the last address is.
//
// The gateway, when given and inside that span, is cut out, which may split
// the span in two (10.0.0.0/24 with 10.0.0.128 gives 10.0.0.1-10.0.0.127
// and 10.0.0.129-10.0.0.254) or, for a one-address span, leave no pool at
// all (an empty, non-nil slice). Pools are in ascending order.
func DefaultPools(p netip.Prefix, gw *netip.Addr) []Range {
	p = p.Masked()
	if p.Addr() == lastAddr(p) {
		return []Range{{Start: p.Addr(), End: p.Addr()}}
	}
	lo, hi, _ := usableBounds(p)
	span := Range{Start: lo, End: hi}
	if gw == nil || !span.Contains(*gw) {
		return []Range{span}
	}
	out := make([]Range, 0, 2)
	if *gw != lo {
		out = append(out, Range{Start: lo, End: gw.Prev()})
	}
	if *gw != hi {
		out = append(out, Range{Start: gw.Next(), End: hi})
	}
	return out
}

// ValidatePools checks allocation pools for subnet p with gateway gw (nil:
// no gateway) as Neutron does on create and update, in Neutron's order:
//
//  1. every pool well formed (valid bounds of one version, start <= end),
//     else InvalidAllocationPool (400) with the pool as a Python dict, as
//     pools_to_ip_range reports it ("The allocation pool {'start':
//     '10.0.0.9', 'end': '10.0.0.2'} is not valid."); ParsePools already
//     guarantees this;
//  2. pool by pool: of the subnet's IP version, else InvalidAllocationPool
//     (400) "The allocation pool 2001:db8::1-2001:db8::9 is not valid.";
//     inside the usable span (see DefaultPools: for IPv4 up to /30 not the
//     network or broadcast address, for IPv6 not the network address), else
//     OutOfBoundsAllocationPool (400) "The allocation pool
//     10.0.0.0-10.0.0.9 spans beyond the subnet cidr 10.0.0.0/24.";
//  3. no two pools overlap, pairs taken in order (0,1), (0,2) .. (1,2) ..,
//     else OverlappingAllocationPools (409) "Found overlapping allocation
//     pools: 10.0.0.2-10.0.0.9 10.0.0.5-10.0.0.20 for subnet 10.0.0.0/24.";
//  4. the gateway in no pool, else GatewayConflictWithAllocationPools (409)
//     "Gateway ip 10.0.0.5 conflicts with allocation pool 10.0.0.2-10.0.0.9."
//
// On create Neutron runs step 4 with the effective gateway (the given one
// or DefaultGateway), so pools covering 10.0.0.1 on a 10.0.0.0/24 created
// without gateway_ip conflict with the default gateway. On update it runs
// step 4 only when the gateway or the pools change, against the new pools
// or else the current ones; pass gw nil to skip it.
func ValidatePools(p netip.Prefix, pools []Range, gw *netip.Addr) error {
	p = p.Masked()
	for _, r := range pools {
		if !r.IsValid() {
			return badRequest("InvalidAllocationPool", "The allocation pool %s is not valid.",
				pyDict2("start", r.Start.String(), "end", r.End.String()))
		}
	}
	version := prefixVersion(p)
	first, last, ok := usableBounds(p)
	for _, r := range pools {
		if addrVersion(r.Start) != version {
			return badRequest("InvalidAllocationPool", "The allocation pool %s is not valid.", r)
		}
		if !ok || r.Start.Compare(first) < 0 || r.End.Compare(last) > 0 {
			return badRequest("OutOfBoundsAllocationPool",
				"The allocation pool %s spans beyond the subnet cidr %s.", r, p)
		}
	}
	for i := range pools {
		for j := i + 1; j < len(pools); j++ {
			if rangesOverlap(pools[i], pools[j]) {
				return neutron.Newf(http.StatusConflict, "OverlappingAllocationPools",
					"Found overlapping allocation pools: %s %s for subnet %s.", pools[i], pools[j], p)
			}
		}
	}
	if gw != nil && gw.IsValid() {
		for _, r := range pools {
			if r.Contains(*gw) {
				return neutron.Newf(http.StatusConflict, "GatewayConflictWithAllocationPools",
					"Gateway ip %s conflicts with allocation pool %s.", *gw, r)
			}
		}
	}
	return nil
}

// rangesOverlap reports whether two well-formed ranges share an address.
func rangesOverlap(a, b Range) bool {
	if addrVersion(a.Start) != addrVersion(b.Start) {
		return false
	}
	return a.Start.Compare(b.End) <= 0 && b.Start.Compare(a.End) <= 0
}
