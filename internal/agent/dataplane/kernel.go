package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// dumpAttempts bounds the retries of a dump the kernel interrupted
// (NLM_F_DUMP_INTR: the table changed while it was read).
const dumpAttempts = 5

// retryDump runs dump until it is not interrupted.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var (
		res []T
		err error
	)
	for range dumpAttempts {
		res, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return res, err
		}
	}
	return nil, err
}

func (a *applier) listLinks() ([]netlink.Link, error) {
	return retryDump(a.d.h.LinkList)
}

// listRoutes returns spinel's routes (its protocol) in the main table.
func (a *applier) listRoutes() ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) {
		return a.d.h.RouteListFiltered(netlink.FAMILY_ALL,
			&netlink.Route{Protocol: a.d.cfg.RouteProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
}

func (a *applier) listNeighs(fam int) ([]netlink.Neigh, error) {
	return retryDump(func() ([]netlink.Neigh, error) { return a.d.h.NeighList(0, fam) })
}

// ifaProto is IFA_PROTO (linux/if_addr.h, kernel 5.18), which
// golang.org/x/sys and vishvananda/netlink do not know yet.
const ifaProto = 11

// loAddr is an address on lo.
type loAddr struct {
	prefix netip.Prefix
	label  string
	proto  uint8
}

// listLoAddrs dumps the addresses of link index lo with their address
// protocol, which netlink.AddrList does not return.
func (a *applier) listLoAddrs(lo int) ([]loAddr, error) {
	return retryDump(func() ([]loAddr, error) {
		req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		req.Sockets = a.d.sockets
		req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
		if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
			return nil, err
		}
		var res []loAddr
		for _, m := range msgs {
			msg := nl.DeserializeIfAddrmsg(m)
			if int(msg.Index) != lo {
				continue
			}
			attrs, perr := nl.ParseRouteAttr(m[msg.Len():])
			if perr != nil {
				return nil, perr
			}
			var (
				la          loAddr
				local, addr []byte
			)
			for _, at := range attrs {
				switch at.Attr.Type {
				case unix.IFA_LOCAL:
					local = at.Value
				case unix.IFA_ADDRESS:
					addr = at.Value
				case unix.IFA_LABEL:
					la.label = strings.TrimRight(string(at.Value), "\x00")
				case ifaProto:
					if len(at.Value) > 0 {
						la.proto = at.Value[0]
					}
				}
			}
			if local != nil {
				addr = local
			}
			ip, ok := netip.AddrFromSlice(addr)
			if !ok {
				continue
			}
			la.prefix = netip.PrefixFrom(ip, int(msg.Prefixlen))
			res = append(res, la)
		}
		if errors.Is(err, nl.ErrDumpInterrupted) {
			err = netlink.ErrDumpInterrupted
		}
		return res, err
	})
}

// ours reports whether spinel added the address: it carries spinel's
// address protocol or (IPv4, in case of a kernel without IFA_PROTO)
// spinel's label.
func (a *applier) ours(la loAddr) bool {
	return la.proto == uint8(a.d.cfg.RouteProtocol) || (la.prefix.Addr().Is4() && la.label == LoLabel)
}

// addLoAddr adds ip as a host address (/32 or /128, no prefix route, no
// DAD) on lo, marked as spinel's.
func (a *applier) addLoAddr(lo int, ip netip.Addr) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.Sockets = a.d.sockets
	msg := nl.NewIfAddrmsg(family(ip))
	msg.Index = uint32(lo)
	msg.Prefixlen = uint8(ip.BitLen())
	msg.Scope = unix.RT_SCOPE_UNIVERSE
	req.AddData(msg)
	b := ip.AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, b))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, b))
	flags := uint32(unix.IFA_F_NOPREFIXROUTE)
	if ip.Is4() {
		req.AddData(nl.NewRtAttr(unix.IFA_LABEL, nl.ZeroTerminated(LoLabel)))
	} else {
		flags |= unix.IFA_F_NODAD
	}
	req.AddData(nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(flags)))
	req.AddData(nl.NewRtAttr(ifaProto, []byte{uint8(a.d.cfg.RouteProtocol)}))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// syncAddrs adds the gateway addresses missing on lo. An address that is
// already on lo, spinel's or not, is enough: the host answers for it.
func (a *applier) syncAddrs() {
	if len(a.gateways) == 0 && a.lo == nil {
		return
	}
	failGateways := func(err error) {
		for _, owners := range a.gateways {
			for _, ps := range owners {
				ps.fail(err)
			}
		}
	}
	if a.lo == nil {
		failGateways(errors.New("no loopback interface for the gateway addresses"))
		return
	}
	have, err := a.listLoAddrs(a.lo.Attrs().Index)
	if err != nil {
		err = fmt.Errorf("listing addresses on lo: %w", err)
		a.global = append(a.global, fmt.Errorf("dataplane: %w", err))
		failGateways(err)
		a.loListed = false
		return
	}
	a.loListed, a.loAddrs = true, have
	onLo := map[netip.Addr]bool{}
	for _, la := range have {
		onLo[la.prefix.Addr()] = true
	}
	for gw, owners := range a.gateways {
		if onLo[gw] {
			continue
		}
		a.d.writes++
		if err := a.addLoAddr(a.lo.Attrs().Index, gw); err != nil {
			for _, ps := range owners {
				ps.fail(fmt.Errorf("adding gateway %s on lo: %w", gw, err))
			}
			continue
		}
		a.d.log.Debug("gateway address added", "op", "addr-add", "ip", gw)
	}
}

// sweepAddrs removes spinel's addresses on lo that no port needs.
func (a *applier) sweepAddrs() {
	if !a.loListed {
		return
	}
	for _, la := range a.loAddrs {
		if !a.ours(la) {
			continue
		}
		if _, ok := a.gateways[la.prefix.Addr()]; ok && la.prefix.IsSingleIP() {
			continue
		}
		a.d.writes++
		addr := &netlink.Addr{IPNet: prefixToIPNet(la.prefix)}
		if la.prefix.Addr().Is4() {
			addr.Label = la.label
		}
		if err := a.d.h.AddrDel(a.lo, addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			a.global = append(a.global, fmt.Errorf("dataplane: deleting %s from lo: %w", la.prefix, err))
			continue
		}
		a.d.log.Debug("gateway address deleted", "op", "addr-del", "ip", la.prefix)
	}
}

// globalSysctls sets the host-wide sysctls of a routed hypervisor.
// Failures are global errors: they do not fail any one port.
func (a *applier) globalSysctls() {
	for _, s := range [...]struct{ name, value string }{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv6/conf/all/forwarding", "1"},
		{"net/ipv4/conf/all/ignore_routes_with_linkdown", "1"},
		{"net/ipv6/conf/all/ignore_routes_with_linkdown", "1"},
		{"net/ipv4/fib_multipath_hash_policy", "1"},
		{"net/ipv6/fib_multipath_hash_policy", "1"},
	} {
		if err := a.d.ensureSysctl(s.name, s.value); err != nil {
			a.global = append(a.global, fmt.Errorf("dataplane: %w", err))
		}
	}
}

// tapSysctls sets a tap's sysctls: proxy ARP answered at once (the host
// answers for the gateway and for same-subnet peers), forwarding, and
// strict reverse-path filtering as the first anti-spoofing line (lab
// notes' recommendation; nftables' fib check is the complete one).
func (a *applier) tapSysctls(ps *portState) {
	t := ps.tap
	for _, s := range [...]struct{ name, value string }{
		{"net/ipv4/conf/" + t + "/forwarding", "1"},
		{"net/ipv4/conf/" + t + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + t + "/proxy_delay", "0"},
		{"net/ipv4/conf/" + t + "/rp_filter", "1"},
		{"net/ipv6/conf/" + t + "/forwarding", "1"},
	} {
		err := a.d.ensureSysctl(s.name, s.value)
		if err != nil && errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s.name, "net/ipv6/") && !hasV6(ps) {
			// IPv6 is off on this tap (MTU below 1280, or
			// disabled) and the port has no IPv6 address.
			continue
		}
		if err != nil {
			ps.fail(err)
		}
	}
}

func hasV6(ps *portState) bool {
	for _, f := range ps.port.FixedIPs {
		if ip, err := netip.ParseAddr(f.IPAddress); err == nil && ip.Unmap().Is6() {
			return true
		}
	}
	return false
}

// ensureSysctl sets /proc/sys/<name> to value unless it holds it already.
// It must run in the Dataplane's namespace (see inNS).
func (d *Dataplane) ensureSysctl(name, value string) error {
	p := path.Join("/proc/sys", name)
	dotted := strings.ReplaceAll(name, "/", ".")
	cur, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", dotted, err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return nil
	}
	d.writes++
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", dotted, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", dotted, value, err)
	}
	d.log.Debug("sysctl set", "op", "sysctl", "name", dotted, "value", value)
	return nil
}
