package ipam

import (
	"math"
	"math/big"
	"net/netip"
)

// Range is an inclusive range of addresses, Start..End: an allocation pool.
// A well-formed Range has both bounds valid, of the same IP version, with
// Start <= End (see IsValid).
type Range struct{ Start, End netip.Addr }

// String renders the range as Neutron (netaddr.IPRange) prints it:
// "10.0.0.2-10.0.0.254".
func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

// IsValid reports whether both bounds are valid addresses of the same IP
// version (IPv4-mapped IPv6 counts as IPv6) and Start <= End.
func (r Range) IsValid() bool {
	v := addrVersion(r.Start)
	return v != 0 && v == addrVersion(r.End) && r.Start.Compare(r.End) <= 0
}

// Contains reports whether a lies in the range (an address of the other IP
// version never does).
func (r Range) Contains(a netip.Addr) bool {
	v := addrVersion(a)
	if v == 0 || v != addrVersion(r.Start) || v != addrVersion(r.End) {
		return false
	}
	return r.Start.Compare(a) <= 0 && a.Compare(r.End) <= 0
}

// Size is the number of addresses in the range (0 if it is not IsValid).
// It can exceed 2^64 for IPv6.
func (r Range) Size() *big.Int {
	if !r.IsValid() {
		return new(big.Int)
	}
	n := new(big.Int).Sub(addrToBig(r.End), addrToBig(r.Start))
	return n.Add(n, big.NewInt(1))
}

// Len is Size saturated to math.MaxUint64.
func (r Range) Len() uint64 {
	s := r.Size()
	if !s.IsUint64() {
		return math.MaxUint64
	}
	return s.Uint64()
}

// InPools reports whether a lies in any of the pools.
func InPools(pools []Range, a netip.Addr) bool {
	for _, r := range pools {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// PoolSpec is an allocation pool as a client sends it.
type PoolSpec struct{ Start, End string }

// ParseRange parses one allocation pool as Neutron does, in its order:
// each bound must be a valid IP address (HTTPBadRequest "Invalid input for
// allocation_pools. Reason: 'x' is not a valid IP address."), then both
// bounds must be of one IP version with start <= end, else
// InvalidAllocationPool (400) "The allocation pool {'start': '10.0.0.9',
// 'end': '10.0.0.2'} is not valid." (Neutron prints the request's dict).
func ParseRange(start, end string) (Range, error) {
	rs, err := ParsePools([]PoolSpec{{Start: start, End: end}})
	if err != nil {
		return Range{}, err
	}
	return rs[0], nil
}

// ParsePools parses a request's allocation_pools like ParseRange, but with
// Neutron's two passes: first every bound of every pool is checked as an IP
// address (the API validator), then each pool is built (pools_to_ip_range).
// The result is in request order. It does not check the pools against a
// subnet: see ValidatePools.
//
// Note that on subnet create Neutron's reference IPAM treats an empty list
// like an absent one and generates DefaultPools; on update an empty list
// removes all pools.
func ParsePools(specs []PoolSpec) ([]Range, error) {
	for _, s := range specs {
		for _, v := range []string{s.Start, s.End} {
			if reason := CheckIPAddress(v); reason != "" {
				return nil, invalidAttr("allocation_pools", reason)
			}
		}
	}
	out := make([]Range, 0, len(specs))
	for _, s := range specs {
		a, _ := ipAddressReason(s.Start)
		b, _ := ipAddressReason(s.End)
		r := Range{Start: a, End: b}
		if !r.IsValid() {
			return nil, badRequest("InvalidAllocationPool", "The allocation pool %s is not valid.",
				pyDict2("start", s.Start, "end", s.End))
		}
		out = append(out, r)
	}
	return out, nil
}

// addrToBig is the address as an unsigned integer.
func addrToBig(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }

// bigToAddr converts v (which must fit) to an address of the version of like.
func bigToAddr(v *big.Int, like netip.Addr) netip.Addr {
	if like.Is4() {
		var b [4]byte
		v.FillBytes(b[:])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	v.FillBytes(b[:])
	return netip.AddrFrom16(b)
}

// lastAddr is the last address of p (all host bits set).
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
