// Package nat realises floating IPs of spinel's routed routers on the
// hypervisor of the port: 1:1 NAT between a floating IP and a VM's fixed
// IP, in an nftables table of spinel's own, "ip spinel-nat" (IPv4 only),
// separate from the firewall's "inet spinel" so that the two never touch
// each other's objects.
//
// Floating IPs are routed to the hypervisor as /32s (BGP); nothing is
// added for ARP. Layout:
//
//	table ip spinel-nat
//	  map fip-to-fixed  ipv4_addr : ipv4_addr   floating IP → fixed IP
//	  map fixed-to-fip  ipv4_addr : ipv4_addr   fixed IP → floating IP
//	  chain prerouting   type nat hook prerouting priority dstnat (-100)
//	    dnat to ip daddr map @fip-to-fixed
//	  chain output       type nat hook output priority -100 (traffic of the host itself)
//	    dnat to ip daddr map @fip-to-fixed
//	  chain postrouting  type nat hook postrouting priority srcnat (100)
//	    ct original ip daddr <cloud prefix> return     one rule per cloud prefix
//	    snat to ip saddr map @fixed-to-fip
//
// The SNAT test is on the conntrack original destination, not on the
// packet's (already DNATed) destination, which gives hairpinning for free:
// a VM reaching a floating IP of this host is DNATed in prerouting, and as
// it addressed a floating IP (outside the cloud prefixes) its source is
// SNATed to its own floating IP when it has one, else left alone; the
// reply returns through the hypervisor (routed, no shared L2) where
// conntrack undoes both. A VM reaching its own floating IP works the same
// way. Traffic to the cloud's own prefixes keeps fixed IPs (east-west).
// Lookups that miss make the rule not match, so traffic without a floating
// IP is untouched.
//
// Every rule carries a comment with its chain's content hash and index.
// Apply computes the desired maps, compares them with what it last applied
// (after a start or a failure: with what the kernel holds, read back once)
// and sends only the difference as one netlink transaction: map element
// deletions and additions, and chains refilled in place only when their
// hash differs (a new set of cloud prefixes, a hand edit). The table is
// never flushed or deleted, so a restarted agent rewrites nothing that is
// already right and established flows keep their NAT. Conntrack entries of
// a floating IP that is removed or remapped are deleted after the
// transaction, so removal cuts existing flows too.
package nat

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/vishvananda/netns"
)

// Config is what a NAT needs.
type Config struct {
	// CloudPrefixes is the cloud's own address space: traffic to these is
	// not SNATed (east-west keeps fixed IPs). IPv6 prefixes are ignored.
	CloudPrefixes []netip.Prefix
}

// Names in the kernel.
const (
	TableName      = "spinel-nat"
	MapDNAT        = "fip-to-fixed"
	MapSNAT        = "fixed-to-fip"
	ChainPre       = "prerouting"
	ChainOutput    = "output"
	ChainPost      = "postrouting"
	commentPrefix  = "spinel-nat"
	rulesetVersion = "1"
)

// NAT programs the "ip spinel-nat" table of one network namespace. Its
// methods may be called from any goroutine.
type NAT struct {
	log    *slog.Logger
	ns     netns.NsHandle
	chains []chainSpec // the three chains, with their rules and hashes

	mu    sync.Mutex
	conn  *nftables.Conn
	cur   *kernelState // what the kernel holds; nil: read it back first
	stats ApplyStats
}

// ApplyStats describes the last Apply.
type ApplyStats struct {
	Resynced     bool          // the kernel's state was read back first
	Messages     int           // netlink messages in the transaction (0: nothing sent)
	Ops          []string      // what the transaction did
	Conntrack    uint          // conntrack entries deleted for removed or remapped floating IPs
	ConntrackErr error         // why deleting them failed, if it did (best effort)
	Took         time.Duration // the whole Apply
}

// New returns a NAT for the network namespace of the calling thread. It
// changes nothing until the first Apply.
func New(cfg Config, log *slog.Logger) (*NAT, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cloud []netip.Prefix
	for _, p := range cfg.CloudPrefixes {
		if !p.IsValid() || !p.Addr().Unmap().Is4() {
			log.Warn("nat: ignoring a cloud prefix that is not IPv4", "prefix", p.String())
			continue
		}
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		cloud = append(cloud, netip.PrefixFrom(p.Addr().Unmap(), bits).Masked())
	}
	slices.SortFunc(cloud, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	cloud = slices.Compact(cloud)
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("nat: network namespace: %w", err)
	}
	n := &NAT{log: log, ns: ns, chains: buildChains(cloud)}
	c, err := n.connection()
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("nat: nftables not usable: %w", err)
	}
	return n, nil
}

// Close releases the netlink socket and the namespace handle; Apply fails
// after it. The rules stay.
func (n *NAT) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropConnection()
	if !n.ns.IsOpen() {
		return nil
	}
	err := n.ns.Close()
	n.ns = netns.None()
	return err
}

// Resync makes the next Apply read the kernel's state back instead of
// trusting what it last applied.
func (n *NAT) Resync() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cur = nil
}

// LastApply describes the last Apply.
func (n *NAT) LastApply() ApplyStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Apply makes the table realise exactly plans (this host's plans), in one
// atomic transaction carrying only what differs, and returns the ids of the
// plans whose rules are in place. Plans that cannot be realised (not IPv4,
// a floating IP another plan already maps) are logged and left out. On an
// error nothing was changed and realized is nil.
func (n *NAT) Apply(plans []agentapi.NATPlan) (realized []string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	start := time.Now()
	want := buildDesired(plans, n.log)

	c, err := n.connection()
	if err != nil {
		return nil, err
	}
	cur, resynced := n.cur, false
	if cur == nil {
		if cur, err = n.readKernel(c); err != nil {
			n.dropConnection()
			return nil, fmt.Errorf("nat: reading %s: %w", TableName, err)
		}
		resynced = true
	}

	b := &batch{c: c}
	stale := n.plan(b, cur, want)
	if b.err != nil {
		n.cur = nil
		n.dropConnection()
		return nil, fmt.Errorf("nat: building the transaction: %w", b.err)
	}
	if b.msgs > 0 {
		if err := c.Flush(); err != nil {
			n.cur = nil
			n.dropConnection()
			return nil, fmt.Errorf("nat: transaction of %d messages: %w", b.msgs, err)
		}
	}
	n.cur = &kernelState{table: true, dnat: want.dnat, snat: want.snat, mapsOK: true, chains: map[string]*chainState{}}
	for _, cs := range n.chains {
		n.cur.chains[cs.name] = &chainState{hash: cs.hash, shapeOK: true}
	}
	n.stats = ApplyStats{Resynced: resynced, Messages: b.msgs, Ops: b.ops}
	if len(stale) > 0 {
		n.stats.Conntrack, n.stats.ConntrackErr = n.forgetConntrack(stale)
		if n.stats.ConntrackErr != nil {
			n.log.Warn("nat: deleting conntrack entries of removed floating IPs", "err", n.stats.ConntrackErr)
		}
	}
	n.stats.Took = time.Since(start)
	if b.msgs > 0 || resynced {
		n.log.Info("nat: applied", "plans", len(plans), "realized", len(want.realized), "messages", b.msgs,
			"resynced", resynced, "conntrack_deleted", n.stats.Conntrack, "took", n.stats.Took)
		for _, op := range b.ops {
			n.log.Debug("nat: step", "op", op)
		}
	}
	return slices.Clone(want.realized), nil
}

func (n *NAT) connection() (*nftables.Conn, error) {
	if n.conn != nil {
		return n.conn, nil
	}
	if !n.ns.IsOpen() {
		return nil, errors.New("nat: closed")
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nat: netlink: %w", err)
	}
	n.conn = c
	return c, nil
}

// dropConnection closes the socket in the background (closing a netfilter
// socket right after a transaction waits for an RCU grace period).
func (n *NAT) dropConnection() {
	if n.conn != nil {
		go n.conn.CloseLasting()
		n.conn = nil
	}
}

// ruleComment is the comment of rule i of a chain with content hash h.
func ruleComment(h string, i int) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, fmt.Sprintf("%s:%s:%d", commentPrefix, h, i))
}
