package firewall

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// rule is one nftables rule being built: its expressions and an nft-like
// text that names them exactly (the text is what the chain hash covers and
// what logs show).
type rule struct {
	exprs []expr.Any
	text  []string
}

func newRule() *rule { return &rule{} }

func (r *rule) add(text string, es ...expr.Any) *rule {
	r.exprs = append(r.exprs, es...)
	if text != "" {
		r.text = append(r.text, text)
	}
	return r
}

func (r *rule) String() string { return strings.Join(r.text, " ") }

// Every match loads into register 1; verdicts go to the verdict register.
const reg = 1

func cmpEq(data []byte) *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

func meta(key expr.MetaKey) *expr.Meta { return &expr.Meta{Key: key, Register: reg} }

func payload(base expr.PayloadBase, off, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n}
}

// ifname pads an interface name to IFNAMSIZ, as meta iifname loads it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func (r *rule) iifnamePrefix(prefix string) *rule {
	return r.add(fmt.Sprintf("iifname %q", prefix+"*"), meta(expr.MetaKeyIIFNAME), cmpEq([]byte(prefix)))
}

func (r *rule) oifnamePrefix(prefix string) *rule {
	return r.add(fmt.Sprintf("oifname %q", prefix+"*"), meta(expr.MetaKeyOIFNAME), cmpEq([]byte(prefix)))
}

// vmap dispatches on the input (or output) interface name through a
// verdict map.
func (r *rule) vmap(out bool, mapName string) *rule {
	key, word := expr.MetaKeyIIFNAME, "iifname"
	if out {
		key, word = expr.MetaKeyOIFNAME, "oifname"
	}
	return r.add(word+" vmap @"+mapName, meta(key),
		&expr.Lookup{SourceRegister: reg, SetName: mapName, DestRegister: 0, IsDestRegSet: true})
}

func (r *rule) nfproto(v6 bool) *rule {
	if v6 {
		return r.add("meta nfproto ipv6", meta(expr.MetaKeyNFPROTO), cmpEq([]byte{unix.NFPROTO_IPV6}))
	}
	return r.add("meta nfproto ipv4", meta(expr.MetaKeyNFPROTO), cmpEq([]byte{unix.NFPROTO_IPV4}))
}

func (r *rule) l4proto(p uint8) *rule {
	return r.add(fmt.Sprintf("meta l4proto %d", p), meta(expr.MetaKeyL4PROTO), cmpEq([]byte{p}))
}

// etherSaddr matches the source MAC (Ethernet devices only, as nft does).
func (r *rule) etherSaddr(mac net.HardwareAddr) *rule {
	return r.add("ether saddr "+mac.String(),
		meta(expr.MetaKeyIIFTYPE), cmpEq(binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)),
		payload(expr.PayloadBaseLLHeader, 6, 6), cmpEq(mac))
}

// addrOffset is where the source or destination address sits in the IPv4
// or IPv6 header.
func addrOffset(v6, dst bool) (off, n uint32) {
	switch {
	case v6 && dst:
		return 24, 16
	case v6:
		return 8, 16
	case dst:
		return 16, 4
	default:
		return 12, 4
	}
}

func addrWord(v6, dst bool) string {
	w := "ip"
	if v6 {
		w = "ip6"
	}
	if dst {
		return w + " daddr"
	}
	return w + " saddr"
}

// prefixMatch loads a header's address and matches a prefix (a host
// address compares directly; a /0 matches everything and adds nothing).
// The caller has matched the family already.
func (r *rule) prefixMatch(base expr.PayloadBase, off uint32, word string, p netip.Prefix) *rule {
	n := uint32(p.Addr().BitLen() / 8)
	if p.Bits() == 0 {
		return r
	}
	if p.IsSingleIP() {
		return r.add(word+" "+p.Addr().String(), payload(base, off, n), cmpEq(p.Addr().AsSlice()))
	}
	mask := net.CIDRMask(p.Bits(), p.Addr().BitLen())
	return r.add(word+" "+p.String(), payload(base, off, n),
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: n, Mask: mask, Xor: make([]byte, n)},
		cmpEq(p.Addr().AsSlice()))
}

func (r *rule) addr(dst bool, p netip.Prefix) *rule {
	v6 := p.Addr().Is6()
	off, _ := addrOffset(v6, dst)
	return r.prefixMatch(expr.PayloadBaseNetworkHeader, off, addrWord(v6, dst), p)
}

// addrInSet matches a header address against a named set.
func (r *rule) addrInSet(v6, dst bool, set string) *rule {
	off, n := addrOffset(v6, dst)
	return r.add(addrWord(v6, dst)+" @"+set, payload(expr.PayloadBaseNetworkHeader, off, n),
		&expr.Lookup{SourceRegister: reg, SetName: set})
}

// thPort matches the transport header's source or destination port
// against [lo, hi]; the caller has matched a protocol with ports.
func (r *rule) thPort(dst bool, lo, hi uint16) *rule {
	off, word := uint32(0), "th sport"
	if dst {
		off, word = 2, "th dport"
	}
	r.add("", payload(expr.PayloadBaseTransportHeader, off, 2))
	if lo == hi {
		return r.add(fmt.Sprintf("%s %d", word, lo), cmpEq(binaryutil.BigEndian.PutUint16(lo)))
	}
	return r.add(fmt.Sprintf("%s %d-%d", word, lo, hi), &expr.Range{Op: expr.CmpOpEq, Register: reg,
		FromData: binaryutil.BigEndian.PutUint16(lo), ToData: binaryutil.BigEndian.PutUint16(hi)})
}

// icmpType matches the ICMP or ICMPv6 type byte against [lo, hi] (the
// caller has matched the protocol).
func (r *rule) icmpType(lo, hi uint8) *rule {
	r.add("", payload(expr.PayloadBaseTransportHeader, 0, 1))
	if lo == hi {
		return r.add(fmt.Sprintf("icmp-type %d", lo), cmpEq([]byte{lo}))
	}
	return r.add(fmt.Sprintf("icmp-type %d-%d", lo, hi),
		&expr.Range{Op: expr.CmpOpEq, Register: reg, FromData: []byte{lo}, ToData: []byte{hi}})
}

func (r *rule) icmpCode(code uint8) *rule {
	return r.add(fmt.Sprintf("icmp-code %d", code), payload(expr.PayloadBaseTransportHeader, 1, 1), cmpEq([]byte{code}))
}

// ctState matches any of the given conntrack state bits.
func (r *rule) ctState(word string, bits uint32) *rule {
	return r.add("ct state "+word,
		&expr.Ct{Register: reg, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: make([]byte, 4)})
}

// arpHeader drops ARP that is not Ethernet/IPv4 (whose sender fields would
// sit elsewhere).
func (r *rule) arpNotEthernetIPv4() *rule {
	want := []byte{0, 1, 8, 0, 6, 4} // htype 1, ptype 0x0800, hlen 6, plen 4
	return r.add("arp htype!=1|ptype!=ip|hlen!=6|plen!=4",
		payload(expr.PayloadBaseNetworkHeader, 0, 6),
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: want})
}

func (r *rule) arpSenderMAC(mac net.HardwareAddr) *rule {
	return r.add("arp saddr ether "+mac.String(), payload(expr.PayloadBaseNetworkHeader, 8, 6), cmpEq(mac))
}

func (r *rule) arpSenderIP(p netip.Prefix) *rule {
	return r.prefixMatch(expr.PayloadBaseNetworkHeader, 14, "arp saddr ip", p)
}

func (r *rule) counter() *rule { return r.add("counter", &expr.Counter{}) }

func (r *rule) accept() *rule {
	return r.add("accept", &expr.Verdict{Kind: expr.VerdictAccept})
}

func (r *rule) drop() *rule { return r.add("drop", &expr.Verdict{Kind: expr.VerdictDrop}) }

func (r *rule) jump(chain string) *rule {
	return r.add("jump "+chain, &expr.Verdict{Kind: expr.VerdictJump, Chain: chain})
}

// eui64LinkLocal is the IPv6 link-local address a MAC yields (RFC 4291).
func eui64LinkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8] = mac[0] ^ 0x02
	b[9], b[10] = mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}
