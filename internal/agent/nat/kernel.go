package nat

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var table = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}

// chainSpec is one of the table's base chains as it must be.
type chainSpec struct {
	name  string
	hook  nftables.ChainHook
	prio  nftables.ChainPriority
	rules [][]expr.Any // Lookup expressions name their map; SetID is filled in when sending
	hash  string
}

func (cs *chainSpec) chain() *nftables.Chain {
	hook, prio := cs.hook, cs.prio
	return &nftables.Chain{Table: table, Name: cs.name, Type: nftables.ChainTypeNAT, Hooknum: &hook, Priority: &prio}
}

// buildChains returns the chains for the given cloud prefixes (IPv4,
// masked, sorted).
func buildChains(cloud []netip.Prefix) []chainSpec {
	dnat := func() []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, // ip daddr
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: MapDNAT},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		}
	}
	var post [][]expr.Any
	desc := []string{"post"}
	for _, p := range cloud {
		mask := net.CIDRMask(p.Bits(), 32)
		a := p.Addr().As4()
		post = append(post, []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeyDST, Direction: 0}, // ct original ip daddr
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
			&expr.Verdict{Kind: expr.VerdictReturn},
		})
		desc = append(desc, p.String())
	}
	post = append(post, []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}, // ip saddr
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: MapSNAT},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	})
	chains := []chainSpec{
		{name: ChainPre, hook: *nftables.ChainHookPrerouting, prio: *nftables.ChainPriorityNATDest, rules: [][]expr.Any{dnat()}},
		{name: ChainOutput, hook: *nftables.ChainHookOutput, prio: *nftables.ChainPriorityNATDest, rules: [][]expr.Any{dnat()}},
		{name: ChainPost, hook: *nftables.ChainHookPostrouting, prio: *nftables.ChainPriorityNATSource, rules: post},
	}
	for i := range chains {
		d := []string{"v" + rulesetVersion, chains[i].name, "dnat daddr " + MapDNAT}
		if chains[i].name == ChainPost {
			d = append(desc, "snat saddr "+MapSNAT)
		}
		sum := sha256.Sum256([]byte(strings.Join(d, "|")))
		chains[i].hash = hex.EncodeToString(sum[:6])
	}
	return chains
}

// kernelState is what the table holds.
type kernelState struct {
	table  bool
	mapsOK bool // both maps exist with the right shape
	dnat   map[netip.Addr]netip.Addr
	snat   map[netip.Addr]netip.Addr
	chains map[string]*chainState // spinel's chains present in the table
	maps   map[string]bool        // the maps present, whatever their shape
}

type chainState struct {
	hash    string // "" when the rules' comments do not agree
	shapeOK bool   // type, hook, priority and policy as they must be
}

// readKernel reads the table back.
func (n *NAT) readKernel(c *nftables.Conn) (*kernelState, error) {
	s := &kernelState{dnat: map[netip.Addr]netip.Addr{}, snat: map[netip.Addr]netip.Addr{},
		chains: map[string]*chainState{}, maps: map[string]bool{}}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			s.table = true
		}
	}
	if !s.table {
		return s, nil
	}
	want := map[string]*chainSpec{}
	for i := range n.chains {
		want[n.chains[i].name] = &n.chains[i]
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("listing chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != TableName {
			continue
		}
		spec, ours := want[ch.Name]
		if !ours {
			n.log.Info("nat: leaving a chain spinel does not know alone", "chain", ch.Name)
			continue
		}
		cs := &chainState{}
		cs.shapeOK = ch.Type == nftables.ChainTypeNAT && ch.Hooknum != nil && *ch.Hooknum == spec.hook &&
			ch.Priority != nil && *ch.Priority == spec.prio && (ch.Policy == nil || *ch.Policy == nftables.ChainPolicyAccept)
		comments, err := n.ruleComments(ch.Name)
		if err != nil {
			return nil, fmt.Errorf("listing the rules of %s: %w", ch.Name, err)
		}
		cs.hash = consistentHash(comments)
		s.chains[ch.Name] = cs
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, fmt.Errorf("listing sets: %w", err)
	}
	found := 0
	for _, set := range sets {
		var m map[netip.Addr]netip.Addr
		switch set.Name {
		case MapDNAT:
			m = s.dnat
		case MapSNAT:
			m = s.snat
		default:
			continue
		}
		s.maps[set.Name] = true
		if !set.IsMap || set.Interval || set.Anonymous || set.KeyType.Name != nftables.TypeIPAddr.Name || set.DataType.Name != nftables.TypeIPAddr.Name {
			n.log.Info("nat: a map has the wrong shape; it will be recreated", "map", set.Name)
			continue
		}
		els, err := c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("reading map %s: %w", set.Name, err)
		}
		for _, e := range els {
			k, ok1 := netip.AddrFromSlice(e.Key)
			v, ok2 := netip.AddrFromSlice(e.Val)
			if !ok1 || !ok2 || !k.Is4() || !v.Is4() {
				return nil, fmt.Errorf("map %s: element %x : %x is not a pair of IPv4 addresses", set.Name, e.Key, e.Val)
			}
			m[k] = v
		}
		found++
	}
	s.mapsOK = found == 2
	return s, nil
}

// consistentHash returns the hash the comments of a chain's rules agree
// on, with indexes in order, or "".
func consistentHash(comments []string) string {
	hash := ""
	for i, c := range comments {
		parts := strings.Split(c, ":")
		if len(parts) != 3 || parts[0] != commentPrefix || parts[2] != strconv.Itoa(i) || (hash != "" && parts[1] != hash) {
			return ""
		}
		hash = parts[1]
	}
	return hash
}

// batch queues one transaction and counts its messages.
type batch struct {
	c    *nftables.Conn
	msgs int
	ops  []string
	err  error
}

func (b *batch) note(format string, args ...any) {
	b.msgs++
	b.ops = append(b.ops, fmt.Sprintf(format, args...))
}

func (b *batch) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

// plan queues the transaction that turns cur into want and returns the
// floating IPs whose conntrack entries must go once it is committed.
func (n *NAT) plan(b *batch, cur *kernelState, want *desired) (stale []netip.Addr) {
	if !cur.table {
		b.c.AddTable(table)
		b.note("add table ip %s", TableName)
	}
	// Chains to flush and refill or to delete and recreate. Recreating a
	// map means emptying every chain first (rules hold references to it).
	refill := map[string]bool{}
	recreate := map[string]bool{}
	for _, cs := range n.chains {
		st, ok := cur.chains[cs.name]
		switch {
		case !ok:
		case !st.shapeOK:
			recreate[cs.name] = true
		case !cur.mapsOK && cur.table || st.hash != cs.hash:
			refill[cs.name] = true
		}
	}
	for _, cs := range n.chains {
		if refill[cs.name] || recreate[cs.name] {
			b.c.FlushChain(cs.chain())
			b.note("flush chain %s", cs.name)
		}
		if recreate[cs.name] {
			b.c.DelChain(&nftables.Chain{Table: table, Name: cs.name})
			b.note("delete misshapen chain %s", cs.name)
		}
	}

	// Maps.
	sets := map[string]*nftables.Set{}
	curMaps := map[string]map[netip.Addr]netip.Addr{MapDNAT: cur.dnat, MapSNAT: cur.snat}
	wantMaps := map[string]map[netip.Addr]netip.Addr{MapDNAT: want.dnat, MapSNAT: want.snat}
	for _, name := range []string{MapDNAT, MapSNAT} {
		set := &nftables.Set{Table: table, Name: name, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}
		sets[name] = set
		if cur.table && cur.mapsOK {
			continue
		}
		if cur.table {
			// Recreate both (the shape of one was wrong, or one was
			// missing: deleting a missing map would fail the batch, so
			// only the ones present are deleted). Everything referring
			// to them has been flushed above.
			if cur.maps[name] {
				b.c.DelSet(&nftables.Set{Table: table, Name: name})
				b.note("delete map %s", name)
			}
			curMaps[name] = map[netip.Addr]netip.Addr{}
		}
		b.fail(b.c.AddSet(set, nil))
		b.note("add map %s", name)
	}
	for _, name := range []string{MapDNAT, MapSNAT} {
		curM, wantM := curMaps[name], wantMaps[name]
		var del, add []nftables.SetElement
		for _, k := range sortedAddrs(curM) {
			if v, ok := wantM[k]; !ok || v != curM[k] {
				del = append(del, nftables.SetElement{Key: k.AsSlice()})
				if name == MapDNAT {
					stale = append(stale, k)
				} else {
					stale = append(stale, curM[k])
				}
			}
		}
		for _, k := range sortedAddrs(wantM) {
			if v, ok := curM[k]; !ok || v != wantM[k] {
				add = append(add, nftables.SetElement{Key: k.AsSlice(), Val: wantM[k].AsSlice()})
			}
		}
		if len(del) > 0 {
			b.fail(b.c.SetDeleteElements(sets[name], del))
			b.note("map %s: delete %d elements", name, len(del))
		}
		if len(add) > 0 {
			b.fail(b.c.SetAddElements(sets[name], add))
			b.note("map %s: add %d elements", name, len(add))
		}
	}

	// Chains: create missing ones, fill new and flushed ones.
	for _, cs := range n.chains {
		_, present := cur.chains[cs.name]
		if !present || recreate[cs.name] {
			b.c.AddChain(cs.chain())
			b.note("add chain %s", cs.name)
		} else if !refill[cs.name] {
			continue
		}
		ch := &nftables.Chain{Table: table, Name: cs.name}
		for i, r := range cs.rules {
			exprs := make([]expr.Any, len(r))
			for j, e := range r {
				if l, ok := e.(*expr.Lookup); ok {
					l2 := *l
					l2.SetID = sets[l.SetName].ID // 0 for a map that already exists: found by name
					e = &l2
				}
				exprs[j] = e
			}
			b.c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: exprs, UserData: ruleComment(cs.hash, i)})
			b.note("chain %s: add rule %d", cs.name, i)
		}
	}
	slices.SortFunc(stale, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(stale)
}

func sortedAddrs(m map[netip.Addr]netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// forgetConntrack deletes the conntrack entries of floating IPs that were
// removed or remapped: connections to them (original destination) and
// connections SNATed to them (reply destination).
func (n *NAT) forgetConntrack(fips []netip.Addr) (uint, error) {
	h, err := netlink.NewHandleAt(n.ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	var filters []netlink.CustomConntrackFilter
	for _, ip := range fips {
		for _, typ := range []netlink.ConntrackFilterType{netlink.ConntrackOrigDstIP, netlink.ConntrackReplyDstIP} {
			f := &netlink.ConntrackFilter{}
			if err := f.AddIP(typ, net.IP(ip.AsSlice())); err != nil {
				return 0, err
			}
			filters = append(filters, f)
		}
	}
	return h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
}

// ruleComments returns the comments of a chain's rules, in order. Only the
// comment is decoded: the library cannot parse every expression back (ct
// original ip daddr, for one).
func (n *NAT) ruleComments(chain string) ([]string, error) {
	conn, err := mnl.Dial(unix.NETLINK_NETFILTER, &mnl.Config{NetNS: int(n.ns)})
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer conn.Close()
	attrs, err := mnl.MarshalAttributes([]mnl.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := conn.Execute(mnl.Message{
		Header: mnl.Header{
			Type:  mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: mnl.Request | mnl.Dump,
		},
		Data: append([]byte{unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, err
		}
		var comment string
		for ad.Next() {
			if ad.Type() == unix.NFTA_RULE_USERDATA {
				comment, _ = userdata.GetString(ad.Bytes(), userdata.TypeComment)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
		out = append(out, comment)
	}
	return out, nil
}
