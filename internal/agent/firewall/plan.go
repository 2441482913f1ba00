package firewall

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// batch queues the netlink messages of one transaction on a Conn and
// records what each does.
type batch struct {
	c      *nftables.Conn
	ops    []string // one line per step
	msgs   int      // netlink messages queued
	nextID uint32
	setIDs map[string]uint32 // sets created in this batch, for lookups
	err    error
}

func newBatch(c *nftables.Conn) *batch {
	return &batch{c: c, setIDs: map[string]uint32{}}
}

func (b *batch) note(format string, args ...any) { b.noteN(1, format, args...) }

func (b *batch) noteN(msgs int, format string, args ...any) {
	b.msgs += msgs
	b.ops = append(b.ops, fmt.Sprintf(format, args...))
}

func (b *batch) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func tableObj(fam nftables.TableFamily) *nftables.Table {
	return &nftables.Table{Family: fam, Name: TableName}
}

func chainObj(key objKey, hook *hookSpec) *nftables.Chain {
	ch := &nftables.Chain{Name: key.name, Table: tableObj(key.fam)}
	if hook != nil {
		h, p, pol := hook.hook, hook.prio, nftables.ChainPolicyAccept
		ch.Hooknum, ch.Priority, ch.Type, ch.Policy = &h, &p, nftables.ChainTypeFilter, &pol
	}
	return ch
}

func (b *batch) mapObj(k objKey) *nftables.Set {
	return &nftables.Set{Table: tableObj(k.fam), Name: k.name, IsMap: true,
		KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict, ID: b.setIDs[k.name],
		// Interface names are host-endian strings to nft (for listing them).
		KeyByteOrder: binaryutil.NativeEndian}
}

func (b *batch) setObj(ss *setSpec) *nftables.Set {
	kt := nftables.TypeIPAddr
	if ss.v6 {
		kt = nftables.TypeIP6Addr
	}
	return &nftables.Set{Table: tableObj(inet), Name: ss.name, KeyType: kt, Interval: true, ID: b.setIDs[ss.name]}
}

// elemsPerMessage bounds the elements of one netlink message: the element
// list is a netlink attribute, whose length field has 16 bits; the library
// silently truncates a longer list (a map of 2000 taps kept 907 of them).
// A verdict element takes under 100 bytes, an IPv6 range under 80.
const elemsPerMessage = 500

// elements queues element additions (or deletions) in as many messages as
// needed and returns how many.
func (b *batch) elements(add bool, s *nftables.Set, els []nftables.SetElement) int {
	n := 0
	for chunk := range slices.Chunk(els, elemsPerMessage) {
		if add {
			b.fail(b.c.SetAddElements(s, chunk))
		} else {
			b.fail(b.c.SetDeleteElements(s, chunk))
		}
		n++
	}
	return n
}

// newID allocates a batch-local set id (the library's own counter is a
// package global shared with every other user of it).
func (b *batch) newID(name string) uint32 {
	b.nextID++
	b.setIDs[name] = b.nextID
	return b.nextID
}

func mapElements(elems map[string]verdictSpec, taps []string) []nftables.SetElement {
	els := make([]nftables.SetElement, 0, len(taps))
	for _, tap := range taps {
		v := elems[tap]
		els = append(els, nftables.SetElement{Key: ifname(tap), VerdictData: &expr.Verdict{Kind: v.kind, Chain: v.chain}})
	}
	return els
}

func sameHook(a, b *hookSpec) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

func sortedObjKeys[V any](m map[objKey]V) []objKey {
	return sortObjKeys(slices.Collect(maps.Keys(m)))
}

// sortObjKeys sorts keys in place (plans are deterministic, which keeps
// logs and tests readable; sorting only what changed keeps them cheap).
func sortObjKeys(ks []objKey) []objKey {
	slices.SortFunc(ks, func(a, b objKey) int {
		if c := cmp.Compare(a.fam, b.fam); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return ks
}

// plan queues on b the messages that turn cur into want, in an order the
// kernel accepts within one transaction: references are removed before
// what they point to is deleted, and what they point to is created before
// they are added.
func plan(b *batch, cur, want *state) {
	rewriteAll := len(cur.recreate) > 0

	// 1. Tables.
	for _, fam := range []nftables.TableFamily{inet, arp} {
		if want.tables[fam] && !cur.tables[fam] {
			b.c.AddTable(tableObj(fam))
			b.note("add table %v", tableObj(fam).Name)
		}
	}

	// Chains: what becomes of each.
	var flush, del, create, fill []objKey
	for k, cc := range cur.chains {
		wc, ok := want.chains[k]
		switch {
		case !ok:
			if cc.hash != emptyChain {
				flush = append(flush, k)
			}
			del = append(del, k)
		case !sameHook(cc.hook, wc.hook):
			if cc.hash != emptyChain {
				flush = append(flush, k)
			}
			del = append(del, k)
			create = append(create, k)
			fill = append(fill, k)
		case rewriteAll || cc.hash != wc.hash:
			if cc.hash != emptyChain {
				flush = append(flush, k)
			}
			fill = append(fill, k)
		}
	}
	for _, o := range cur.recreate {
		if !o.isSet {
			flush = append(flush, o.key)
			del = append(del, o.key)
		}
	}
	for k := range want.chains {
		if _, ok := cur.chains[k]; !ok {
			create = append(create, k)
			fill = append(fill, k)
		}
	}
	sortObjKeys(flush)
	sortObjKeys(del)
	sortObjKeys(create)
	sortObjKeys(fill)

	// 2. Map elements that go or change (they reference chains).
	for _, k := range sortedObjKeys(cur.maps) {
		cm, wm := cur.maps[k], want.maps[k]
		var taps []string
		for tap, cv := range cm.elems {
			if wv, ok := wm.elems[tap]; rewriteAll || wm == nil || !ok || wv != cv {
				taps = append(taps, tap)
			}
		}
		slices.Sort(taps)
		if len(taps) > 0 {
			n := b.elements(false, b.mapObj(k), mapElements(cm.elems, taps))
			b.noteN(n, "delete %d elements from map %s", len(taps), k)
		}
	}

	// 3. Flush chains to rewrite or delete (drops their jumps and lookups).
	for _, k := range flush {
		b.c.FlushChain(chainObj(k, nil))
		b.note("flush chain %s", k)
	}

	// 4. Delete sets and maps no longer wanted or of the wrong shape, then
	// chains.
	for _, o := range cur.recreate {
		if o.isSet {
			b.c.DelSet(&nftables.Set{Table: tableObj(o.key.fam), Name: o.key.name})
			b.note("delete misshapen set %s", o.key)
		}
	}
	for _, name := range sortedKeys(cur.sets) {
		if _, ok := want.sets[name]; !ok {
			b.c.DelSet(&nftables.Set{Table: tableObj(inet), Name: name})
			b.note("delete set %s", name)
		}
	}
	for _, k := range sortedObjKeys(cur.maps) {
		if _, ok := want.maps[k]; !ok {
			b.c.DelSet(&nftables.Set{Table: tableObj(k.fam), Name: k.name})
			b.note("delete map %s", k)
		}
	}
	for _, k := range del {
		b.c.DelChain(chainObj(k, nil))
		b.note("delete chain %s", k)
	}

	// 5. Sets and maps: create, or update their elements in place.
	for _, name := range sortedKeys(want.sets) {
		ws, cs := want.sets[name], cur.sets[name]
		switch {
		case cs == ws || (cs != nil && equalRanges(cs.ranges, ws.ranges)):
			// unchanged
		case cs == nil:
			b.newID(name)
			b.fail(b.c.AddSet(b.setObj(ws), nil))
			n := b.elements(true, b.setObj(ws), rangeElements(ws.ranges))
			b.noteN(1+n, "add set %s with %d ranges", name, len(ws.ranges))
		case cs.loose:
			b.c.FlushSet(b.setObj(ws))
			b.note("flush set %s", name)
			if len(ws.ranges) > 0 {
				n := b.elements(true, b.setObj(ws), rangeElements(ws.ranges))
				b.noteN(n, "add %d ranges to set %s", len(ws.ranges), name)
			}
		default:
			dels, adds := diffRanges(cs.ranges, ws.ranges)
			if len(dels) > 0 {
				n := b.elements(false, b.setObj(ws), rangeElements(dels))
				b.noteN(n, "delete %d ranges from set %s", len(dels), name)
			}
			if len(adds) > 0 {
				n := b.elements(true, b.setObj(ws), rangeElements(adds))
				b.noteN(n, "add %d ranges to set %s", len(adds), name)
			}
		}
	}
	for _, k := range sortedObjKeys(want.maps) {
		if cur.maps[k] == nil {
			b.newID(k.name)
			b.fail(b.c.AddSet(b.mapObj(k), nil))
			b.note("add map %s", k)
		}
	}

	// 6. New chains (all of them before any rule, so jumps resolve).
	for _, k := range create {
		b.c.AddChain(chainObj(k, want.chains[k].hook))
		b.note("add chain %s", k)
	}

	// 7. Rules of new and rewritten chains.
	for _, k := range fill {
		wc := want.chains[k]
		ch := chainObj(k, wc.hook)
		for i, r := range wc.rules {
			b.c.AddRule(&nftables.Rule{
				Table:    ch.Table,
				Chain:    ch,
				Exprs:    b.withSetIDs(r.exprs),
				UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(wc.hash, i)),
			})
		}
		b.noteN(len(wc.rules), "write chain %s (%d rules)", k, len(wc.rules))
	}

	// 8. Map elements that are new or changed.
	for _, k := range sortedObjKeys(want.maps) {
		cm, wm := cur.maps[k], want.maps[k]
		var taps []string
		for tap, wv := range wm.elems {
			if rewriteAll || cm == nil {
				taps = append(taps, tap)
			} else if cv, ok := cm.elems[tap]; !ok || cv != wv {
				taps = append(taps, tap)
			}
		}
		slices.Sort(taps)
		if len(taps) > 0 {
			n := b.elements(true, b.mapObj(k), mapElements(wm.elems, taps))
			b.noteN(n, "add %d elements to map %s", len(taps), k)
		}
	}
}

// withSetIDs returns exprs with the batch-local id of every set a lookup
// names that this batch creates (the kernel also finds sets by name).
func (b *batch) withSetIDs(exprs []expr.Any) []expr.Any {
	var out []expr.Any
	for i, e := range exprs {
		l, ok := e.(*expr.Lookup)
		if !ok {
			continue
		}
		id := b.setIDs[l.SetName]
		if id == 0 {
			continue
		}
		if out == nil {
			out = slices.Clone(exprs)
		}
		cp := *l
		cp.SetID = id
		out[i] = &cp
	}
	if out == nil {
		return exprs
	}
	return out
}
