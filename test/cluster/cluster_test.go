package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
)

type ack struct {
	id string
	at time.Time
}

// stream runs writers creating ports in network through *target until ctx
// ends, and one reader that waits for each port acknowledged by readFrom's
// peer to show up through readFrom, recording the lag.
type stream struct {
	w       *writes
	target  atomic.Pointer[string]
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	notSeen atomic.Int64
}

func startStream(t *testing.T, writers int, network, writeTo, readFrom string) *stream {
	s := &stream{w: newWrites()}
	s.target.Store(&writeTo)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	acks := make(chan ack, 100000)
	var writersWG sync.WaitGroup
	for i := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for n := 0; ctx.Err() == nil; n++ {
				base := *s.target.Load()
				code, out, err := call(base, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{
					"network_id": network, "name": fmt.Sprintf("w%d-%d", i, n)}})
				at := time.Now()
				s.w.mu.Lock()
				if err != nil {
					s.w.errs++
				} else {
					s.w.codes[code]++
				}
				if code == 201 {
					p := out["port"].(map[string]any)
					id := p["id"].(string)
					s.w.acked[id] = p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
					s.w.ackedAt[id] = at
					if base != readFrom {
						acks <- ack{id, at}
					}
				}
				s.w.mu.Unlock()
				if code != 201 {
					time.Sleep(20 * time.Millisecond) // a dead or busy server: do not spin
				}
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for a := range acks {
			lag, ok := waitVisible(readFrom, a.id, a.at, 5*time.Second)
			if !ok {
				s.notSeen.Add(1)
				t.Errorf("port %s acknowledged at %s not visible through %s within 5s", a.id, a.at.Format(time.StampMilli), readFrom)
				continue
			}
			s.w.mu.Lock()
			s.w.lags = append(s.w.lags, lag)
			s.w.mu.Unlock()
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		writersWG.Wait()
		close(acks)
	}()
	return s
}

func (s *stream) stop() {
	s.cancel()
	s.wg.Wait()
}

// grows waits up to d for at least n more acknowledged writes.
func (s *stream) grows(t *testing.T, n int, d time.Duration, what string) {
	t.Helper()
	base := s.w.count()
	deadline := time.Now().Add(d)
	for s.w.count() < base+n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: only %d acknowledged writes in %v (want %d)", what, s.w.count()-base, d, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check verifies, through base, that every acknowledged port exists with
// the address it was acknowledged with and that no address is used twice;
// and that failed writes were refused cleanly (never a 500).
func (s *stream) check(t *testing.T, base, network string) {
	t.Helper()
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	present := portIPs(t, base, network)
	lost := 0
	for id, ip := range s.w.acked {
		if got, ok := present[id]; !ok {
			lost++
			t.Errorf("port %s acknowledged at %s but not there", id, s.w.ackedAt[id].Format(time.StampMilli))
		} else if got != ip {
			t.Errorf("port %s has %s, acknowledged with %s", id, got, ip)
		}
	}
	owners := map[string]string{}
	for id, ip := range present {
		if other, ok := owners[ip]; ok {
			t.Errorf("address %s given to both %s and %s", ip, other, id)
		}
		owners[ip] = id
	}
	t.Logf("%d writes acknowledged, %d lost; %d ports present; answers %v, %d without answer",
		len(s.w.acked), lost, len(present), s.w.codes, s.w.errs)
	for code, n := range s.w.codes {
		if code != 201 && code != 503 {
			t.Errorf("%d writes answered %d: only 201 or 503 are acceptable while members and servers die", n, code)
		}
	}
}

func (s *stream) lagReport(t *testing.T) (p50, p99 time.Duration) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	p50, p99 = percentile(s.w.lags, 50), percentile(s.w.lags, 99)
	t.Logf("write on one server -> visible on the other: %d samples, p50 %v, p99 %v, max %v",
		len(s.w.lags), p50, p99, percentile(s.w.lags, 100))
	return p50, p99
}

// setupNetwork creates a network with a /16 subnet through base and waits
// until every other server sees it.
func setupNetwork(t *testing.T, base string, others ...string) string {
	t.Helper()
	netID := must(t, 201, base, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "cluster"}}, "network")["id"].(string)
	sub := must(t, 201, base, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": netID, "cidr": "10.8.0.0/16", "ip_version": 4}}, "subnet")["id"].(string)
	for _, o := range others {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if code, _, _ := call(o, "GET", "/v2.0/subnets/"+sub, nil); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("subnet created through %s not visible through %s", base, o)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return netID
}

// TestExternalEtcdCluster: three Debian etcd members, two spinel servers.
// Writes stream through server 1 and are read back through server 2; the
// etcd leader is SIGKILLed, then server 1 (the writers move to server 2).
// Every acknowledged write is still there and server 2 keeps serving. Then
// a second member dies: reads go on, writes are 503, /readyz turns 503.
func TestExternalEtcdCluster(t *testing.T) {
	members := startEtcdCluster(t, 3)
	var eps []string
	for _, m := range members {
		eps = append(eps, m.client)
	}
	s1 := startSpinel(t, "spinel-1", "--data-dir", t.TempDir(), "--etcd-endpoints", strings.Join(eps, ","))
	s2 := startSpinel(t, "spinel-2", "--data-dir", t.TempDir(), "--etcd-endpoints", strings.Join(eps, ","))
	s1.waitReady(t)
	s2.waitReady(t)
	netID := setupNetwork(t, s1.url, s2.url)

	s := startStream(t, 2, netID, s1.url, s2.url)
	defer s.stop()
	s.grows(t, 50, 10*time.Second, "before any failure")

	leader := etcdLeader(t, members)
	members[leader].kill()
	t.Logf("SIGKILLed etcd member e%d (the raft leader) after %d acknowledged writes", leader, s.w.count())
	s.grows(t, 50, 15*time.Second, "after losing the etcd leader")

	time.Sleep(500 * time.Millisecond)
	s1.kill()
	s.target.Store(&s2.url)
	t.Logf("SIGKILLed spinel-1 after %d acknowledged writes; writers move to spinel-2", s.w.count())
	s.grows(t, 50, 15*time.Second, "through spinel-2 after losing spinel-1")
	s.stop()

	s.check(t, s2.url, netID)
	p50, p99 := s.lagReport(t)
	if p50 > 100*time.Millisecond || p99 > time.Second {
		t.Errorf("write -> visible on the other server: p50 %v (want < 100ms), p99 %v (want < 1s)", p50, p99)
	}
	must(t, 201, s2.url, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID}}, "port")

	// The status shows the survivor alone once spinel-1's registration
	// lease has run out, leading the L3 reconciler, and the dead member.
	id2 := serverID(t, s2)
	deadline := time.Now().Add(20 * time.Second)
	var st server.Status
	for {
		st = status(t, s2.url)
		if len(st.Servers) == 1 && st.Leaders["l3-reconciler"] == id2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after losing spinel-1: servers %+v, leaders %v", st.Servers, st.Leaders)
		}
		time.Sleep(250 * time.Millisecond)
	}
	healthy := 0
	for _, m := range st.Etcd.Members {
		if m.Healthy {
			healthy++
		} else if m.Name != fmt.Sprintf("e%d", leader) {
			t.Errorf("member %s reported unhealthy: %s", m.Name, m.Error)
		}
	}
	if len(st.Etcd.Members) != 3 || healthy != 2 {
		t.Errorf("etcd members in the status: %+v", st.Etcd.Members)
	}
	out, err := exec.Command(spinelBin, "status", "--url", s2.url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), id2+" (answering)") || !strings.Contains(string(out), "UNHEALTHY") {
		t.Errorf("spinel status: %v\n%s", err, out)
	}
	t.Logf("spinel status:\n%s", out)

	// Losing a second member (no quorum left): reads are still served from
	// the cache, writes are refused with 503, and /readyz turns 503 so
	// that a load balancer drains the server.
	for i, m := range members {
		if i != leader {
			m.kill()
			t.Logf("SIGKILLed etcd member e%d: no quorum left", i)
			break
		}
	}
	start := time.Now()
	code, _, err := call(s2.url, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "no-quorum"}})
	if err != nil || code != 503 {
		t.Errorf("write without quorum: %d %v, want 503", code, err)
	}
	t.Logf("write without quorum refused with %d after %v", code, time.Since(start).Round(time.Millisecond))
	// (writes that got no answer may or may not have landed)
	if n := len(portIPs(t, s2.url, netID)); n < len(s.w.acked)+1 {
		t.Errorf("reads without quorum: %d ports, want at least %d", n, len(s.w.acked)+1)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		resp, err := httpClient.Get(s2.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still not 503 %v after losing the quorum", time.Since(start))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("/readyz 503 %v after losing the quorum", time.Since(start).Round(time.Millisecond))
}

// serverID finds the registry id of s from its own status.
func serverID(t *testing.T, s *spinel) string {
	t.Helper()
	st := status(t, s.url)
	for _, info := range st.Servers {
		if "http://"+info.Listen == s.url {
			return info.ID
		}
	}
	t.Fatalf("%s not in its own status: %+v", s.name, st.Servers)
	return ""
}

// TestEmbeddedCluster: three spinel servers, each with an embedded etcd
// member of one cluster (--etcd-initial-cluster). The server leading the L3
// reconciler is SIGKILLed under a stream of writes through another: every
// acknowledged write is there, the survivors keep serving, and the L3
// reconciler's leadership moves to a survivor (a router created after the
// kill becomes ACTIVE).
func TestEmbeddedCluster(t *testing.T) {
	ports := freePorts(t, 6)
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i]))
	}
	var servers []*spinel
	for i := range 3 {
		servers = append(servers, startSpinel(t, fmt.Sprintf("spinel-m%d", i), "--data-dir", t.TempDir(),
			"--etcd-name", fmt.Sprintf("m%d", i), "--etcd-initial-cluster", strings.Join(initial, ","),
			"--etcd-listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]), "--etcd-unsafe-no-fsync"))
	}
	for _, s := range servers {
		s.waitReady(t)
	}
	ids := map[string]*spinel{}
	for _, s := range servers {
		ids[serverID(t, s)] = s
	}
	var st server.Status
	deadline := time.Now().Add(15 * time.Second)
	for {
		st = status(t, servers[0].url)
		if len(st.Servers) == 3 && st.Leaders["l3-reconciler"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: servers %+v, leaders %v", st.Servers, st.Leaders)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range st.Etcd.Members {
		if !m.Healthy {
			t.Errorf("member %s unhealthy at start: %s", m.Name, m.Error)
		}
	}
	victim := ids[st.Leaders["l3-reconciler"]]
	var survivors []*spinel
	for _, s := range servers {
		if s != victim {
			survivors = append(survivors, s)
		}
	}
	a, b := survivors[0], survivors[1]
	netID := setupNetwork(t, a.url, b.url)

	s := startStream(t, 2, netID, a.url, b.url)
	defer s.stop()
	s.grows(t, 50, 10*time.Second, "before any failure")
	victim.kill()
	killedAt := time.Now()
	t.Logf("SIGKILLed %s (leading the L3 reconciler, etcd member) after %d acknowledged writes", victim.name, s.w.count())
	s.grows(t, 50, 15*time.Second, "after losing a server and its etcd member")
	s.stop()
	s.check(t, b.url, netID)
	s.lagReport(t)

	// A router created after the kill gets its status from the reconciler,
	// now led by a survivor.
	r := must(t, 201, a.url, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "after-kill"}}, "router")
	id := r["id"].(string)
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, out, _ := call(b.url, "GET", "/v2.0/routers/"+id, nil)
		if code == 200 && out["router"].(map[string]any)["status"] == "ACTIVE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router created after the kill never became ACTIVE: %d %v", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("router created after the kill ACTIVE %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	st = status(t, b.url)
	if l := ids[st.Leaders["l3-reconciler"]]; l != a && l != b {
		t.Errorf("the L3 reconciler is led by %q, not a survivor", st.Leaders["l3-reconciler"])
	}
	healthy := 0
	for _, m := range st.Etcd.Members {
		if m.Healthy {
			healthy++
		}
	}
	if len(st.Etcd.Members) != 3 || healthy != 2 {
		t.Errorf("etcd members after the kill: %+v", st.Etcd.Members)
	}
}
