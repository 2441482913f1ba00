// Package fabric holds privileged end-to-end tests of spinel on a routed
// fabric: they build the spinel binary, bring up one `spinel lab` (two FRR
// ToRs, two dual-homed hypervisors running real agents with BGP, one VM
// each, the first with a floating IP) shared by every test and benchmark of
// the package, and bring it down in TestMain. Needs root, Debian's frr,
// iproute2, iputils-ping and nftables. The tests run in file order and each
// leaves the fabric converged for the next.
package fabric

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/lab"
)

// 1. Connectivity, ECMP defaults on the hypervisors, VM /32s on the ToRs.
func TestConnectivity(t *testing.T) {
	e := fab(t)
	d := e.waitConverged(t, 90*time.Second)
	t.Logf("converged %v after Up returned", d.Round(time.Millisecond))
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	if vm1.HV == vm2.HV {
		t.Fatalf("VMs on the same hypervisor: %+v", e.s.VMs)
	}
	probes := []struct{ ns, dst, what string }{
		{vm1.NS, vm2.IP, vm1.Name + " -> " + vm2.Name},
		{vm2.NS, vm1.IP, vm2.Name + " -> " + vm1.Name},
		{vm1.NS, internetIP, vm1.Name + " -> internet"},
		{vm2.NS, internetIP, vm2.Name + " -> internet"},
	}
	for _, p := range probes {
		if !pingOK(p.ns, p.dst, 20*time.Second) {
			t.Errorf("%s (%s): no reply", p.what, p.dst)
		} else {
			t.Logf("%s (%s): OK", p.what, p.dst)
		}
	}
	for n, hv := range e.s.Hypervisors {
		out := sh(t, "ip", "-n", hv.NS, "-d", "route", "show", "default")
		t.Logf("%s: ip -d route show default:\n%s", hv.Name, out)
		proto, gws, ok := defaultRoute(e.hvs[n])
		t1, t2 := "up1", "up2"
		if !ok || proto != learnedProto || len(gws) != 2 || !(contains(gws, t1) && contains(gws, t2)) {
			t.Errorf("%s default route: proto %d nexthops %v, want proto 251 via %s and %s", hv.Name, proto, gws, t1, t2)
		}
		if !strings.Contains(out, "proto 251") || strings.Count(out, "nexthop via") != 2 {
			t.Errorf("%s: `ip -d route show default` lacks proto 251 or two nexthops", hv.Name)
		}
	}
	for ti, tor := range e.s.Tors {
		out := sh(t, "ip", "-n", tor.NS, "route")
		for _, vm := range e.s.VMs {
			want := vm.HV // the ToR's link to the VM's hypervisor
			gws, ok := routeGws(e.tors[ti], vm.IP+"/32")
			if !ok || len(gws) != 1 || gws[0] != want {
				t.Errorf("%s: %s/32 via %v (present %v), want via %s\n%s", tor.Name, vm.IP, gws, ok, want, out)
			}
		}
		t.Logf("%s: ip route:\n%s", tor.Name, out)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// pingOK retries a 1-packet ping until it answers or d has passed.
func pingOK(ns, dst string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if exec.Command("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", dst).Run() == nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 1b. IPv6 over the unnumbered fabric: the VMs take their SLAAC addresses
// from the agents' router advertisements, each hypervisor has an IPv6 ECMP
// default over both uplinks, each ToR has every VM's /128 via the VM's
// hypervisor, and VMs on different hypervisors reach each other over IPv6.
func TestIPv6(t *testing.T) {
	e := fab(t)
	if !e.s.Unnumbered {
		t.Fatal("the fabric tests run on the default (unnumbered) lab")
	}
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	for _, vm := range []lab.VM{vm1, vm2} {
		if vm.IP6 == "" {
			t.Fatalf("%s has no IPv6 address in the lab state: %+v", vm.Name, vm)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(inNS(t, vm.NS, "ip", "-6", "addr", "show", "dev", "eth0"), vm.IP6+"/64") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: SLAAC address %s not configured:\n%s", vm.Name, vm.IP6, inNS(t, vm.NS, "ip", "-6", "addr"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for n, hv := range e.s.Hypervisors {
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			out = sh(t, "ip", "-n", hv.NS, "-6", "route", "show", "default")
			if strings.Contains(out, "proto 251") && strings.Contains(out, "dev up1") && strings.Contains(out, "dev up2") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hv%d: no IPv6 ECMP default of protocol 251 over up1 and up2:\n%s", n+1, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for ti, tor := range e.s.Tors {
		for _, vm := range e.s.VMs {
			deadline := time.Now().Add(30 * time.Second)
			for {
				devs, ok := routeGws(e.tors[ti], vm.IP6+"/128")
				if ok && len(devs) == 1 && devs[0] == vm.HV {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s/128 via %v (present %v), want via %s\n%s", tor.Name, vm.IP6, devs, ok, vm.HV,
						sh(t, "ip", "-n", tor.NS, "-6", "route"))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	for _, p := range []struct{ ns, dst, what string }{
		{vm1.NS, vm2.IP6, vm1.Name + " -> " + vm2.Name + " (IPv6)"},
		{vm2.NS, vm1.IP6, vm2.Name + " -> " + vm1.Name + " (IPv6)"},
	} {
		if !pingOK(p.ns, p.dst, 20*time.Second) {
			t.Errorf("%s (%s): no reply", p.what, p.dst)
		} else {
			t.Logf("%s (%s): OK", p.what, p.dst)
		}
	}
}

// 2. The floating IP answers from the internet, and the VM's traffic to the
// internet leaves with the floating IP as its source.
func TestFloatingIP(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	vm1 := e.s.VMs[0]
	if !pingOK(e.s.Internet, vm1.FloatingIP, 20*time.Second) {
		t.Errorf("internet -> %s (floating IP of %s): no reply", vm1.FloatingIP, vm1.Name)
	} else {
		t.Logf("internet -> %s (floating IP of %s): OK", vm1.FloatingIP, vm1.Name)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	recv := exec.Command("ip", "netns", "exec", e.s.Internet, self)
	recv.Env = append(os.Environ(), "SPINEL_FABRIC_CHILD=udprecv")
	stdout, _ := recv.StdoutPipe()
	recv.Stderr = os.Stderr
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	defer recv.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "listening" {
		t.Fatalf("UDP recorder in %s: %q", e.s.Internet, lines.Text())
	}
	send := exec.Command("ip", "netns", "exec", vm1.NS, self)
	send.Env = append(os.Environ(), "SPINEL_FABRIC_CHILD=udpsend", fmt.Sprintf("SPINEL_FABRIC_DST=%s:%d", internetIP, udpPort))
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { send.Process.Kill(); send.Wait() }()
	got := ""
	if lines.Scan() {
		got = lines.Text()
	}
	recv.Wait()
	if got != "from "+vm1.FloatingIP {
		t.Errorf("UDP from %s (%s) to %s arrived %q, want from %s", vm1.Name, vm1.IP, internetIP, got, vm1.FloatingIP)
	} else {
		t.Logf("UDP from %s (%s) arrived at %s %s", vm1.Name, vm1.IP, internetIP, got)
	}
}

// 3. A port deleted through the API disappears from both ToRs within 1 s.
func TestPortDeleteWithdraws(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	hv := e.s.Hypervisors[1]
	p := e.api.must(t, 201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": e.s.Resources["network"], "name": "fabric-delete", "binding:host_id": hv.Name, "device_owner": "compute:fabric"}})["port"].(map[string]any)
	id, ip := str(p["id"]), portIP(p)
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			e.api.do("DELETE", "/v2.0/ports/"+id, nil)
		}
		exec.Command("ip", "-n", hv.NS, "link", "del", tapName(id)).Run()
	})
	addTaps(t, hv.NS, []string{id})
	t0 := time.Now()
	onBoth := func(want bool) bool {
		for _, h := range e.tors {
			if _, ok := routeGws(h, ip+"/32"); ok != want {
				return false
			}
		}
		return true
	}
	for !onBoth(true) {
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("port %s (%s) on %s: /32 not at both ToRs after 20 s", id, ip, hv.Name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("port %s (%s) bound to %s: /32 at both ToRs %v after the tap appeared", id, ip, hv.Name, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	e.api.must(t, 204, "DELETE", "/v2.0/ports/"+id, nil)
	deleted = true
	apiDone := time.Since(t0)
	gone := [2]time.Duration{}
	for time.Since(t0) < 10*time.Second && (gone[0] == 0 || gone[1] == 0) {
		for i, h := range e.tors {
			if _, ok := routeGws(h, ip+"/32"); !ok && gone[i] == 0 {
				gone[i] = time.Since(t0)
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("port delete: API %v; /32 gone from tor1 after %v, tor2 after %v", apiDone.Round(time.Millisecond), gone[0].Round(time.Millisecond), gone[1].Round(time.Millisecond))
	for i, g := range gone {
		if g == 0 || g > time.Second {
			t.Errorf("tor%d: %s/32 still present %v after the DELETE (want < 1 s)", i+1, ip, time.Since(t0).Round(time.Millisecond))
		}
	}
}

// failover runs `ping -D -i 0.01 -c count` from vm1 to vm2, calls fail
// after lead, and returns the ping's result.
func failover(t *testing.T, e *env, count int, lead time.Duration, fail func()) pingResult {
	t.Helper()
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	type res struct {
		r   pingResult
		err error
	}
	ch := make(chan res, 1)
	started := make(chan struct{})
	go func() {
		r, err := ping(vm1.NS, vm2.IP, count, started)
		ch <- res{r, err}
	}()
	<-started
	time.Sleep(lead)
	tf := time.Now()
	fail()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	out, recovered := r.r.outage()
	t.Logf("ping %s -> %s: %d sent, %d received, longest gap between replies %v (began %v after the failure was injected); recovered %v; outage %v",
		vm1.Name, vm2.Name, r.r.sent, r.r.received, r.r.maxGap.Round(time.Millisecond), r.r.gapAt.Sub(tf).Round(time.Millisecond), recovered, out.Round(time.Millisecond))
	if !recovered {
		t.Errorf("the flow never recovered: last reply icmp_seq=%d of %d", r.r.maxSeq, r.r.sent)
	}
	return r.r
}

// 4. Carrier loss on the hv1 uplink the flow uses.
func TestUplinkDown(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	hv := e.s.Hypervisors[0]
	up := uplinkOfFlow(t, e, 1, vm1.NS, vm2.IP)
	t.Logf("flow %s -> %s leaves %s by %s", vm1.Name, vm2.Name, hv.Name, up)
	downed := false
	t.Cleanup(func() {
		if downed {
			exec.Command("ip", "-n", hv.NS, "link", "set", up, "up").Run()
			d := e.waitConverged(t, 120*time.Second)
			t.Logf("%s back up: converged again after %v", up, d.Round(time.Millisecond))
		}
	})
	r := failover(t, e, 600, 2*time.Second, func() {
		sh(t, "ip", "-n", hv.NS, "link", "set", up, "down")
		downed = true
	})
	o, _ := r.outage()
	t.Logf("FIGURE uplink-down outage: %v (target < 200 ms), lost %d of %d", o.Round(time.Millisecond), r.sent-r.received, r.sent)
	if o >= time.Second {
		t.Errorf("outage %v after link down, want < 1 s", o)
	}
	if o >= 200*time.Millisecond {
		t.Logf("NOTE: outage %v is above the 200 ms target", o)
	}
}

// 5. Silent failure: one hv1 uplink drops everything in both directions
// (nftables netdev ingress on both ends); bounded by the 9 s hold time.
func TestSilentFailure(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	hv := e.s.Hypervisors[0]
	up := uplinkOfFlow(t, e, 1, vm1.NS, vm2.IP)
	tor := e.s.Tors[map[string]int{"up1": 0, "up2": 1}[up]]
	t.Logf("flow %s -> %s leaves %s by %s (to %s)", vm1.Name, vm2.Name, hv.Name, up, tor.Name)
	drop := func(ns, dev string) {
		rules := fmt.Sprintf("table netdev spinel_fabric_drop {\n chain in {\n  type filter hook ingress device %q priority -500; policy drop;\n }\n}\n", dev)
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s on %s: %v\n%s", ns, dev, err, out)
		}
	}
	applied := false
	t.Cleanup(func() {
		if applied {
			for _, ns := range []string{hv.NS, tor.NS} {
				exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", "spinel_fabric_drop").Run()
			}
			d := e.waitConverged(t, 120*time.Second)
			t.Logf("drop removed: converged again after %v", d.Round(time.Millisecond))
		}
	})
	r := failover(t, e, 2000, 2*time.Second, func() {
		applied = true
		drop(hv.NS, up)
		drop(tor.NS, hv.Name)
	})
	o, _ := r.outage()
	t.Logf("FIGURE silent-failure outage: %v (hold time 9 s), lost %d of %d", o.Round(time.Millisecond), r.sent-r.received, r.sent)
	if o >= 12*time.Second {
		t.Errorf("outage %v after a silent failure, want < 12 s", o)
	}
	if r.received < r.sent/4 {
		t.Errorf("only %d of %d replies: the flow did not recover", r.received, r.sent)
	}
}

// 6. SIGKILL of hv1's agent and restart with the same command line: no
// packet lost, and the ToRs never lose hv1's VM /32 (graceful restart).
func TestAgentRestart(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	vm1 := e.s.VMs[0]
	hv := e.s.Hypervisors[0]
	var pidFile string
	for _, p := range e.s.Procs {
		if p.Name == "agent-"+hv.Name {
			pidFile = p.PidFile
		}
	}
	if pidFile == "" {
		t.Fatalf("no agent-%s in the lab's processes: %+v", hv.Name, e.s.Procs)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("agent pid %d: %v", pid, err)
	}
	argv := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	if len(argv) < 2 || argv[1] != "agent" {
		t.Fatalf("pid %d is not an agent: %q", pid, argv)
	}
	t.Logf("agent of %s: pid %d: %s", hv.Name, pid, strings.Join(argv, " "))

	// Poll both ToRs for vm1's /32 every 10 ms.
	var missing atomic.Int64
	var firstMissing atomic.Value
	var polls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			polls.Add(1)
			for i, h := range e.tors {
				if _, ok := routeGws(h, vm1.IP+"/32"); !ok {
					if missing.Add(1) == 1 {
						firstMissing.Store(fmt.Sprintf("tor%d at %s", i+1, time.Now().Format("15:04:05.000")))
					}
				}
			}
		}
	})
	stopPoll := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopPoll)

	var killedAt, restartedAt time.Time
	r := failover(t, e, 1000, 2*time.Second, func() {
		killedAt = time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill %d: %v", pid, err)
			return
		}
		// Wait until it is gone (the lab reaps it) or a zombie.
		for range 200 {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || strings.Contains(string(st), ") Z ") {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		lf, err := os.OpenFile(filepath.Join(e.s.Dir, "logs", "agent-"+hv.Name+".log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer lf.Close()
		cmd := exec.Command("ip", append([]string{"netns", "exec", hv.NS}, argv...)...)
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Errorf("restart agent: %v", err)
			return
		}
		restartedAt = time.Now()
		go cmd.Wait()
		// lab.Down stops what the pid file names.
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("agent restarted as pid %d, %v after the SIGKILL", cmd.Process.Pid, restartedAt.Sub(killedAt).Round(time.Millisecond))
	})
	// Keep polling until both ToRs have re-established hv1's sessions and a
	// little after (End-of-RIB, stale paths swept).
	est := waitEstablished(t, e, 1, 60*time.Second)
	t.Logf("both ToRs' sessions to %s Established %v after the SIGKILL", hv.Name, est.Sub(killedAt).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	stopPoll()
	t.Logf("FIGURE agent restart: ping lost %d of %d, longest gap %v; ToR /32 polls %d, missing %d",
		r.sent-r.received, r.sent, r.maxGap.Round(time.Millisecond), polls.Load(), missing.Load())
	if r.received != r.sent {
		t.Errorf("lost %d of %d packets across the agent restart, want 0", r.sent-r.received, r.sent)
	}
	if n := missing.Load(); n > 0 {
		t.Errorf("%s/32 missing at a ToR in %d polls (first: %v), want never withdrawn", vm1.IP, n, firstMissing.Load())
	}
	e.waitConverged(t, 60*time.Second)
}

// waitEstablished waits until both ToRs show their session to hv n as
// Established and returns when.
func waitEstablished(t *testing.T, e *env, n int, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok := true
		for ti, tor := range e.s.Tors {
			hvAddr := e.torPeerKey(ti+1, n)
			out, err := exec.Command("vtysh", "--vty_socket", tor.Dir, "-c", "show bgp summary json").Output()
			var sum struct {
				IPv4 struct {
					Peers map[string]struct {
						State string `json:"state"`
					} `json:"peers"`
				} `json:"ipv4Unicast"`
			}
			if err != nil || json.Unmarshal(out, &sum) != nil || sum.IPv4.Peers[hvAddr].State != "Established" {
				ok = false
			}
		}
		if ok {
			return time.Now()
		}
		if time.Now().After(deadline) {
			for _, tor := range e.s.Tors {
				out, _ := exec.Command("vtysh", "--vty_socket", tor.Dir, "-c", "show bgp summary").CombinedOutput()
				t.Logf("%s: show bgp summary:\n%s", tor.Name, out)
			}
			dumpLogs(t, e.opts.Dir)
			t.Fatalf("sessions to hv%d not Established after %v", n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// 7. Moving the floating IP to the VM on hv2 moves its route at the ToRs
// within 1 s.
func TestFloatingIPMove(t *testing.T) {
	e := fab(t)
	e.waitConverged(t, 90*time.Second)
	vm1, vm2 := e.s.VMs[0], e.s.VMs[1]
	fipID := e.s.Resources["floatingip"]
	fip := net.ParseIP(vm1.FloatingIP)
	nexthop := func(i int) string {
		rs, err := e.tors[i].RouteGet(fip)
		if err != nil || len(rs) == 0 {
			return ""
		}
		return linkName(e.tors[i], rs[0].LinkIndex)
	}
	for i := range e.tors {
		want := vm1.HV
		if nh := nexthop(i); nh != want {
			t.Logf("before the move: tor%d routes %s via %q (want %s)", i+1, vm1.FloatingIP, nh, want)
		}
	}
	t0 := time.Now()
	e.api.must(t, 200, "PUT", "/v2.0/floatingips/"+fipID, map[string]any{"floatingip": map[string]any{"port_id": vm2.PortID}})
	apiDone := time.Since(t0)
	t.Cleanup(func() {
		e.api.do("PUT", "/v2.0/floatingips/"+fipID, map[string]any{"floatingip": map[string]any{"port_id": vm1.PortID}})
	})
	moved := [2]time.Duration{}
	for time.Since(t0) < 10*time.Second && (moved[0] == 0 || moved[1] == 0) {
		for i := range e.tors {
			want := vm2.HV
			if moved[i] == 0 && nexthop(i) == want {
				moved[i] = time.Since(t0)
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("FIGURE floating IP move %s -> %s: API %v; tor1 %v, tor2 %v", vm1.Name, vm2.Name,
		apiDone.Round(time.Millisecond), moved[0].Round(time.Millisecond), moved[1].Round(time.Millisecond))
	for i, m := range moved {
		if m == 0 || m > time.Second {
			t.Errorf("tor%d: route to %s not via %s within 1 s (now via %q)", i+1, vm1.FloatingIP, vm2.HV, nexthop(i))
		}
	}
	if pingOK(e.s.Internet, vm1.FloatingIP, 10*time.Second) {
		t.Logf("internet -> %s (now %s): OK", vm1.FloatingIP, vm2.Name)
	} else {
		t.Errorf("internet -> %s (now %s): no reply", vm1.FloatingIP, vm2.Name)
	}
}
