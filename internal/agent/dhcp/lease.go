package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/spinel-net/spinel/internal/agent/dhcp/tapnet"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// lease is everything the server answers for one port, computed once per
// SetPorts from the port's desired state. It is immutable: a changed port
// gets a new lease swapped in atomically.
type lease struct {
	portID   string
	mac      net.HardwareAddr
	ip       netip.Addr
	mask     net.IPMask
	serverID netip.Addr
	// opts are the configuration options of an OFFER or ACK, server
	// identifier and lease times included; 249 and the per-message
	// options are added per reply.
	opts dhcpv4.Options
	// routes is the classless static route list (options 121 and 249).
	routes dhcpv4.Routes
}

// PortID makes lease a tapnet.Answer.
func (l *lease) PortID() string { return l.portID }

// errNoDHCP means that the port has no IPv4 address on a subnet with DHCP
// enabled: there is nothing to serve on its tap.
var errNoDHCP = fmt.Errorf("no IPv4 fixed IP on a DHCP-enabled subnet: %w", tapnet.ErrNotServed)

// defaultMetadataIP is the address of the metadata service.
var defaultMetadataIP = netip.AddrFrom4([4]byte{169, 254, 169, 254})

// buildLease computes the answer for port p.
func buildLease(cfg *Config, p *agentapi.Port) (*lease, error) {
	mac, err := net.ParseMAC(p.MAC)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("bad MAC %q", p.MAC)
	}
	subnets := make(map[string]*agentapi.Subnet, len(p.Subnets))
	for i := range p.Subnets {
		subnets[p.Subnets[i].ID] = &p.Subnets[i]
	}
	// The first IPv4 fixed IP on a DHCP-enabled subnet, in the port's
	// order: DHCP hands out one address, further ones need config drive.
	var (
		ip     netip.Addr
		subnet *agentapi.Subnet
		prefix netip.Prefix
	)
	for _, f := range p.FixedIPs {
		sn := subnets[f.SubnetID]
		if sn == nil || !sn.EnableDHCP || sn.IPVersion == 6 {
			continue
		}
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil || !a.Is4() {
			continue
		}
		pfx, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || !pfx.Addr().Is4() {
			return nil, fmt.Errorf("subnet %s: bad CIDR %q", sn.ID, sn.CIDR)
		}
		ip, subnet, prefix = a, sn, pfx.Masked()
		break
	}
	if subnet == nil {
		return nil, errNoDHCP
	}
	if !prefix.Contains(ip) {
		return nil, fmt.Errorf("fixed IP %s is not in subnet %s (%s)", ip, subnet.ID, prefix)
	}

	var gw netip.Addr
	if subnet.GatewayIP != "" {
		gw, err = netip.ParseAddr(subnet.GatewayIP)
		if err != nil || !gw.Is4() {
			return nil, fmt.Errorf("subnet %s: bad gateway %q", subnet.ID, subnet.GatewayIP)
		}
	}
	// The server identifier is the subnet's gateway: it is a local
	// address on every hypervisor (a /32 on lo), so a unicast renewal reaches the
	// agent of whichever host the VM runs on, also after a migration.
	serverID := gw
	if !serverID.IsValid() {
		serverID = cfg.ServerID
	}
	if !serverID.IsValid() || !serverID.Is4() {
		return nil, fmt.Errorf("subnet %s has no gateway and no Config.ServerID is set", subnet.ID)
	}

	l := &lease{
		portID:   p.ID,
		mac:      mac,
		ip:       ip,
		mask:     net.CIDRMask(prefix.Bits(), 32),
		serverID: serverID,
		opts:     dhcpv4.Options{},
	}
	o := l.opts
	o.Update(dhcpv4.OptSubnetMask(l.mask))
	o.Update(dhcpv4.OptServerIdentifier(ip4(serverID)))
	lt := cfg.LeaseTime
	o.Update(dhcpv4.OptIPAddressLeaseTime(lt))
	o.Update(dhcpv4.OptRenewTimeValue(lt / 2))
	o.Update(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
	if gw.IsValid() {
		o.Update(dhcpv4.OptRouter(ip4(gw)))
	}
	var dns []net.IP
	for _, s := range subnet.DNSNameservers {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			dns = append(dns, ip4(a))
		}
	}
	if len(dns) > 0 {
		o.Update(dhcpv4.OptDNS(dns...))
	}
	if h := hostname(p, ip); h != "" {
		o.Update(dhcpv4.OptHostName(h))
	}
	domain := strings.TrimSuffix(p.DNSDomain, ".")
	if domain == "" {
		domain = strings.TrimSuffix(cfg.DomainName, ".")
	}
	if domain != "" {
		o.Update(dhcpv4.OptDomainName(domain))
	}
	if p.MTU >= 68 && p.MTU <= 0xffff {
		o.Update(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU,
			Value: dhcpv4.Uint16(uint16(p.MTU))})
	}

	l.routes = classlessRoutes(subnet, prefix, gw, cfg.MetadataIP)
	if len(l.routes) > 0 {
		o.Update(dhcpv4.OptClasslessStaticRoute(l.routes...))
	}
	return l, nil
}

// classlessRoutes is option 121's content: the subnet's host routes, an
// on-link route to a gateway outside the subnet, the metadata address via
// the gateway and, since a client that gets option 121 ignores option 3
// (RFC 3442), the default route via the gateway. A host route for the
// same destination takes precedence over the last two.
func classlessRoutes(sn *agentapi.Subnet, prefix netip.Prefix, gw, metadata netip.Addr) dhcpv4.Routes {
	var routes dhcpv4.Routes
	seen := map[netip.Prefix]bool{}
	add := func(dst netip.Prefix, via netip.Addr) {
		dst = dst.Masked()
		if seen[dst] {
			return
		}
		seen[dst] = true
		routes = append(routes, &dhcpv4.Route{
			Dest:   &net.IPNet{IP: ip4(dst.Addr()), Mask: net.CIDRMask(dst.Bits(), 32)},
			Router: ip4(via),
		})
	}
	for _, hr := range sn.HostRoutes {
		dst, err := netip.ParsePrefix(hr.Destination)
		if err != nil || !dst.Addr().Is4() {
			continue
		}
		via, err := netip.ParseAddr(hr.Nexthop)
		if err != nil || !via.Is4() {
			continue
		}
		add(dst, via)
	}
	if !gw.IsValid() {
		return routes
	}
	if !prefix.Contains(gw) {
		add(netip.PrefixFrom(gw, 32), netip.IPv4Unspecified())
	}
	if metadata.IsValid() && metadata.Is4() {
		add(netip.PrefixFrom(metadata, 32), gw)
	}
	add(netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw)
	return routes
}

// hostname is option 12: the port's hostname, without a domain it may
// carry, or Neutron's default "host-10-0-0-5".
func hostname(p *agentapi.Port, ip netip.Addr) string {
	h := strings.TrimSuffix(p.Hostname, ".")
	if h == "" {
		return "host-" + strings.ReplaceAll(ip.String(), ".", "-")
	}
	if d := strings.TrimSuffix(p.DNSDomain, "."); d != "" {
		h = strings.TrimSuffix(h, "."+d)
	}
	return h
}

func ip4(a netip.Addr) net.IP {
	b := a.As4()
	return net.IP(b[:])
}
