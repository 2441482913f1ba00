package ipam

import "math"

// PoolSize is the number of addresses in all pools together, saturated to
// math.MaxUint64 (an IPv6 /64 alone has 2^64-1 poolable addresses).
// Malformed ranges (see Range.IsValid) count as empty. Overlapping pools
// are not deduplicated; ValidatePools refuses them.
func PoolSize(pools []Range) uint64 {
	var total uint64
	for _, r := range pools {
		n := r.Len()
		if n > math.MaxUint64-total {
			return math.MaxUint64
		}
		total += n
	}
	return total
}
