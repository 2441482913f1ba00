package dhcp6

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// Neutron's ipv6_address_mode values served by DHCPv6.
const (
	ModeStateful  = "dhcpv6-stateful"
	ModeStateless = "dhcpv6-stateless"
)

// binding is everything the server answers for one port, computed once
// per SetPorts from the port's desired state. It is immutable: a changed
// port gets a new binding swapped in atomically.
type binding struct {
	portID string
	addrs  []netip.Addr // IA_NA addresses: fixed IPs on dhcpv6-stateful subnets
	dns    []net.IP
	domain string
}

// errNoDHCP6 means that the port has no IPv6 subnet with DHCP enabled and
// PortID makes binding a tapnet.Answer.
func (b *binding) PortID() string { return b.portID }

// a DHCPv6 address mode: there is nothing to serve on its tap.
var errNoDHCP6 = fmt.Errorf("no DHCP-enabled IPv6 subnet in a dhcpv6 address mode: %w", tapnet.ErrNotServed)

// buildBinding computes the answers for port p.
func buildBinding(cfg *Config, p *agentapi.Port) (*binding, error) {
	b := &binding{portID: p.ID}
	served := map[string]*agentapi.Subnet{} // by id
	prefixes := map[string]netip.Prefix{}
	for i := range p.Subnets {
		sn := &p.Subnets[i]
		if sn.IPVersion == 4 || !sn.EnableDHCP {
			continue
		}
		switch sn.IPv6AddressMode {
		case ModeStateful, ModeStateless:
		default:
			continue // slaac, or addresses from elsewhere
		}
		pfx, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6() {
			return nil, fmt.Errorf("subnet %s: bad IPv6 CIDR %q", sn.ID, sn.CIDR)
		}
		served[sn.ID], prefixes[sn.ID] = sn, pfx.Masked()
		for _, s := range sn.DNSNameservers {
			d, err := netip.ParseAddr(s)
			if err != nil || !d.Is6() || d.Is4In6() {
				continue
			}
			if ip := net.IP(d.AsSlice()); !slices.ContainsFunc(b.dns, ip.Equal) {
				b.dns = append(b.dns, ip)
			}
		}
	}
	if len(served) == 0 {
		return nil, errNoDHCP6
	}
	for _, f := range p.FixedIPs {
		sn := served[f.SubnetID]
		if sn == nil || sn.IPv6AddressMode != ModeStateful {
			continue
		}
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil || !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("bad fixed IP %q on subnet %s", f.IPAddress, sn.ID)
		}
		if !prefixes[sn.ID].Contains(a) {
			return nil, fmt.Errorf("fixed IP %s is not in subnet %s (%s)", a, sn.ID, prefixes[sn.ID])
		}
		if !slices.Contains(b.addrs, a) {
			b.addrs = append(b.addrs, a)
		}
	}
	b.domain = strings.TrimSuffix(p.DNSDomain, ".")
	if b.domain == "" {
		b.domain = strings.TrimSuffix(cfg.DomainName, ".")
	}
	return b, nil
}

// answer returns the reply to req, or nil and why there is none. The
// server keeps no state: a port has its fixed addresses, so every answer
// is a function of the binding and the request (RFC 8415 section 18.3).
func (b *binding) answer(cfg *Config, req *dhcpv6.Message) (*dhcpv6.Message, string) {
	cid := req.GetOneOption(dhcpv6.OptionClientID)
	sid := req.GetOneOption(dhcpv6.OptionServerID)
	ours := sid != nil && bytes.Equal(sid.ToBytes(), cfg.ServerDUID.ToBytes())
	hasIA := len(req.Options.Get(dhcpv6.OptionIANA))+len(req.Options.Get(dhcpv6.OptionIATA))+
		len(req.Options.Get(dhcpv6.OptionIAPD)) > 0
	mt := req.MessageType
	switch {
	case mt == dhcpv6.MessageTypeInformationRequest:
		if sid != nil && !ours {
			return nil, "for another server"
		}
		if hasIA {
			return nil, "information request with an IA"
		}
	case cid == nil:
		return nil, "no client identifier"
	case mt == dhcpv6.MessageTypeSolicit, mt == dhcpv6.MessageTypeRebind, mt == dhcpv6.MessageTypeConfirm:
		if sid != nil {
			return nil, "server identifier in a " + mt.String()
		}
	case mt == dhcpv6.MessageTypeRequest, mt == dhcpv6.MessageTypeRenew,
		mt == dhcpv6.MessageTypeRelease, mt == dhcpv6.MessageTypeDecline:
		if !ours {
			return nil, "for another server"
		}
	default:
		return nil, "unsupported message type"
	}

	r := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: req.TransactionID}
	r.AddOption(dhcpv6.OptServerID(cfg.ServerDUID))
	if cid != nil {
		r.AddOption(cid)
	}
	switch mt {
	case dhcpv6.MessageTypeSolicit:
		if len(b.addrs) == 0 {
			// RFC 8415 section 18.3.9: a server that will assign
			// nothing says so, and only that.
			r.MessageType = dhcpv6.MessageTypeAdvertise
			r.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail,
				StatusMessage: "no stateful address on this port"})
			return r, ""
		}
		if !cfg.DisableRapidCommit && req.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
			dhcpv6.WithRapidCommit(r)
		} else {
			r.MessageType = dhcpv6.MessageTypeAdvertise
			// The highest preference makes the client request at once
			// rather than wait for other servers' advertisements.
			r.AddOption(dhcpv6.OptPreference(255))
		}
		b.addIAs(cfg, r, req)
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind:
		b.addIAs(cfg, r, req)
	case dhcpv6.MessageTypeConfirm:
		// RFC 8415 section 18.3.3: Success when every address is right
		// for the link. Only the port's own addresses are: any other
		// makes the client start over and get them.
		var addrs []netip.Addr
		for _, ia := range req.Options.IANA() {
			for _, a := range ia.Options.Addresses() {
				ip, _ := netip.AddrFromSlice(a.IPv6Addr)
				addrs = append(addrs, ip.Unmap())
			}
		}
		for _, ia := range req.Options.IATA() {
			for _, a := range ia.Options.Addresses() {
				ip, _ := netip.AddrFromSlice(a.IPv6Addr)
				addrs = append(addrs, ip.Unmap())
			}
		}
		if len(addrs) == 0 {
			return nil, "confirm without addresses"
		}
		status := &dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "addresses confirmed"}
		for _, a := range addrs {
			if !slices.Contains(b.addrs, a) {
				status = &dhcpv6.OptStatusCode{StatusCode: iana.StatusNotOnLink,
					StatusMessage: a.String() + " is not this port's"}
				break
			}
		}
		r.AddOption(status)
		return r, ""
	case dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		// Nothing to free: the addresses stay the port's.
		r.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess})
		return r, ""
	case dhcpv6.MessageTypeInformationRequest:
		r.AddOption(dhcpv6.OptInformationRefreshTime(cfg.InformationRefreshTime))
	}
	b.addConfig(r)
	return r, ""
}

// addConfig adds the other configuration: DNS servers and search domain.
// They go to every client, asked for or not.
func (b *binding) addConfig(r *dhcpv6.Message) {
	if len(b.dns) > 0 {
		r.AddOption(dhcpv6.OptDNS(b.dns...))
	}
	if b.domain != "" {
		r.AddOption(dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{b.domain}}))
	}
}

// addIAs answers the IAs of req (a Solicit, Request, Renew or Rebind):
// the first IA_NA gets every address of the port; a further IA_NA gets
// none, since the port has no more; an address the client holds that is
// not the port's gets lifetimes 0 (renewing after the port's address was
// changed). Temporary addresses and delegated prefixes are not offered.
func (b *binding) addIAs(cfg *Config, r, req *dhcpv6.Message) {
	lt := cfg.LeaseTime
	renewal := req.MessageType == dhcpv6.MessageTypeRenew || req.MessageType == dhcpv6.MessageTypeRebind
	for i, ia := range req.Options.IANA() {
		out := &dhcpv6.OptIANA{IaId: ia.IaId}
		assign := i == 0 && len(b.addrs) > 0
		if assign {
			out.T1, out.T2 = lt/2, lt*4/5
			for _, a := range b.addrs {
				out.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.IP(a.AsSlice()),
					PreferredLifetime: lt, ValidLifetime: lt})
			}
		}
		stale := 0
		if renewal {
			for _, held := range ia.Options.Addresses() {
				ip, _ := netip.AddrFromSlice(held.IPv6Addr)
				if assign && slices.Contains(b.addrs, ip.Unmap()) {
					continue
				}
				out.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: held.IPv6Addr})
				stale++
			}
		}
		switch {
		case assign || stale > 0:
		case renewal:
			out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoBinding,
				StatusMessage: "no address for this IA"})
		default:
			out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail,
				StatusMessage: "the port's addresses are in another IA"})
		}
		r.AddOption(out)
	}
	if renewal {
		return
	}
	for _, ia := range req.Options.IATA() {
		out := &dhcpv6.OptIATA{IaId: ia.IaId}
		out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail,
			StatusMessage: "no temporary addresses"})
		r.AddOption(out)
	}
	for _, ia := range req.Options.IAPD() {
		out := &dhcpv6.OptIAPD{IaId: ia.IaId}
		out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail,
			StatusMessage: "no prefix delegation"})
		r.AddOption(out)
	}
}
