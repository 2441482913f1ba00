package fabric

// Shared helpers of the privileged fabric tests and benchmarks: one lab
// (2 hypervisors, 1 VM each, the first VM with a floating IP) is brought up
// lazily by the first test or benchmark that needs it and brought down by
// TestMain; an API client that dials from inside the ctl namespace; route
// lookups in the ToRs' and hypervisors' kernels over netlink; ping parsing.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/lab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

const (
	internetIP   = "203.0.113.1"
	learnedProto = netlink.RouteProtocol(251)
	apiBase      = "http://127.0.0.1:9696"
	udpPort      = 9999
)

// env is the shared lab.
type env struct {
	opts  lab.Options
	s     *lab.State
	api   *apiClient
	tors  []*netlink.Handle // by ToR index
	hvs   []*netlink.Handle // by hypervisor index
	base  string
	upLog bytes.Buffer
}

var (
	shared    *env
	sharedErr error
	sharedMu  sync.Mutex
	skipWhy   string
)

func TestMain(m *testing.M) {
	switch os.Getenv("SPINEL_FABRIC_CHILD") {
	case "udprecv":
		os.Exit(udpRecv())
	case "udpsend":
		os.Exit(udpSend())
	}
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		if err := lab.Down(context.Background(), shared.opts); err != nil {
			fmt.Fprintf(os.Stderr, "lab.Down: %v\n", err)
			code = 1
		}
		for _, h := range append(shared.tors, shared.hvs...) {
			if h != nil {
				h.Close()
			}
		}
		os.RemoveAll(shared.base)
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// fab returns the shared lab, bringing it up on first use.
func fab(tb testing.TB) *env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("fabric test (privileged, brings up a lab)")
	}
	if os.Geteuid() != 0 {
		tb.Fatal("this test needs root (CI runs as root)")
	}
	for _, f := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd"} {
		if _, err := os.Stat(f); err != nil {
			tb.Fatal("this test needs Debian's frr (CI installs it)")
		}
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if skipWhy != "" {
		tb.Skip(skipWhy)
	}
	if shared == nil && sharedErr == nil {
		shared, sharedErr = up()
		if sharedErr != nil && shared != nil {
			// Partial lab: TestMain still brings it down.
			tb.Logf("Up output:\n%s", shared.upLog.String())
			dumpLogs(tb, shared.opts.Dir)
		}
	}
	if sharedErr != nil {
		tb.Fatalf("lab: %v", sharedErr)
	}
	return shared
}

func up() (*env, error) {
	base, err := os.MkdirTemp("", "spinel-fabric-")
	if err != nil {
		return nil, err
	}
	os.Chmod(base, 0o755) // FRR runs as user frr
	bin := filepath.Join(base, "spinel")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/spinel-net/spinel/cmd/spinel").CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	e := &env{base: base}
	e.opts = lab.Options{Dir: filepath.Join(base, "lab"), Hypervisors: 2, VMsPerHypervisor: 1, Binary: bin, Out: &e.upLog, BGP: "on"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := lab.Up(ctx, e.opts); err != nil {
		return e, fmt.Errorf("Up: %w", err)
	}
	fmt.Fprintf(os.Stderr, "fabric: lab up in %v\n", time.Since(t0).Round(time.Millisecond))
	if e.s, err = lab.LoadState(e.opts); err != nil {
		return e, err
	}
	if len(e.s.VMs) != 2 || e.s.VMs[0].FloatingIP == "" {
		return e, fmt.Errorf("unexpected VMs in state: %+v", e.s.VMs)
	}
	e.api = newAPIClient(e.s.Ctl)
	t1 := time.Now()
	if err := e.waitSpine(); err != nil {
		return e, err
	}
	fmt.Fprintf(os.Stderr, "fabric: the spine learned every VM over both ToRs in %v\n", time.Since(t1).Round(time.Millisecond))
	for _, t := range e.s.Tors {
		h, err := nsHandle(t.NS)
		if err != nil {
			return e, err
		}
		e.tors = append(e.tors, h)
	}
	for _, hv := range e.s.Hypervisors {
		h, err := nsHandle(hv.NS)
		if err != nil {
			return e, err
		}
		e.hvs = append(e.hvs, h)
	}
	return e, nil
}

func nsHandle(name string) (*netlink.Handle, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

func dumpLogs(tb testing.TB, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "tor*", "*.log"))
	for _, f := range append(files, more...) {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		tb.Logf("%s (tail):\n%s", f, strings.Join(lines, "\n"))
	}
}

// ---- addressing (internal/lab/up.go) ----

// torPeerKey is how ToR t's FRR names its session to hypervisor n (both
// 1-based) in `show bgp summary json`: the hypervisor's address on the /31
// between them, or the link's name when the fabric is unnumbered.
func (e *env) torPeerKey(t, n int) string {
	if e.s.Unnumbered {
		return e.s.Hypervisors[n-1].Name
	}
	return fmt.Sprintf("10.255.%d.%d", t, 2*n-1)
}

// ---- commands ----

func sh(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func inNS(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	return sh(tb, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// ---- routes ----

// routeGws returns the nexthops of the route to exactly p in h's main
// table, each named by its outgoing interface (the lab names a link after
// the namespace at its other end, so this works for numbered and unnumbered
// fabrics alike); nil, false if there is none.
func routeGws(h *netlink.Handle, p string) ([]string, bool) {
	_, dst, err := net.ParseCIDR(p)
	if err != nil {
		panic(err)
	}
	fam := netlink.FAMILY_V4
	if dst.IP.To4() == nil {
		fam = netlink.FAMILY_V6
	}
	rs, err := h.RouteListFiltered(fam, &netlink.Route{Dst: dst, Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil || len(rs) == 0 {
		return nil, false
	}
	var devs []string
	for _, r := range rs {
		if len(r.MultiPath) == 0 {
			devs = append(devs, linkName(h, r.LinkIndex))
		}
		for _, nh := range r.MultiPath {
			devs = append(devs, linkName(h, nh.LinkIndex))
		}
	}
	return devs, true
}

func linkName(h *netlink.Handle, index int) string {
	l, err := h.LinkByIndex(index)
	if err != nil {
		return fmt.Sprintf("if%d", index)
	}
	return l.Attrs().Name
}

// hostRoutes returns the set of /32 destinations in h's main table.
func hostRoutes(h *netlink.Handle) (map[string]bool, error) {
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(rs))
	for _, r := range rs {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones == 32 {
				m[r.Dst.IP.String()] = true
			}
		}
	}
	return m, nil
}

// defaultRoute returns the IPv4 default route of h: protocol and
// nexthops, named by their outgoing interface (see routeGws).
func defaultRoute(h *netlink.Handle) (netlink.RouteProtocol, []string, bool) {
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return 0, nil, false
	}
	for _, r := range rs {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && func() bool { o, _ := r.Dst.Mask.Size(); return o == 0 }() {
			var devs []string
			if len(r.MultiPath) == 0 {
				devs = append(devs, linkName(h, r.LinkIndex))
			}
			for _, nh := range r.MultiPath {
				devs = append(devs, linkName(h, nh.LinkIndex))
			}
			return r.Protocol, devs, true
		}
	}
	return 0, nil, false
}

// converged reports whether every hypervisor has a two-way ECMP default of
// protocol 251 and every ToR has every VM's /32 via the VM's hypervisor
// directly; why says what is missing.
func (e *env) converged() (ok bool, why string) {
	for n, h := range e.hvs {
		proto, gws, found := defaultRoute(h)
		if !found || proto != learnedProto || len(gws) != 2 {
			return false, fmt.Sprintf("hv%d default: found=%v proto=%d gws=%v", n+1, found, proto, gws)
		}
	}
	for t, h := range e.tors {
		for _, vm := range e.s.VMs {
			n := hvIndex(vm.HV)
			want := e.s.Hypervisors[n-1].Name // the ToR's link to it
			gws, found := routeGws(h, vm.IP+"/32")
			if !found || len(gws) != 1 || gws[0] != want {
				return false, fmt.Sprintf("tor%d %s/32: found=%v gws=%v want %s", t+1, vm.IP, found, gws, want)
			}
		}
	}
	return true, ""
}

func (e *env) waitConverged(tb testing.TB, d time.Duration) time.Duration {
	tb.Helper()
	t0 := time.Now()
	var why string
	for time.Since(t0) < d {
		var ok bool
		if ok, why = e.converged(); ok {
			return time.Since(t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("fabric not converged after %v: %s", d, why)
	return 0
}

func hvIndex(name string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "hv"))
	if err != nil {
		panic("hypervisor name " + name)
	}
	return n
}

func (e *env) hvNS(n int) string { return e.s.Hypervisors[n-1].NS }

// ---- API ----

type apiClient struct{ hc *http.Client }

// newAPIClient returns a client whose connections are opened from an OS
// thread switched into ns (the API listens only inside ctl).
func newAPIClient(ns string) *apiClient {
	tr := &http.Transport{DialContext: nsDialer(ns), MaxIdleConnsPerHost: 16}
	return &apiClient{hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := netns.Get()
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, err}
				return
			}
			defer orig.Close()
			target, err := netns.GetFromName(ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, err}
				return
			}
			defer target.Close()
			if err := netns.Set(target); err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			} // else the goroutine exits locked and the thread is dropped
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

func (c *apiClient) do(method, path string, body any) (int, map[string]any, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, apiBase+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// must calls the API and fails unless the answer has the wanted status.
func (c *apiClient) must(tb testing.TB, want int, method, path string, body any) map[string]any {
	tb.Helper()
	code, m, err := c.do(method, path, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		tb.Fatalf("%s %s: %d %v (want %d)", method, path, code, m, want)
	}
	return m
}

func str(v any) string { s, _ := v.(string); return s }

// portIP returns the first IPv4 fixed IP of a port object.
func portIP(p map[string]any) string {
	ips, _ := p["fixed_ips"].([]any)
	for _, ip := range ips {
		m, _ := ip.(map[string]any)
		if a := str(m["ip_address"]); !strings.Contains(a, ":") {
			return a
		}
	}
	return ""
}

// addTap creates the veth pair standing for port id's tap in ns: the tap
// end (agentapi.TapName) and a peer "p<id>" that is up, so the tap has
// carrier.
func tapName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

func peerName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "vp" + portID
}

func addTaps(tb testing.TB, ns string, portIDs []string) {
	tb.Helper()
	var b strings.Builder
	for _, id := range portIDs {
		fmt.Fprintf(&b, "link add %s type veth peer name %s\n", tapName(id), peerName(id))
		fmt.Fprintf(&b, "link set %s up\n", peerName(id))
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ip -batch (%d taps): %v\n%s", len(portIDs), err, out)
	}
}

// ---- ping ----

type pingResult struct {
	sent, received int
	maxGap         time.Duration // longest gap between consecutive replies
	gapAt          time.Time     // when that gap began
	first, last    time.Time
	maxSeq         int // highest icmp_seq answered
	out            string
}

// outage is the longest gap between consecutive replies, or, if the last
// packets went unanswered (the flow never recovered), an estimate of that
// tail: the unanswered packets times the mean interval between replies.
func (r pingResult) outage() (time.Duration, bool) {
	if r.maxSeq < r.sent && r.received > 1 && r.maxSeq > 1 {
		tail := time.Duration(r.sent-r.maxSeq) * r.last.Sub(r.first) / time.Duration(r.maxSeq-1)
		if tail > r.maxGap {
			return tail, false
		}
	}
	return r.maxGap, r.maxSeq == r.sent || r.sent-r.maxSeq < 5
}

// ping runs `ping -D -n -i 0.01 -c count dst` in ns; started is closed once
// it is running.
func ping(ns, dst string, count int, started chan<- struct{}) (pingResult, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, "ping", "-D", "-n", "-i", "0.01", "-W", "1", "-c", strconv.Itoa(count), dst)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return pingResult{}, err
	}
	if started != nil {
		close(started)
	}
	err := cmd.Wait()
	r := parsePing(out.String())
	r.sent = count
	if err != nil && r.received == 0 {
		return r, fmt.Errorf("ping: %v\n%s", err, out.String())
	}
	return r, nil
}

func parsePing(s string) pingResult {
	r := pingResult{out: s}
	var prev time.Time
	seqs := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "[") || !strings.Contains(line, "bytes from") {
			continue
		}
		end := strings.IndexByte(line, ']')
		f, err := strconv.ParseFloat(line[1:end], 64)
		if err != nil {
			continue
		}
		ts := time.Unix(0, int64(f*1e9))
		if i := strings.Index(line, "icmp_seq="); i >= 0 {
			seq := strings.Fields(line[i:])[0]
			if seqs[seq] {
				continue // duplicate
			}
			seqs[seq] = true
			if n, err := strconv.Atoi(strings.TrimPrefix(seq, "icmp_seq=")); err == nil && n > r.maxSeq {
				r.maxSeq = n
			}
		}
		r.received++
		if r.first.IsZero() {
			r.first = ts
		}
		if !prev.IsZero() && ts.Sub(prev) > r.maxGap {
			r.maxGap = ts.Sub(prev)
			r.gapAt = prev
		}
		prev = ts
		r.last = ts
	}
	return r
}

// uplinkOfFlow returns which of hv n's uplinks ("up1"/"up2") carries the
// ICMP flow from ns to dst, by the uplinks' tx counters over a burst.
func uplinkOfFlow(tb testing.TB, e *env, n int, ns, dst string) string {
	tb.Helper()
	h := e.hvs[n-1]
	tx := func() [2]uint64 {
		var c [2]uint64
		for i, name := range []string{"up1", "up2"} {
			l, err := h.LinkByName(name)
			if err != nil {
				tb.Fatal(err)
			}
			c[i] = l.Attrs().Statistics.TxPackets
		}
		return c
	}
	a := tx()
	if _, err := ping(ns, dst, 200, nil); err != nil {
		tb.Fatal(err)
	}
	b := tx()
	d1, d2 := b[0]-a[0], b[1]-a[1]
	tb.Logf("uplink tx during a 200-packet burst: up1 %d, up2 %d", d1, d2)
	if d1 >= d2 {
		return "up1"
	}
	return "up2"
}

// ---- child processes (re-exec of the test binary) ----

// udpRecv listens on UDP :9999 and prints the source of the first datagram.
func udpRecv() int {
	c, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", udpPort))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("listening")
	c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 1500)
	_, from, err := c.ReadFrom(buf)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("from", from.(*net.UDPAddr).IP.String())
	return 0
}

// udpSend sends a datagram to SPINEL_FABRIC_DST every 100 ms, 50 times.
func udpSend() int {
	c, err := net.Dial("udp4", os.Getenv("SPINEL_FABRIC_DST"))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for range 50 {
		c.Write([]byte("spinel"))
		time.Sleep(100 * time.Millisecond)
	}
	return 0
}

// ---- statistics ----

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(s)))) - 1 // nearest rank
	return s[max(0, min(i, len(s)-1))]
}
