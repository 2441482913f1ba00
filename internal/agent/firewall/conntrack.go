package firewall

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// Connection tracking keeps an accepted flow going after the rule that let
// it in is gone: "ct state established,related accept" comes before the
// security group rules. So when an Apply takes permission away, the
// conntrack entries of the ports concerned are deleted; packets of a flow
// that is still allowed are tracked anew (TCP is picked up mid-stream) and
// meet the rules again, those of a flow that is not are dropped.
//
// Permission is taken away when a rule goes from a port's chains (its own,
// or those of a group it is in) or an address leaves a remote group's
// member set that one of its groups' rules names. A change that only adds
// deletes nothing, so creating VMs (which grows member sets) does not
// disturb anyone's flows.

// revokedAddrs returns the addresses of the ports that lost permission
// between cur and want.
func revokedAddrs(cur, want *state, ports []agentapi.Port, groups []agentapi.SecurityGroup) []netip.Addr {
	if cur == nil {
		return nil
	}
	shrunkChain := func(name string) bool {
		k := objKey{inet, name}
		c, ok := cur.chains[k]
		if !ok {
			return false // new: nothing was allowed by it before
		}
		w, ok := want.chains[k]
		if !ok {
			return true
		}
		if c.hash == emptyChain || c.hash != "" && c.hash == w.hash {
			return false // it allowed nothing, or nothing changed
		}
		if c.rules == nil {
			return true // read back from the kernel: rules unknown
		}
		have := make(map[string]bool, len(w.rules))
		for _, r := range w.rules {
			have[r.String()] = true
		}
		for _, r := range c.rules {
			if !have[r.String()] {
				return true
			}
		}
		return false
	}
	shrunkSet := func(name string) bool {
		c, ok := cur.sets[name]
		if !ok {
			return false
		}
		w, ok := want.sets[name]
		if !ok {
			return true
		}
		for _, r := range c.ranges {
			if !slices.ContainsFunc(w.ranges, func(x ipRange) bool { return covers(x, r) }) {
				return true
			}
		}
		return false
	}
	remoteShrunk := map[string]bool{}
	for name := range cur.sets {
		for _, pfx := range []string{prefixSet4, prefixSet6} {
			if len(name) > len(pfx) && name[:len(pfx)] == pfx && shrunkSet(name) {
				remoteShrunk[name[len(pfx):]] = true
			}
		}
	}
	groupShrunk := map[string]bool{}
	for _, g := range groups {
		lost := shrunkChain(prefixGroupIn+g.ID) || shrunkChain(prefixGroupEg+g.ID)
		for _, r := range g.Rules {
			if r.RemoteGroupID != nil && remoteShrunk[*r.RemoteGroupID] {
				lost = true
			}
		}
		groupShrunk[g.ID] = lost
	}
	var out []netip.Addr
	for _, p := range ports {
		if p.Tap == "" {
			continue
		}
		lost := shrunkChain(prefixIngress+p.Tap) || shrunkChain(prefixEgress+p.Tap) ||
			shrunkChain(prefixAntispoof+p.Tap)
		for _, g := range p.SecurityGroups {
			lost = lost || groupShrunk[g]
		}
		if !lost {
			continue
		}
		for _, ip := range p.FixedIPs {
			if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
				out = append(out, a)
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			if pf, err := netip.ParsePrefix(pair.IPAddress); err == nil && pf.IsSingleIP() {
				out = append(out, pf.Addr())
			} else if a, err := netip.ParseAddr(pair.IPAddress); err == nil {
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// covers reports whether range x contains range r.
func covers(x, r ipRange) bool {
	if x.start.Compare(r.start) > 0 {
		return false
	}
	if x.toMax {
		return true
	}
	if r.toMax {
		return false
	}
	return r.end.Compare(x.end) <= 0
}

// forgetFlows deletes every conntrack entry with one of addrs as its
// original source or destination or its reply source or destination (the
// last two catch flows NATed to or from the address), in the Firewall's
// namespace.
func (f *Firewall) forgetFlows(addrs []netip.Addr) (uint, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	h, err := netlink.NewHandleAt(f.ns)
	if err != nil {
		return 0, fmt.Errorf("firewall: conntrack: %w", err)
	}
	defer h.Close()
	var filters4, filters6 []netlink.CustomConntrackFilter
	for _, a := range addrs {
		ip := net.IP(a.AsSlice())
		for _, typ := range []netlink.ConntrackFilterType{netlink.ConntrackOrigSrcIP, netlink.ConntrackOrigDstIP, netlink.ConntrackReplyAnyIP} {
			flt := &netlink.ConntrackFilter{}
			if err := flt.AddIP(typ, ip); err != nil {
				return 0, fmt.Errorf("firewall: conntrack filter: %w", err)
			}
			if a.Is4() {
				filters4 = append(filters4, flt)
			} else {
				filters6 = append(filters6, flt)
			}
		}
	}
	var n uint
	for _, fam := range []struct {
		f  netlink.InetFamily
		fs []netlink.CustomConntrackFilter
	}{{unix.AF_INET, filters4}, {unix.AF_INET6, filters6}} {
		if len(fam.fs) == 0 {
			continue
		}
		d, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam.f, fam.fs...)
		n += d
		if err != nil {
			return n, fmt.Errorf("firewall: conntrack delete: %w", err)
		}
	}
	return n, nil
}
