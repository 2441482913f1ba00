package ipam

import (
	"math/big"
	randv2 "math/rand/v2"
	"net/netip"
)

// Rand is the randomness the allocators need. Both *math/rand.Rand and
// *math/rand/v2.Rand implement it. A nil Rand (an untyped nil interface)
// means math/rand/v2's global source.
type Rand interface{ Uint64() uint64 }

// RandomTries is how many random candidates RandomFree tries before it
// falls back to FirstFree.
const RandomTries = 32

// MaxWindow is Neutron's MAX_WIN: its reference IPAM picks a random address
// among the first MaxWindow free addresses of the first pool that has any.
const MaxWindow = 1000

func randUint64(rnd Rand) uint64 {
	if rnd == nil {
		return randv2.Uint64()
	}
	return rnd.Uint64()
}

// randBelow returns a uniformly distributed integer in [0, n), n > 0 (with
// a bias below 2^-64).
func randBelow(n *big.Int, rnd Rand) *big.Int {
	words := (n.BitLen() + 64 + 63) / 64
	v := new(big.Int)
	for i := 0; i < words; i++ {
		v.Lsh(v, 64)
		v.Or(v, new(big.Int).SetUint64(randUint64(rnd)))
	}
	return v.Mod(v, n)
}

// randIntN returns a uniformly distributed int in [0, n), n > 0.
func randIntN(n int, rnd Rand) int {
	return int(randBelow(big.NewInt(int64(n)), rnd).Int64())
}

func isUsed(used func(netip.Addr) bool, a netip.Addr) bool {
	return used != nil && used(a)
}

// FirstFree returns the first address, taking the pools in the given order
// and each from its start upwards, for which used reports false (a nil used
// means nothing is used): Neutron's "prefer next" allocation, used for DHCP
// ports. The scan of a pool stops at the first free address, so it costs
// one used call per used address before it plus one, and never walks a
// whole IPv6 range unless used keeps saying true. Malformed ranges (see
// Range.IsValid) are skipped. ok is false when every address is used.
func FirstFree(pools []Range, used func(netip.Addr) bool) (netip.Addr, bool) {
	for _, r := range pools {
		if !r.IsValid() {
			continue
		}
		for a := r.Start; ; a = a.Next() {
			if !isUsed(used, a) {
				return a, true
			}
			if a == r.End {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// RandomFree picks an address for very large pools (IPv6): up to
// RandomTries candidates are drawn uniformly from the union of the pools
// (a pool's chance is proportional to its size) and the first one for
// which used reports false is returned; after that it falls back to
// FirstFree, so a free address is always found if there is one. A nil rnd
// uses math/rand/v2's global source. Malformed ranges are skipped.
func RandomFree(pools []Range, used func(netip.Addr) bool, rnd Rand) (netip.Addr, bool) {
	sizes := make([]*big.Int, len(pools))
	total := new(big.Int)
	for i, r := range pools {
		if r.IsValid() {
			sizes[i] = r.Size()
			total.Add(total, sizes[i])
		}
	}
	if total.Sign() == 0 {
		return netip.Addr{}, false
	}
	for try := 0; try < RandomTries; try++ {
		off := randBelow(total, rnd)
		for i, r := range pools {
			if sizes[i] == nil {
				continue
			}
			if off.Cmp(sizes[i]) < 0 {
				a := bigToAddr(off.Add(off, addrToBig(r.Start)), r.Start)
				if !isUsed(used, a) {
					return a, true
				}
				break
			}
			off.Sub(off, sizes[i])
		}
	}
	return FirstFree(pools, used)
}

// WindowedRandomFree is Neutron's reference IPAM choice of an address for
// an ordinary port: take the first pool (in the given order) that has a
// free address, collect its first window free addresses (scanning from the
// pool's start) and pick one of them at random. window <= 0 means
// MaxWindow. The scan costs about as many used calls as there are used
// addresses before the window, plus window.
func WindowedRandomFree(pools []Range, used func(netip.Addr) bool, rnd Rand, window int) (netip.Addr, bool) {
	if window <= 0 {
		window = MaxWindow
	}
	cands := make([]netip.Addr, 0, min(window, 64))
	for _, r := range pools {
		if !r.IsValid() {
			continue
		}
		cands = cands[:0]
		for a := r.Start; len(cands) < window; a = a.Next() {
			if !isUsed(used, a) {
				cands = append(cands, a)
			}
			if a == r.End {
				break
			}
		}
		if len(cands) > 0 {
			return cands[randIntN(len(cands), rnd)], true
		}
	}
	return netip.Addr{}, false
}

// NextFree is FirstFree starting after a hint: it scans the pools from the
// address following after (in pool order) to their end and then from their
// start up to after, so that an allocator remembering its last address
// finds the next free one without rescanning everything it allocated
// before. An invalid after, or one outside the pools, behaves as FirstFree.
func NextFree(pools []Range, after netip.Addr, used func(netip.Addr) bool) (netip.Addr, bool) {
	start := -1
	for i, r := range pools {
		if r.IsValid() && r.Contains(after) {
			start = i
			break
		}
	}
	if start < 0 {
		return FirstFree(pools, used)
	}
	// From after.Next() to the end of its pool, then the later pools.
	if after != pools[start].End {
		tail := append([]Range{{Start: after.Next(), End: pools[start].End}}, pools[start+1:]...)
		if a, ok := FirstFree(tail, used); ok {
			return a, true
		}
	} else if a, ok := FirstFree(pools[start+1:], used); ok {
		return a, true
	}
	// Wrap around: the earlier pools, then the head of after's pool.
	head := append(append([]Range{}, pools[:start]...), Range{Start: pools[start].Start, End: after})
	return FirstFree(head, used)
}
