package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/spinel-net/spinel/internal/agentapi"
	"golang.org/x/sys/unix"
)

// TableName is the name of spinel's nftables tables: one of family inet
// (anti-spoofing, security groups, the host guard) and one of family arp
// (ARP anti-spoofing). Nothing outside them is ever touched.
const TableName = "spinel"

// layoutVersion is part of every chain hash: bump it whenever the rules
// built for the same input change, so that a restarted agent rewrites
// chains a previous version left behind.
const layoutVersion = "spinel-fw-1"

// Object names inside the tables. Everything with one of these names or
// prefixes is spinel's firewall's to create, rewrite and delete; anything
// else found in the tables is left alone.
const (
	chainPrerouting = "prerouting"      // base: anti-spoofing dispatch
	chainFwdEgress  = "forward-egress"  // base: from-VM security group dispatch
	chainFwdIngress = "forward-ingress" // base: to-VM security group dispatch
	chainInput      = "input"           // base: guard on taps → host (inet), ARP dispatch (arp)
	chainGuard      = "tap-guard"       // what a tap may send to the host itself

	mapAntispoof = "antispoof" // tap → jump as-<tap> | accept
	mapEgress    = "egress"    // tap → jump eg-<tap> | accept
	mapIngress   = "ingress"   // tap → jump in-<tap> | accept
	mapARP       = "ports"     // (arp table) tap → jump as-<tap> | accept

	prefixAntispoof = "as-"  // per port: source checks (inet and arp tables)
	prefixEgress    = "eg-"  // per port: traffic from the VM
	prefixIngress   = "in-"  // per port: traffic to the VM
	prefixGroupEg   = "sge-" // per security group: its egress rules
	prefixGroupIn   = "sgi-" // per security group: its ingress rules
	prefixSet4      = "sg4-" // per remote group: IPv4 members
	prefixSet6      = "sg6-" // per remote group: IPv6 members
)

// Priorities of the base chains: anti-spoofing before conntrack sees the
// packet, security groups at filter priority (egress first, then ingress:
// an accept ends only its own base chain, so a VM-to-VM packet passes both).
const (
	prioAntispoof  nftables.ChainPriority = -300
	prioFwdEgress  nftables.ChainPriority = 0
	prioFwdIngress nftables.ChainPriority = 1
	prioInput      nftables.ChainPriority = 0
)

// nfARPIn is the arp family's input hook (NF_ARP_IN).
const nfARPIn nftables.ChainHook = 0

// metadataV4 and metadataV6 are where guests reach the metadata service.
var (
	metadataV4 = netip.MustParsePrefix("169.254.169.254/32")
	metadataV6 = netip.MustParsePrefix("fe80::a9fe:a9fe/128")
	linkLocal6 = netip.MustParsePrefix("fe80::/64")
	unspec6    = netip.MustParsePrefix("::/128")
	unspec4    = netip.MustParsePrefix("0.0.0.0/32")
	bcast4     = netip.MustParsePrefix("255.255.255.255/32")
)

// objKey names a chain or a map: its table's family and its name.
type objKey struct {
	fam  nftables.TableFamily
	name string
}

func (k objKey) String() string {
	if k.fam == nftables.TableFamilyARP {
		return "arp/" + k.name
	}
	return "inet/" + k.name
}

type hookSpec struct {
	hook nftables.ChainHook
	prio nftables.ChainPriority
}

// chainSpec is a chain: wanted (rules set) or observed in the kernel
// (rules nil, hash read back from the rules' comments).
type chainSpec struct {
	key   objKey
	hook  *hookSpec // nil: a regular chain
	rules []*rule
	hash  string // "" when observed rules do not carry a consistent hash
}

// setSpec is a remote group's member set for one family (inet table).
type setSpec struct {
	name   string
	v6     bool
	ranges []ipRange
	// loose marks ranges read back from the kernel: on a difference the
	// set is flushed and refilled rather than patched element by element.
	loose bool
}

type verdictSpec struct {
	kind  expr.VerdictKind
	chain string
}

func (v verdictSpec) String() string {
	switch v.kind {
	case expr.VerdictJump:
		return "jump " + v.chain
	case expr.VerdictGoto:
		return "goto " + v.chain
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	}
	return fmt.Sprintf("verdict(%d)%s", v.kind, v.chain)
}

// mapSpec is an interface-name verdict map.
type mapSpec struct {
	key   objKey
	elems map[string]verdictSpec
}

// state is what spinel's tables hold (or should hold).
type state struct {
	tables map[nftables.TableFamily]bool
	chains map[objKey]*chainSpec
	sets   map[string]*setSpec
	maps   map[objKey]*mapSpec
	// recreate lists observed objects with spinel's names but the wrong
	// shape (a base chain on another hook, a set of another type): they
	// are deleted and created anew, and every chain is rewritten.
	recreate []recreateObj
}

type recreateObj struct {
	key   objKey
	isSet bool // a set or map; otherwise a chain
}

func newState() *state {
	return &state{
		tables: map[nftables.TableFamily]bool{},
		chains: map[objKey]*chainSpec{},
		sets:   map[string]*setSpec{},
		maps:   map[objKey]*mapSpec{},
	}
}

var (
	inet = nftables.TableFamilyINet
	arp  = nftables.TableFamilyARP
)

func (s *state) addChain(fam nftables.TableFamily, name string, hook *hookSpec, rules ...*rule) {
	c := &chainSpec{key: objKey{fam, name}, hook: hook, rules: rules}
	c.hash = chainHash(c)
	s.chains[c.key] = c
}

// emptyChain is the hash of a regular chain without rules (it has no rule
// to carry a comment).
const emptyChain = "empty"

// chainHash covers everything that defines a chain's content.
func chainHash(c *chainSpec) string {
	if c.hook == nil && len(c.rules) == 0 {
		return emptyChain
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", layoutVersion, c.key)
	if c.hook != nil {
		fmt.Fprintf(h, "hook %d prio %d\n", c.hook.hook, c.hook.prio)
	}
	for _, r := range c.rules {
		fmt.Fprintf(h, "%s\n", r)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ruleComment is the comment each rule of a chain carries: the chain's
// hash and the rule's index, so that a restarted agent can tell an intact
// chain from one to rewrite without decoding expressions.
func ruleComment(hash string, i int) string { return "spinel " + hash + " " + strconv.Itoa(i) }

// parseRuleComment is ruleComment's inverse.
func parseRuleComment(s string) (hash string, i int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "spinel" {
		return "", 0, false
	}
	i, err := strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[1], i, true
}

// allowedSource is a source a port may use: an address or prefix, with the
// MAC it must come from.
type allowedSource struct {
	mac    net.HardwareAddr
	prefix netip.Prefix
}

type portModel struct {
	tap     string
	macs    []net.HardwareAddr // the port's MAC first, then distinct pair MACs
	sources []allowedSource
}

// memo keeps what the last Apply built, keyed by everything each piece
// depends on, so that an Apply rebuilds only the ports, groups and member
// sets that changed. Everything in it is immutable once built.
type memo struct {
	ports  map[string][]*chainSpec // port fingerprint → its chains
	groups map[string]*groupBuild  // group fingerprint → its chains
	sets   map[string]*setSpec     // set name and members → the set
}

type groupBuild struct {
	in, eg *chainSpec
	refs   []*setRef // member sets its rules use
}

func newMemo() *memo {
	return &memo{ports: map[string][]*chainSpec{}, groups: map[string]*groupBuild{}, sets: map[string]*setSpec{}}
}

// buildDesired turns the desired ports and groups into the state of the
// tables, reusing what prev built where the input is unchanged, and returns
// what it built (the memo for the next Apply). Bad input (an unparsable
// address, a port without a tap) is logged and skipped: one bad port must
// not keep the rest unprotected.
func buildDesired(ports []agentapi.Port, groups []agentapi.SecurityGroup, log *slog.Logger, prev *memo) (*state, *memo) {
	if prev == nil {
		prev = newMemo()
	}
	s := newState()
	s.tables[inet] = true
	s.tables[arp] = true
	for _, k := range []objKey{{inet, mapAntispoof}, {inet, mapEgress}, {inet, mapIngress}, {arp, mapARP}} {
		s.maps[k] = &mapSpec{key: k, elems: map[string]verdictSpec{}}
	}
	for _, c := range baseChains() {
		s.chains[c.key] = c
	}

	byID := make(map[string]*agentapi.SecurityGroup, len(groups))
	for i := range groups {
		byID[groups[i].ID] = &groups[i]
	}
	next := newMemo()
	usedGroups := map[string]bool{}
	seenTap := map[string]bool{}
	for i := range ports {
		p := &ports[i]
		if p.Tap == "" || len(p.Tap) >= unix.IFNAMSIZ || strings.ContainsAny(p.Tap, "/ \x00*") {
			log.Warn("firewall: port without a usable tap name; skipped", "port", p.ID, "tap", p.Tap)
			continue
		}
		if seenTap[p.Tap] {
			log.Warn("firewall: two ports on one tap; keeping the first", "port", p.ID, "tap", p.Tap)
			continue
		}
		seenTap[p.Tap] = true
		if !p.PortSecurityEnabled {
			accept := verdictSpec{kind: expr.VerdictAccept}
			for _, k := range []objKey{{inet, mapAntispoof}, {inet, mapEgress}, {inet, mapIngress}, {arp, mapARP}} {
				s.maps[k].elems[p.Tap] = accept
			}
			continue
		}
		ids := slices.Clone(p.SecurityGroups)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		var gs []*agentapi.SecurityGroup
		var unknown []string
		stateful := false
		for _, id := range ids {
			g := byID[id]
			if g == nil {
				unknown = append(unknown, id)
				continue
			}
			stateful = stateful || g.Stateful
			gs = append(gs, g)
			usedGroups[id] = true
		}
		if len(gs) == 0 {
			stateful = true // nothing is let through anyway
		}
		fp := portFingerprint(p, gs, stateful)
		chains, ok := prev.ports[fp]
		if !ok {
			if len(unknown) > 0 {
				log.Warn("firewall: port names unknown security groups; ignoring them", "port", p.ID, "groups", unknown)
			}
			chains = portChains(portFrom(p, log), gs, stateful)
		}
		next.ports[fp] = chains
		for _, c := range chains {
			s.chains[c.key] = c
		}
		s.maps[objKey{inet, mapAntispoof}].elems[p.Tap] = verdictSpec{expr.VerdictJump, prefixAntispoof + p.Tap}
		s.maps[objKey{inet, mapIngress}].elems[p.Tap] = verdictSpec{expr.VerdictJump, prefixIngress + p.Tap}
		s.maps[objKey{inet, mapEgress}].elems[p.Tap] = verdictSpec{expr.VerdictJump, prefixEgress + p.Tap}
		s.maps[objKey{arp, mapARP}].elems[p.Tap] = verdictSpec{expr.VerdictJump, prefixAntispoof + p.Tap}
	}

	ids := make([]string, 0, len(usedGroups))
	for id := range usedGroups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := byID[id]
		fp := groupFingerprint(g)
		gb, ok := prev.groups[fp]
		if !ok {
			gb = buildGroup(g, log)
		}
		next.groups[fp] = gb
		s.chains[gb.in.key] = gb.in
		s.chains[gb.eg.key] = gb.eg
		for _, ref := range gb.refs {
			if _, ok := s.sets[ref.name]; ok {
				continue
			}
			members := byID[ref.group]
			sfp := setFingerprint(ref, members)
			set, ok := prev.sets[sfp]
			if !ok {
				set = memberSet(ref, members, log)
			}
			next.sets[sfp] = set
			s.sets[ref.name] = set
		}
	}
	return s, next
}

// portFingerprint is everything a secured port's chains are built from.
func portFingerprint(p *agentapi.Port, groups []*agentapi.SecurityGroup, stateful bool) string {
	var b strings.Builder
	b.WriteString(p.Tap)
	b.WriteByte('|')
	b.WriteString(p.MAC)
	b.WriteByte('|')
	for _, ip := range p.FixedIPs {
		b.WriteString(ip.IPAddress)
		b.WriteByte(',')
	}
	b.WriteByte('|')
	for _, pair := range p.AllowedAddressPairs {
		b.WriteString(pair.IPAddress)
		b.WriteByte('/')
		b.WriteString(pair.MACAddress)
		b.WriteByte(',')
	}
	b.WriteByte('|')
	for _, g := range groups {
		b.WriteString(g.ID)
		b.WriteByte(',')
	}
	if stateful {
		b.WriteString("|stateful")
	}
	return b.String()
}

// portFrom reads what a secured port may send.
func portFrom(p *agentapi.Port, log *slog.Logger) *portModel {
	pm := &portModel{tap: p.Tap}
	mac, err := net.ParseMAC(p.MAC)
	if err != nil || len(mac) != 6 {
		// Without a MAC no source can be allowed: the port gets its chains
		// with nothing let through but what the rules accept outright.
		log.Warn("firewall: port has no valid MAC; its sources are all refused", "port", p.ID, "mac", p.MAC)
	} else {
		pm.macs = append(pm.macs, mac)
	}
	addMAC := func(m net.HardwareAddr) {
		for _, have := range pm.macs {
			if string(have) == string(m) {
				return
			}
		}
		pm.macs = append(pm.macs, m)
	}
	seen := map[string]bool{}
	addSource := func(m net.HardwareAddr, pfx netip.Prefix) {
		k := string(m) + pfx.String()
		if !seen[k] {
			seen[k] = true
			pm.sources = append(pm.sources, allowedSource{mac: m, prefix: pfx})
		}
	}
	if len(pm.macs) > 0 {
		for _, ip := range p.FixedIPs {
			pfx, err := parsePrefix(ip.IPAddress)
			if err != nil || !pfx.IsSingleIP() {
				log.Warn("firewall: bad fixed IP; ignored", "port", p.ID, "ip", ip.IPAddress)
				continue
			}
			addSource(pm.macs[0], pfx)
		}
	}
	for _, pair := range p.AllowedAddressPairs {
		pfx, err := parsePrefix(pair.IPAddress)
		if err != nil {
			log.Warn("firewall: bad allowed address pair; ignored", "port", p.ID, "ip", pair.IPAddress)
			continue
		}
		var m net.HardwareAddr
		switch {
		case pair.MACAddress != "":
			m, err = net.ParseMAC(pair.MACAddress)
			if err != nil || len(m) != 6 {
				log.Warn("firewall: bad allowed address pair MAC; ignored", "port", p.ID, "mac", pair.MACAddress)
				continue
			}
		case len(pm.macs) > 0:
			m = pm.macs[0]
		default:
			continue
		}
		addMAC(m)
		addSource(m, pfx)
	}
	return pm
}

// baseChains are the chains that depend on no input: built once.
var baseChains = sync.OnceValue(func() []*chainSpec {
	s := newState()
	addBaseChains(s)
	return slices.Collect(maps.Values(s.chains))
})

func addBaseChains(s *state) {
	tap := agentapi.TapPrefix
	s.addChain(inet, chainPrerouting, &hookSpec{*nftables.ChainHookPrerouting, prioAntispoof},
		newRule().vmap(false, mapAntispoof),
		newRule().iifnamePrefix(tap).counter().drop())
	s.addChain(inet, chainFwdEgress, &hookSpec{*nftables.ChainHookForward, prioFwdEgress},
		newRule().vmap(false, mapEgress),
		newRule().iifnamePrefix(tap).counter().drop())
	s.addChain(inet, chainFwdIngress, &hookSpec{*nftables.ChainHookForward, prioFwdIngress},
		newRule().vmap(true, mapIngress),
		newRule().oifnamePrefix(tap).counter().drop())
	s.addChain(inet, chainInput, &hookSpec{*nftables.ChainHookInput, prioInput},
		newRule().iifnamePrefix(tap).jump(chainGuard))
	s.addChain(inet, chainGuard, nil,
		newRule().ctState("established,related", expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED).accept(),
		newRule().nfproto(false).l4proto(unix.IPPROTO_UDP).thPort(false, 68, 68).thPort(true, 67, 67).accept(),
		newRule().nfproto(true).l4proto(unix.IPPROTO_UDP).thPort(false, 546, 546).thPort(true, 547, 547).accept(),
		newRule().nfproto(false).l4proto(unix.IPPROTO_ICMP).accept(),
		newRule().nfproto(true).l4proto(unix.IPPROTO_ICMPV6).accept(),
		newRule().nfproto(false).addr(true, metadataV4).l4proto(unix.IPPROTO_TCP).thPort(true, 80, 80).accept(),
		newRule().nfproto(true).addr(true, metadataV6).l4proto(unix.IPPROTO_TCP).thPort(true, 80, 80).accept(),
		newRule().counter().drop())
	s.addChain(arp, chainInput, &hookSpec{nfARPIn, prioInput},
		newRule().vmap(false, mapARP),
		newRule().iifnamePrefix(tap).counter().drop())
}

// portChains builds a secured port's chains: anti-spoofing (inet and arp),
// ingress and egress.
func portChains(pm *portModel, groups []*agentapi.SecurityGroup, stateful bool) []*chainSpec {
	var out []*chainSpec
	add := func(fam nftables.TableFamily, name string, rules []*rule) {
		c := &chainSpec{key: objKey{fam, name}, rules: rules}
		c.hash = chainHash(c)
		out = append(out, c)
	}
	// Anti-spoofing (inet prerouting, before conntrack).
	as := []*rule{
		newRule().nfproto(false).l4proto(unix.IPPROTO_UDP).thPort(false, 67, 67).counter().drop(),
		newRule().nfproto(false).l4proto(unix.IPPROTO_UDP).thPort(true, 68, 68).counter().drop(),
		newRule().nfproto(true).l4proto(unix.IPPROTO_UDP).thPort(false, 547, 547).counter().drop(),
		newRule().nfproto(false).l4proto(unix.IPPROTO_ICMP).icmpType(5, 5).counter().drop(),      // redirect
		newRule().nfproto(true).l4proto(unix.IPPROTO_ICMPV6).icmpType(134, 134).counter().drop(), // router advertisement
		newRule().nfproto(true).l4proto(unix.IPPROTO_ICMPV6).icmpType(137, 137).counter().drop(), // redirect
	}
	for _, src := range pm.sources {
		as = append(as, newRule().etherSaddr(src.mac).nfproto(src.prefix.Addr().Is6()).addr(false, src.prefix).accept())
	}
	for i, m := range pm.macs {
		if i == 0 {
			// DHCPv4 before the guest has an address.
			as = append(as, newRule().etherSaddr(m).nfproto(false).addr(false, unspec4).addr(true, bcast4).
				l4proto(unix.IPPROTO_UDP).thPort(false, 68, 68).thPort(true, 67, 67).accept())
		}
		lla := netip.PrefixFrom(eui64LinkLocal(m), 128)
		as = append(as,
			newRule().etherSaddr(m).nfproto(true).addr(false, lla).accept(),
			// Link-local sources are never forwarded: they reach only the
			// host, whose guard limits them further. Any interface id is
			// allowed for ND and DHCPv6 (stable-privacy link-locals).
			newRule().etherSaddr(m).nfproto(true).addr(false, linkLocal6).l4proto(unix.IPPROTO_ICMPV6).accept(),
			newRule().etherSaddr(m).nfproto(true).addr(false, linkLocal6).l4proto(unix.IPPROTO_UDP).thPort(true, 547, 547).accept(),
			// DAD and MLD from the unspecified address.
			newRule().etherSaddr(m).nfproto(true).addr(false, unspec6).l4proto(unix.IPPROTO_ICMPV6).icmpType(130, 143).accept())
	}
	as = append(as, newRule().counter().drop())
	add(inet, prefixAntispoof+pm.tap, as)

	// ARP: sender MAC and IP must be the port's (or a pair's); probes with
	// sender IP 0.0.0.0 are fine.
	ar := []*rule{newRule().arpNotEthernetIPv4().counter().drop()}
	for _, src := range pm.sources {
		if src.prefix.Addr().Is4() {
			ar = append(ar, newRule().arpSenderMAC(src.mac).arpSenderIP(src.prefix).accept())
		}
	}
	for _, m := range pm.macs {
		ar = append(ar, newRule().arpSenderMAC(m).arpSenderIP(unspec4).accept())
	}
	ar = append(ar, newRule().counter().drop())
	add(arp, prefixAntispoof+pm.tap, ar)

	// Security groups. Conntrack is used unless every group of the port is
	// stateless (Neutron refuses to mix the two on one port).
	for _, dir := range []struct {
		prefix, groupPrefix string
	}{{prefixIngress, prefixGroupIn}, {prefixEgress, prefixGroupEg}} {
		var rs []*rule
		if stateful {
			rs = append(rs,
				newRule().ctState("established,related", expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED).accept(),
				newRule().ctState("invalid", expr.CtStateBitINVALID).counter().drop())
		}
		// Path MTU discovery must work whatever the rules say.
		rs = append(rs,
			newRule().nfproto(false).l4proto(unix.IPPROTO_ICMP).icmpType(3, 3).icmpCode(4).accept(),
			newRule().nfproto(true).l4proto(unix.IPPROTO_ICMPV6).icmpType(2, 2).accept())
		for _, g := range groups {
			rs = append(rs, newRule().jump(dir.groupPrefix+g.ID))
		}
		rs = append(rs, newRule().counter().drop())
		add(inet, dir.prefix+pm.tap, rs)
	}
	return out
}

// buildGroup builds a group's two rule chains and lists the member sets
// (of the groups its rules name as remote groups) they use.
func buildGroup(g *agentapi.SecurityGroup, log *slog.Logger) *groupBuild {
	var in, eg []*rule
	var refs []*setRef
	seen := map[string]bool{}
	for _, sr := range g.Rules {
		r, ref, err := groupRule(sr)
		if err != nil {
			log.Warn("firewall: security group rule not translatable; skipped", "group", g.ID, "rule", sr.ID, "err", err)
			continue
		}
		if r == nil {
			continue // can never match
		}
		key := sr.Direction + " " + r.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		if ref != nil && !slices.ContainsFunc(refs, func(x *setRef) bool { return x.name == ref.name }) {
			refs = append(refs, ref)
		}
		if sr.Direction == "ingress" {
			in = append(in, r)
		} else {
			eg = append(eg, r)
		}
	}
	byText := func(a, b *rule) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(in, byText)
	slices.SortFunc(eg, byText)
	gb := &groupBuild{refs: refs,
		in: &chainSpec{key: objKey{inet, prefixGroupIn + g.ID}, rules: in},
		eg: &chainSpec{key: objKey{inet, prefixGroupEg + g.ID}, rules: eg}}
	gb.in.hash = chainHash(gb.in)
	gb.eg.hash = chainHash(gb.eg)
	return gb
}

// groupFingerprint is everything a group's chains are built from.
func groupFingerprint(g *agentapi.SecurityGroup) string {
	var b strings.Builder
	b.WriteString(g.ID)
	str := func(p *string) {
		b.WriteByte(',')
		if p != nil {
			b.WriteByte('=')
			b.WriteString(*p)
		}
	}
	num := func(p *int) {
		b.WriteByte(',')
		if p != nil {
			b.WriteString(strconv.Itoa(*p))
		}
	}
	for _, r := range g.Rules {
		b.WriteByte('|')
		b.WriteString(r.Direction)
		b.WriteByte(',')
		b.WriteString(r.Ethertype)
		str(r.Protocol)
		num(r.PortRangeMin)
		num(r.PortRangeMax)
		str(r.RemoteIPPrefix)
		str(r.RemoteGroupID)
	}
	return b.String()
}

// setFingerprint is everything a member set is built from.
func setFingerprint(ref *setRef, g *agentapi.SecurityGroup) string {
	if g == nil {
		return ref.name + "|none"
	}
	return ref.name + "|" + strings.Join(g.Members, ",")
}

type setRef struct {
	name  string
	group string
	v6    bool
}

func memberSet(ref *setRef, g *agentapi.SecurityGroup, log *slog.Logger) *setSpec {
	set := &setSpec{name: ref.name, v6: ref.v6}
	if g == nil {
		// A remote group this host was not told about has no members here.
		return set
	}
	var ps []netip.Prefix
	for _, m := range g.Members {
		p, err := parsePrefix(m)
		if err != nil {
			log.Warn("firewall: bad security group member; ignored", "group", g.ID, "member", m)
			continue
		}
		if p.Addr().Is6() == ref.v6 {
			ps = append(ps, p)
		}
	}
	set.ranges = mergeRanges(ps)
	return set
}

// protocols are Neutron's protocol names.
var protocols = map[string]uint8{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "icmpv6": 58,
	"igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
	"tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

func hasPorts(p uint8) bool {
	switch p {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP, unix.IPPROTO_UDPLITE:
		return true
	}
	return false
}

// groupRule translates one security group rule into a rule ending in
// accept. It returns a nil rule for a rule that can never match (a remote
// prefix of the other family), and the member set it needs, if any.
func groupRule(sr agentapi.Rule) (*rule, *setRef, error) {
	var v6 bool
	switch sr.Ethertype {
	case "IPv4":
	case "IPv6":
		v6 = true
	default:
		return nil, nil, fmt.Errorf("ethertype %q", sr.Ethertype)
	}
	if sr.Direction != "ingress" && sr.Direction != "egress" {
		return nil, nil, fmt.Errorf("direction %q", sr.Direction)
	}
	// The remote end is the source of ingress traffic and the destination
	// of egress traffic.
	remoteIsDst := sr.Direction == "egress"
	r := newRule().nfproto(v6)

	var ref *setRef
	switch {
	case sr.RemoteGroupID != nil && *sr.RemoteGroupID != "":
		ref = &setRef{group: *sr.RemoteGroupID, v6: v6}
		if v6 {
			ref.name = prefixSet6 + ref.group
		} else {
			ref.name = prefixSet4 + ref.group
		}
		r.addrInSet(v6, remoteIsDst, ref.name)
	case sr.RemoteIPPrefix != nil && *sr.RemoteIPPrefix != "":
		p, err := parsePrefix(*sr.RemoteIPPrefix)
		if err != nil {
			return nil, nil, fmt.Errorf("remote_ip_prefix: %w", err)
		}
		if p.Addr().Is6() != v6 {
			return nil, nil, nil
		}
		r.addr(remoteIsDst, p)
	}

	if sr.Protocol == nil {
		return r.accept(), ref, nil
	}
	name := strings.ToLower(strings.TrimSpace(*sr.Protocol))
	var proto uint8
	switch n, err := strconv.Atoi(name); {
	case name == "" || name == "any":
		return r.accept(), ref, nil
	case err == nil:
		if n < 0 || n > 255 {
			return nil, nil, fmt.Errorf("protocol %d", n)
		}
		proto = uint8(n)
	default:
		p, ok := protocols[name]
		if !ok {
			return nil, nil, fmt.Errorf("protocol %q", name)
		}
		proto = p
	}
	// Neutron takes icmp with ethertype IPv6 to mean ICMPv6.
	if v6 && proto == unix.IPPROTO_ICMP {
		proto = unix.IPPROTO_ICMPV6
	}
	r.l4proto(proto)

	lo, hi := sr.PortRangeMin, sr.PortRangeMax
	switch {
	case proto == unix.IPPROTO_ICMP || proto == unix.IPPROTO_ICMPV6:
		// For ICMP the "port range" is type and code.
		if lo != nil {
			if *lo < 0 || *lo > 255 {
				return nil, nil, fmt.Errorf("icmp type %d", *lo)
			}
			r.icmpType(uint8(*lo), uint8(*lo))
			if hi != nil {
				if *hi < 0 || *hi > 255 {
					return nil, nil, fmt.Errorf("icmp code %d", *hi)
				}
				r.icmpCode(uint8(*hi))
			}
		}
	case hasPorts(proto) && (lo != nil || hi != nil):
		a, b := lo, hi
		if a == nil {
			a = b
		}
		if b == nil {
			b = a
		}
		if *a < 0 || *b > 65535 || *a > *b {
			return nil, nil, fmt.Errorf("port range %d-%d", *a, *b)
		}
		if !(*a <= 1 && *b == 65535) {
			r.thPort(true, uint16(*a), uint16(*b))
		}
	}
	return r.accept(), ref, nil
}
