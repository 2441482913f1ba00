package firewall

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The privileged tests build, per test, a "hypervisor" network namespace
// whose taps are veth ends; the other ends sit in one namespace per VM. The
// hypervisor routes a /32 to each VM over its tap, holds the gateway
// 10.0.0.1 on lo and answers ARP by proxy ARP, as spinel's agent does.
// Traffic is made by the test binary itself (sockets opened inside the
// namespaces), so only iproute2 is needed.

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs (CI runs as root and installs it): root (network namespaces and nftables)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("this test needs (CI runs as root and installs it): ip (iproute2)")
	}
}

var labSeq atomic.Int64

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sysctl writes a sysctl inside a namespace.
func sysctl(t testing.TB, ns, key, val string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	run(t, "ip", "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %s > %s", val, path))
}

// newNS creates a named network namespace, deleted when the test ends.
func newNS(t testing.TB, name string) netns.NsHandle {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	// No duplicate address detection: addresses are usable at once.
	sysctl(t, name, "net.ipv6.conf.default.accept_dad", "0")
	sysctl(t, name, "net.ipv6.conf.all.accept_dad", "0")
	h, err := netns.GetFromName(name)
	if err != nil {
		exec.Command("ip", "netns", "del", name).Run()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return h
}

// inNS runs fn on a thread that has entered ns. Sockets fn opens stay in
// ns whatever goroutine uses them later. The thread is thrown away after.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

type lab struct {
	t    testing.TB
	id   string
	hv   string
	hvNS netns.NsHandle
	vms  map[string]*vm
}

type vm struct {
	name string
	ns   string
	h    netns.NsHandle
	tap  string
	mac  string
	ip   netip.Addr
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireRoot(t)
	id := fmt.Sprintf("spfw%d-%d", os.Getpid(), labSeq.Add(1))
	l := &lab{t: t, id: id, hv: id + "-hv", vms: map[string]*vm{}}
	l.hvNS = newNS(t, l.hv)
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv6.conf.all.forwarding", "1"},
	} {
		sysctl(t, l.hv, kv[0], kv[1])
	}
	run(t, "ip", "-n", l.hv, "addr", "add", "10.0.0.1/32", "dev", "lo")
	return l
}

// addVM plugs a VM namespace with address ip/24 and the given MAC on a tap
// called tap<name>.
func (l *lab) addVM(name, ip, mac string) *vm {
	t := l.t
	t.Helper()
	v := &vm{name: name, ns: l.id + "-" + name, tap: "tap" + name, mac: mac, ip: netip.MustParseAddr(ip)}
	v.h = newNS(t, v.ns)
	run(t, "ip", "-n", l.hv, "link", "add", v.tap, "type", "veth", "peer", "name", "eth0", "netns", v.ns)
	run(t, "ip", "-n", l.hv, "link", "set", v.tap, "address", agentapi.HostMAC, "up")
	sysctl(t, l.hv, "net.ipv4.conf."+v.tap+".proxy_arp", "1")
	sysctl(t, l.hv, "net.ipv4.conf."+v.tap+".rp_filter", "0")
	sysctl(t, l.hv, "net.ipv4.neigh."+v.tap+".proxy_delay", "0")
	run(t, "ip", "-n", l.hv, "route", "add", ip+"/32", "dev", v.tap)
	run(t, "ip", "-n", v.ns, "link", "set", "eth0", "address", mac, "up")
	run(t, "ip", "-n", v.ns, "addr", "add", ip+"/24", "dev", "eth0")
	run(t, "ip", "-n", v.ns, "route", "add", "default", "via", "10.0.0.1")
	// ARP with the primary address whatever the packet's source, so that
	// a spoofed source meets the IP check rather than an ARP failure.
	sysctl(t, v.ns, "net.ipv4.conf.all.arp_announce", "2")
	l.vms[name] = v
	return v
}

// firewall creates a Firewall inside the hypervisor namespace.
func (l *lab) firewall() *Firewall {
	l.t.Helper()
	var f *Firewall
	err := inNS(l.hvNS, func() error {
		var err error
		f, err = New(testLogger(l.t))
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { f.Close() })
	return f
}

// port is the agentapi.Port of a VM, port security on, in groups.
func (v *vm) port(groups ...string) agentapi.Port {
	return agentapi.Port{
		ID:                  "port-" + v.name,
		Tap:                 v.tap,
		MAC:                 v.mac,
		AdminStateUp:        true,
		PortSecurityEnabled: true,
		FixedIPs:            []agentapi.FixedIP{{SubnetID: "subnet", IPAddress: v.ip.String()}},
		SecurityGroups:      groups,
	}
}

type testWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ---- traffic ----

const (
	passWait = 2 * time.Second        // how long a packet that should pass may take
	dropWait = 400 * time.Millisecond // how long to wait for one that should not
)

// udpProbe sends a datagram from (src, sport) in v to (dst, dport) in to
// and reports whether it arrived.
func (l *lab) udpProbe(v *vm, src string, sport int, to *vm, dst string, dport int, wait time.Duration) bool {
	t := l.t
	t.Helper()
	var ln *net.UDPConn
	listen := func() error {
		return inNS(to.h, func() error {
			var err error
			ln, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(dst), Port: dport})
			return err
		})
	}
	// Under heavy parallel load a just-closed listener's port has been
	// seen still busy for a moment: retry briefly before failing.
	err := listen()
	for i := 0; err != nil && errors.Is(err, syscall.EADDRINUSE) && i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		err = listen()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	token := fmt.Sprintf("probe-%d", labSeq.Add(1))
	if err := inNS(v.h, func() error {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src), Port: sport}, &net.UDPAddr{IP: net.ParseIP(dst), Port: dport})
		if err != nil {
			return err
		}
		defer c.Close()
		// A few copies: the first may wait for ARP.
		for range 3 {
			if _, err := c.Write([]byte(token)); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ln.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 100)
	for {
		n, _, err := ln.ReadFromUDP(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == token {
			return true
		}
	}
}

// listenTCP accepts (and closes) connections on addr inside v until the
// test ends.
func (l *lab) listenTCP(ns netns.NsHandle, addr string) {
	t := l.t
	t.Helper()
	var ln net.Listener
	if err := inNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// tcpConnect reports whether a TCP connection from v to addr succeeds.
func (l *lab) tcpConnect(v *vm, addr string, wait time.Duration) bool {
	var c net.Conn
	err := inNS(v.h, func() error {
		var err error
		d := net.Dialer{Timeout: wait}
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// pinger is a raw ICMP socket inside a VM.
type pinger struct {
	c  *net.IPConn
	id uint16
	v6 bool
}

var pingID atomic.Uint32

func (l *lab) pinger(v *vm) *pinger { return l.pingerOf(v, false) }

func (l *lab) pingerOf(v *vm, v6 bool) *pinger {
	l.t.Helper()
	var c *net.IPConn
	network := "ip4:icmp"
	if v6 {
		network = "ip6:ipv6-icmp"
	}
	if err := inNS(v.h, func() error {
		var err error
		c, err = net.ListenIP(network, nil)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.Close() })
	return &pinger{c: c, id: uint16(os.Getpid()) ^ uint16(pingID.Add(1)), v6: v6}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ping sends one echo request and waits for its reply.
func (p *pinger) ping(dst string, seq uint16, wait time.Duration) bool {
	msg := make([]byte, 16)
	request, reply := byte(8), byte(0)
	if p.v6 {
		request, reply = 128, 129 // the kernel fills in the ICMPv6 checksum
	}
	msg[0] = request
	binary.BigEndian.PutUint16(msg[4:], p.id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], "spinelfw")
	if !p.v6 {
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	}
	to := &net.IPAddr{IP: net.ParseIP(dst)}
	if _, err := p.c.WriteTo(msg, to); err != nil {
		return false
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1500)
	for {
		p.c.SetReadDeadline(deadline)
		n, from, err := p.c.ReadFrom(buf)
		if err != nil {
			return false
		}
		b := buf[:n]
		if len(b) >= 8 && b[0] == reply && binary.BigEndian.Uint16(b[4:]) == p.id &&
			binary.BigEndian.Uint16(b[6:]) == seq && from.String() == dst {
			return true
		}
	}
}

// pingOK tries a few times (the first echo may wait for ARP).
func (p *pinger) pingOK(dst string) bool {
	for i := range 3 {
		if p.ping(dst, uint16(1000+i), passWait/3) {
			return true
		}
	}
	return false
}

// arpProbe sends, from v's eth0, an ARP request for target with the given
// sender MAC and IP, and reports whether an answer came back.
func (l *lab) arpProbe(v *vm, senderMAC, senderIP, target string, wait time.Duration) bool {
	t := l.t
	t.Helper()
	sha, err := net.ParseMAC(senderMAC)
	if err != nil {
		t.Fatal(err)
	}
	spa := netip.MustParseAddr(senderIP).As4()
	tpa := netip.MustParseAddr(target).As4()
	var got bool
	err = inNS(v.h, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ARP)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(proto))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return err
		}
		frame := bytes.Repeat([]byte{0xff}, 6)
		frame = append(frame, sha...)
		frame = append(frame, 0x08, 0x06)
		frame = append(frame, 0, 1, 8, 0, 6, 4, 0, 1)
		frame = append(frame, sha...)
		frame = append(frame, spa[:]...)
		frame = append(frame, 0, 0, 0, 0, 0, 0)
		frame = append(frame, tpa[:]...)
		to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6}
		copy(to.Addr[:], bytes.Repeat([]byte{0xff}, 6))
		deadline := time.Now().Add(wait)
		buf := make([]byte, 1500)
		for attempt := 0; time.Now().Before(deadline); attempt++ {
			if attempt < 3 {
				if err := unix.Sendto(fd, frame, 0, to); err != nil {
					return err
				}
			}
			tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			for time.Now().Before(deadline) {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					break
				}
				if err != nil {
					return err
				}
				a := buf[:n]
				if n >= 42 && a[12] == 0x08 && a[13] == 0x06 && a[21] == 2 && // a reply
					bytes.Equal(a[28:32], tpa[:]) && bytes.Equal(a[32:38], sha) && bytes.Equal(a[38:42], spa[:]) {
					got = true
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// neighbour returns the hypervisor's neighbour entry for ip on dev ("" if none).
func (l *lab) neighbour(ip, dev string) string {
	out, err := exec.Command("ip", "-n", l.hv, "neigh", "show", ip, "dev", dev).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip neigh: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// dumpRuleset logs the hypervisor's ruleset when nft happens to be
// installed (debugging aid only; nothing depends on it).
func (l *lab) dumpRuleset() {
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	out, _ := exec.Command("ip", "netns", "exec", l.hv, "nft", "list", "ruleset").CombinedOutput()
	l.t.Logf("ruleset of %s:\n%s", l.hv, out)
}

// flow pings dst from v every interval until stopped and counts losses.
type flow struct {
	sent, lost atomic.Int64
	cancel     context.CancelFunc
	done       chan struct{}
}

func (l *lab) startFlow(v *vm, dst string, interval time.Duration) *flow {
	p := l.pinger(v)
	ctx, cancel := context.WithCancel(context.Background())
	f := &flow{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		base := p.id
		for seq := uint16(1); ctx.Err() == nil; seq++ {
			// A new echo id each time: each echo is a new conntrack entry
			// and must pass the security group rules, not just the
			// established rule.
			p.id = base + seq
			f.sent.Add(1)
			if !p.ping(dst, seq, 500*time.Millisecond) {
				f.lost.Add(1)
			}
			time.Sleep(interval)
		}
	}()
	return f
}

func (f *flow) stop() (sent, lost int64) {
	f.cancel()
	<-f.done
	return f.sent.Load(), f.lost.Load()
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
