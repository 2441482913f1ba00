// Package firewall is the hypervisor agent's nftables programming:
// anti-spoofing for VM ports, Neutron security groups, and a guard on what
// taps may send to the host itself. It speaks netlink directly
// (github.com/google/nftables); no nft binary is needed.
//
// Everything lives in spinel's own tables, "inet spinel" and "arp spinel";
// nothing else in the ruleset is read or changed. Layout:
//
//	table inet spinel
//	  map antispoof  ifname → verdict   tap → jump as-<tap> (accept: port security off)
//	  map egress     ifname → verdict   tap → jump eg-<tap>
//	  map ingress    ifname → verdict   tap → jump in-<tap>
//	  set sg4-<group>, sg6-<group>      remote group members (interval sets)
//	  chain prerouting       hook prerouting, priority raw (-300): iifname vmap @antispoof; iifname "tap*" drop
//	  chain forward-egress   hook forward, priority 0: iifname vmap @egress; iifname "tap*" drop
//	  chain forward-ingress  hook forward, priority 1: oifname vmap @ingress; oifname "tap*" drop
//	  chain input            hook input, priority 0: iifname "tap*" jump tap-guard
//	  chain tap-guard        ct established,related, DHCP, DHCPv6, ICMP, ICMPv6, metadata :80 accept; drop
//	  chain as-<tap>         DHCP/DHCPv6 server, RA and redirect drops; (MAC, source) accepts; drop
//	  chain in-<tap>, eg-<tap>  ct established,related accept; ct invalid drop; PMTU ICMP accept;
//	                            jump sgi-<group> / sge-<group> per group; drop
//	  chain sgi-<group>, sge-<group>  one rule per security group rule, each ending in accept
//	table arp spinel
//	  map ports      ifname → verdict   tap → jump as-<tap>
//	  chain input    hook input, priority 0: iifname vmap @ports; iifname "tap*" drop
//	  chain as-<tap> non-Ethernet/IPv4 ARP drop; (sender MAC, sender IP) accepts; drop
//
// An accept ends only its own base chain, so a packet between two VMs of
// the host passes the sender's egress chain and then the receiver's
// ingress chain; a drop anywhere is final. Taps with spinel's prefix that
// no port claims are dropped.
//
// Each rule carries a comment with its chain's content hash and its index.
// Apply computes the whole desired state, compares it with what it last
// applied (after a start: with what the kernel holds, read back once) and
// sends only the difference as one transaction: chains whose hash changed
// are flushed and refilled in place, member sets get element additions and
// deletions, map elements are added and removed one by one. The tables are
// never deleted while the agent runs, and a restart rewrites nothing that
// is already right, so traffic keeps flowing across agent restarts.
package firewall

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Firewall programs spinel's nftables tables in one network namespace.
// Its methods may be called from any goroutine.
type Firewall struct {
	log *slog.Logger
	ns  netns.NsHandle // -1 once closed

	mu    sync.Mutex
	conn  *nftables.Conn // lasting; nil until needed and after a failure
	cur   *state         // what the kernel holds after the last Apply; nil: read it back first
	memo  *memo          // what the last Apply built
	stats ApplyStats
}

// ApplyStats describes the last Apply.
type ApplyStats struct {
	// Revoked counts the port addresses whose conntrack entries were
	// deleted because the Apply took permission away.
	Revoked  int
	Resynced bool          // the kernel's state was read back first
	Messages int           // netlink messages in the transaction (0: nothing sent)
	Ops      []string      // what the transaction did, one line per step
	Took     time.Duration // the whole Apply, reading back included
	Sent     time.Duration // of which sending the transaction and reading its acks
}

// New returns a Firewall for the network namespace of the calling thread.
// It changes nothing until the first Apply.
func New(log *slog.Logger) (*Firewall, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("firewall: network namespace: %w", err)
	}
	f := &Firewall{log: log, ns: ns}
	c, err := f.connection()
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("firewall: nftables not usable: %w", err)
	}
	return f, nil
}

// Close releases the Firewall's netlink socket and its handle on the
// namespace; Apply fails after it. The rules stay.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropConnection()
	if !f.ns.IsOpen() {
		return nil
	}
	return f.ns.Close()
}

// Resync makes the next Apply read the kernel's state back instead of
// trusting what it last applied (after someone else touched spinel's
// tables, say). Apply does this by itself after a failure.
func (f *Firewall) Resync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = nil
}

// LastApply describes the last Apply.
func (f *Firewall) LastApply() ApplyStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Apply makes spinel's tables implement exactly ports and groups (groups
// holds every group the ports use and every group their rules name as a
// remote group), in one atomic netlink transaction that carries only what
// differs from the current state. Ports that cannot be programmed (no tap
// name, say) are logged and left out; the rest is applied.
func (f *Firewall) Apply(ports []agentapi.Port, groups []agentapi.SecurityGroup) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := time.Now()
	want, memo := buildDesired(ports, groups, f.log, f.memo)
	f.memo = memo

	c, err := f.connection()
	if err != nil {
		return err
	}
	cur, resynced := f.cur, false
	if cur == nil {
		if cur, err = f.readKernel(c); err != nil {
			f.dropConnection()
			return fmt.Errorf("firewall: reading spinel's tables: %w", err)
		}
		resynced = true
	}

	b := newBatch(c)
	plan(b, cur, want)
	if b.err != nil {
		f.cur = nil
		f.dropConnection() // holds the queued messages
		return fmt.Errorf("firewall: building the transaction: %w", b.err)
	}
	var sent time.Duration
	if b.msgs > 0 {
		t0 := time.Now()
		err := c.Flush()
		sent = time.Since(t0)
		if err != nil {
			// The transaction is all or nothing: read back next time, on a
			// fresh socket (this one may hold unread acknowledgements).
			f.cur = nil
			f.dropConnection()
			return fmt.Errorf("firewall: transaction of %d messages: %w", b.msgs, firstError(err))
		}
	}
	revoked := revokedAddrs(cur, want, ports, groups)
	f.cur = want
	if len(revoked) > 0 {
		n, err := f.forgetFlows(revoked)
		if err != nil {
			// The rules are in place; flows admitted earlier live on until
			// they end. Not a reason to fail the Apply.
			f.log.Warn("firewall: forgetting revoked flows", "addresses", len(revoked), "err", err)
		} else {
			f.log.Info("firewall: permission revoked, conntrack entries deleted", "addresses", len(revoked), "entries", n)
		}
	}
	f.stats = ApplyStats{Resynced: resynced, Messages: b.msgs, Ops: b.ops, Took: time.Since(start), Sent: sent, Revoked: len(revoked)}
	if b.msgs > 0 || resynced {
		f.log.Info("firewall: applied", "ports", len(ports), "groups", len(groups),
			"messages", b.msgs, "steps", len(b.ops), "resynced", resynced, "took", f.stats.Took)
		for _, op := range b.ops {
			f.log.Debug("firewall: step", "op", op)
		}
	}
	return nil
}

// connection returns the Firewall's netlink connection to nftables in its
// namespace (whatever thread the caller runs on), opening it if need be,
// with socket buffers large enough for a full first transaction and its
// acknowledgements. The socket is kept: closing a netfilter socket right
// after a transaction waits for the kernel to free the old rules (an RCU
// grace period, 10-15 ms here), which would double the cost of an Apply.
func (f *Firewall) connection() (*nftables.Conn, error) {
	if f.conn != nil {
		return f.conn, nil
	}
	if !f.ns.IsOpen() {
		return nil, errors.New("firewall: closed")
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(f.ns)), nftables.AsLasting(), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return nil, fmt.Errorf("firewall: netlink: %w", err)
	}
	f.conn = c
	return c, nil
}

// dropConnection closes the netlink connection (in the background: see
// connection) so that the next use opens a fresh one.
func (f *Firewall) dropConnection() {
	if f.conn != nil {
		go f.conn.CloseLasting()
		f.conn = nil
	}
}

const sockBuf = 64 << 20

func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], sockBuf) != nil {
				// Without CAP_NET_ADMIN: as large as net.core.*mem_max allows.
				serr = errors.Join(serr, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], sockBuf))
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("socket buffers: %w", serr)
	}
	return nil
}

// firstError shortens the library's joined per-message errors (a failed
// transaction reports one per message) to the first one and a count.
func firstError(err error) error {
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				if _, joined := x.(interface{ Unwrap() []error }); joined {
					walk(x)
					return
				}
			}
			leaves = append(leaves, e)
		default:
			leaves = append(leaves, e)
		}
	}
	walk(err)
	if len(leaves) <= 1 {
		return err
	}
	return fmt.Errorf("%w (and %d more errors)", leaves[0], len(leaves)-1)
}
