package nat

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// desired is what the NAT maps must hold for a set of plans.
type desired struct {
	dnat     map[netip.Addr]netip.Addr // floating IP → fixed IP
	snat     map[netip.Addr]netip.Addr // fixed IP → floating IP
	realized []string                  // plan ids, sorted
}

// buildDesired turns plans into map contents. Plans are taken in id order
// so that the outcome does not depend on the order the server sent them
// in. A plan is left out (and not realised) when an address is not IPv4,
// when its floating IP equals its fixed IP or is also a fixed IP, or when
// another plan with a lower id already maps its floating IP elsewhere. A
// fixed IP with several floating IPs gets DNAT for each of them and SNAT
// to the one of the plan with the lowest id.
func buildDesired(plans []agentapi.NATPlan, log *slog.Logger) *desired {
	sorted := slices.Clone(plans)
	slices.SortStableFunc(sorted, func(a, b agentapi.NATPlan) int { return strings.Compare(a.ID, b.ID) })
	d := &desired{dnat: map[netip.Addr]netip.Addr{}, snat: map[netip.Addr]netip.Addr{}}
	type parsed struct {
		p          agentapi.NATPlan
		fip, fixed netip.Addr
	}
	var ok []parsed
	fixedIPs := map[netip.Addr]bool{}
	for _, p := range sorted {
		fip, err1 := netip.ParseAddr(p.FloatingIP)
		fixed, err2 := netip.ParseAddr(p.FixedIP)
		switch {
		case p.ID == "":
			log.Warn("nat: plan without an id left out", "floating_ip", p.FloatingIP)
			continue
		case err1 != nil || err2 != nil:
			log.Warn("nat: plan with an unparsable address left out", "plan", p.ID, "floating_ip", p.FloatingIP, "fixed_ip", p.FixedIP)
			continue
		}
		fip, fixed = fip.Unmap(), fixed.Unmap()
		if !fip.Is4() || !fixed.Is4() || fip.Zone() != "" || fixed.Zone() != "" {
			log.Warn("nat: plan that is not IPv4 left out", "plan", p.ID, "floating_ip", p.FloatingIP, "fixed_ip", p.FixedIP)
			continue
		}
		if fip == fixed || !fip.IsGlobalUnicast() && !fip.IsPrivate() || !fixed.IsGlobalUnicast() && !fixed.IsPrivate() {
			log.Warn("nat: plan with unusable addresses left out", "plan", p.ID, "floating_ip", fip, "fixed_ip", fixed)
			continue
		}
		ok = append(ok, parsed{p, fip, fixed})
		fixedIPs[fixed] = true
	}
	for _, x := range ok {
		if fixedIPs[x.fip] {
			log.Warn("nat: plan whose floating IP is another plan's fixed IP left out", "plan", x.p.ID, "floating_ip", x.fip)
			continue
		}
		if cur, taken := d.dnat[x.fip]; taken && cur != x.fixed {
			log.Warn("nat: plan whose floating IP is already mapped left out", "plan", x.p.ID, "floating_ip", x.fip, "fixed_ip", x.fixed, "mapped_to", cur)
			continue
		}
		d.dnat[x.fip] = x.fixed
		if _, taken := d.snat[x.fixed]; !taken {
			d.snat[x.fixed] = x.fip
		}
		d.realized = append(d.realized, x.p.ID)
	}
	d.realized = slices.Compact(d.realized)
	return d
}
