package agent

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkBindToPing measures, for 100 ports, the time from binding a
// port to the hypervisor through the API (PUT binding:host_id) to its VM
// answering ping from the hypervisor: single pings are sent in a loop from
// the bind on, and the first answered one ends the measurement (so the
// figure includes up to one ping's round of polling, a few ms). It also
// reports the agent's RSS with the 100 ports.
//
//	go test -run '^$' -bench BindToPing -benchtime 1x ./test/agent
func BenchmarkBindToPing(b *testing.B) {
	for range b.N {
		benchBindToPing(b)
	}
}

func benchBindToPing(b *testing.B) {
	l := newLab(b)
	a := api{base: l.server, tb: b}
	eventually(b, 10*time.Second, "agent alive", func() bool {
		ag := a.must(200, "GET", "/v2.0/agents", nil, "")["agents"].([]any)
		return len(ag) == 1 && ag[0].(map[string]any)["alive"] == true
	})
	net := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "bench"}}, "network")
	a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.40.0.0/24", "ip_version": 4}}, "subnet")
	const n = 100
	var lat []time.Duration
	for i := range n {
		p := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"],
			"port_security_enabled": false, "security_groups": []any{}}}, "port")
		ns := l.vm(fmt.Sprint("b", i), p)
		ip := p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
		run(b, inNS(ns, "ip", "addr", "add", ip+"/24", "dev", "eth0")...)
		run(b, inNS(ns, "ip", "route", "add", "default", "via", "10.40.0.1")...)
		t0 := time.Now()
		a.must(200, "PUT", "/v2.0/ports/"+p["id"].(string), map[string]any{"port": map[string]any{"binding:host_id": "hv1"}}, "port")
		var t1 time.Time
		for {
			if exec.Command("ip", inNS(l.hv, "ping", "-c", "1", "-W", "0.05", "-n", ip)[1:]...).Run() == nil {
				t1 = time.Now()
				break
			}
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("port %d (%s): no answer 10 s after the bind", i, ip)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, t1.Sub(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "bind-to-ping-p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "bind-to-ping-p99-ms")
	if rss := agentRSS(l); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "agent-rss-MiB")
	}
}

// agentRSS reads the agent process's resident set size in bytes.
func agentRSS(l *lab) int64 {
	if l.agent == nil || l.agent.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.agent.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
