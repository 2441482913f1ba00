package agent

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// BenchmarkAgentColdStart500 binds 500 ports to the hypervisor (taps are
// veth pairs inside it), then restarts the agent on a kernel without any
// of its state (routes, neighbours, gateways and firewall flushed) and
// measures the time until its first complete apply (/readyz) and its RSS.
//
//	go test -run '^$' -bench AgentColdStart500 -benchtime 1x ./test/agent
func BenchmarkAgentColdStart500(b *testing.B) {
	for range b.N {
		l := newLab(b)
		a := api{base: l.server, tb: b}
		eventually(b, 10*time.Second, "agent alive", func() bool {
			ag := a.must(200, "GET", "/v2.0/agents", nil, "")["agents"].([]any)
			return len(ag) == 1 && ag[0].(map[string]any)["alive"] == true
		})
		net := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "cold"}}, "network")
		a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.60.0.0/22", "ip_version": 4}}, "subnet")
		var batch strings.Builder
		for i := range 500 {
			p := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1"}}, "port")
			tap := agentapi.TapName(p["id"].(string))
			fmt.Fprintf(&batch, "link add %s type veth peer name cs%d\nlink set cs%d up\n", tap, i, i)
		}
		cmd := exec.Command("ip", inNS(l.hv, "ip", "-batch", "-")[1:]...)
		cmd.Stdin = strings.NewReader(batch.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("creating taps: %v\n%s", err, out)
		}
		eventually(b, 60*time.Second, "500 ports ACTIVE", func() bool {
			ps := a.must(200, "GET", "/v2.0/ports?status=ACTIVE&network_id="+net["id"].(string)+"&fields=id", nil, "")["ports"].([]any)
			return len(ps) == 500
		})
		// Cold start: the agent is gone and so is everything it programmed.
		l.killAgent()
		run(b, inNS(l.hv, "ip", "route", "flush", "proto", "250")...)
		run(b, inNS(l.hv, "nft", "flush", "ruleset")...)
		run(b, inNS(l.hv, "ip", "addr", "flush", "dev", "lo", "label", "lo:spinel")...)
		start := time.Now()
		l.startAgentListening("127.0.0.1:9697")
		eventually(b, 60*time.Second, "agent ready", func() bool {
			return exec.Command("ip", inNS(l.hv, "busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9697/readyz")[1:]...).Run() == nil
		})
		b.ReportMetric(time.Since(start).Seconds(), "cold-start-500-s")
		if n := strings.Count(run(b, inNS(l.hv, "ip", "route", "show", "proto", "250")...), "\n"); n < 500 {
			b.Fatalf("only %d spinel routes after the cold start", n)
		}
		time.Sleep(2 * time.Second) // settle: reports, DHCP listeners
		b.ReportMetric(float64(agentRSS(l))/(1<<20), "agent-rss-500-MiB")
	}
}
