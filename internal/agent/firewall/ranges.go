package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
)

// ipRange is a half-open address range [start, end) of one family; toMax
// marks a range that runs to the last address of the family (end is then
// unset: it would overflow). It is what an element pair of an nftables
// interval set holds.
type ipRange struct {
	start netip.Addr
	end   netip.Addr
	toMax bool
}

func (r ipRange) String() string {
	if r.toMax {
		return r.start.String() + "-max"
	}
	return r.start.String() + "-" + r.end.String()
}

// parsePrefix reads an address or a CIDR ("10.0.0.1", "10.0.0.0/24",
// "2001:db8::/64") into a masked prefix; IPv4-mapped IPv6 addresses become
// IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, fmt.Errorf("%s: mapped prefix shorter than /96", s)
			}
			a = a.Unmap()
			bits -= 96
		}
		return netip.PrefixFrom(a.WithZone(""), bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// lastAddr is the highest address of a (masked) prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		lo := i * 8
		switch {
		case bits <= lo:
			b[i] = 0xff
		case bits < lo+8:
			b[i] |= 0xff >> (bits - lo)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// mergeRanges turns prefixes of one family into the sorted, disjoint and
// non-adjacent ranges an interval set must hold (the kernel refuses
// overlapping intervals).
func mergeRanges(ps []netip.Prefix) []ipRange {
	type span struct{ first, last netip.Addr }
	spans := make([]span, 0, len(ps))
	for _, p := range ps {
		spans = append(spans, span{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.Compare(b.first) })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 {
			cur := &merged[n-1]
			next := cur.last.Next()
			if !next.IsValid() || s.first.Compare(next) <= 0 {
				if s.last.Compare(cur.last) > 0 {
					cur.last = s.last
				}
				continue
			}
		}
		merged = append(merged, s)
	}
	out := make([]ipRange, 0, len(merged))
	for _, s := range merged {
		r := ipRange{start: s.first, end: s.last.Next()}
		if !r.end.IsValid() {
			r.toMax = true
		}
		out = append(out, r)
	}
	return out
}

// rangeElements is the elements that represent ranges in an interval set: a
// start element, and an interval-end element unless the range runs to the
// end of the address space.
func rangeElements(rs []ipRange) []nftables.SetElement {
	els := make([]nftables.SetElement, 0, 2*len(rs))
	for _, r := range rs {
		els = append(els, nftables.SetElement{Key: r.start.AsSlice()})
		if !r.toMax {
			els = append(els, nftables.SetElement{Key: r.end.AsSlice(), IntervalEnd: true})
		}
	}
	return els
}

// rangesFromElements reads the elements of an interval set back into ranges.
// It is lenient: an end element with no open start (nft's leading
// "0.0.0.0 interval end", say) is ignored.
func rangesFromElements(els []nftables.SetElement) ([]ipRange, error) {
	type el struct {
		a   netip.Addr
		end bool
	}
	list := make([]el, 0, len(els))
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			return nil, fmt.Errorf("set element key of %d bytes", len(e.Key))
		}
		list = append(list, el{a, e.IntervalEnd})
	}
	// Ends sort before starts at the same key: an end closes the range below.
	slices.SortFunc(list, func(x, y el) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		switch {
		case x.end == y.end:
			return 0
		case x.end:
			return -1
		default:
			return 1
		}
	})
	var out []ipRange
	var open *netip.Addr
	for _, e := range list {
		switch {
		case !e.end && open == nil:
			a := e.a
			open = &a
		case !e.end:
			// A start inside an open range: nested or malformed; keep the outer.
		case open != nil:
			out = append(out, ipRange{start: *open, end: e.a})
			open = nil
		}
	}
	if open != nil {
		out = append(out, ipRange{start: *open, toMax: true})
	}
	return out, nil
}

// diffRanges returns the ranges of old missing from new and those of new
// missing from old.
func diffRanges(old, new []ipRange) (del, add []ipRange) {
	inOld := make(map[ipRange]bool, len(old))
	for _, r := range old {
		inOld[r] = true
	}
	inNew := make(map[ipRange]bool, len(new))
	for _, r := range new {
		inNew[r] = true
		if !inOld[r] {
			add = append(add, r)
		}
	}
	for _, r := range old {
		if !inNew[r] {
			del = append(del, r)
		}
	}
	return del, add
}

func equalRanges(a, b []ipRange) bool {
	return slices.EqualFunc(a, b, func(x, y ipRange) bool { return x == y })
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
}
