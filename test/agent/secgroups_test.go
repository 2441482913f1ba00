package agent

import (
	"os/exec"
	"slices"
	"testing"
	"time"
)

// sgLab builds a hypervisor with two VMs taking their addresses by DHCP:
// a client in the project's default group and a server in group "web",
// which starts with no ingress rule.
func sgLab(tb testing.TB) (l *lab, a api, web, client, server string, clientNS, serverNS string) {
	l = newLab(tb)
	a = api{base: l.server, tb: tb}
	eventually(tb, 10*time.Second, "agent alive", func() bool {
		ag := a.must(200, "GET", "/v2.0/agents", nil, "")["agents"].([]any)
		return len(ag) == 1 && ag[0].(map[string]any)["alive"] == true
	})
	net := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "sg"}}, "network")
	a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.50.0.0/24", "ip_version": 4}}, "subnet")
	web = a.must(201, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web"}}, "security_group")["id"].(string)
	c := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1"}}, "port")
	s := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1", "security_groups": []any{web}}}, "port")
	clientNS, serverNS = l.vm("c", c), l.vm("s", s)
	l.dhcp(clientNS)
	l.dhcp(serverNS)
	ip := func(p map[string]any) string {
		return p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	}
	return l, a, web, ip(c), ip(s), clientNS, serverNS
}

func pings(ns, dst string, extra ...string) bool {
	args := append(inNS(ns, "ping", "-c", "1", "-W", "0.05", "-n"), extra...)
	return exec.Command(args[0], append(args[1:], dst)...).Run() == nil
}

// TestAgentSecurityGroups: traffic is allowed and refused exactly per the
// rules, changed through the API; a spoofed source gets nothing through.
func TestAgentSecurityGroups(t *testing.T) {
	_, a, web, client, server, cns, sns := sgLab(t)
	// The server's group has no ingress rule: the client's ping is dropped,
	// while the server can reach out (egress rules) and get answers back.
	if pings(cns, server) {
		t.Fatal("ping to a VM whose groups allow no ingress got through")
	}
	if !pings(sns, client) {

	}
	rule := a.must(201, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": web, "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}, "security_group_rule")
	eventually(t, 5*time.Second, "icmp rule in effect", func() bool { return pings(cns, server) })
	a.must(204, "DELETE", "/v2.0/security-group-rules/"+rule["id"].(string), nil, "")
	eventually(t, 5*time.Second, "icmp rule removed", func() bool { return !pings(cns, server) })

	// Anti-spoofing: the client takes another address as its source.
	run(t, inNS(cns, "ip", "addr", "add", "10.50.0.200/32", "dev", "eth0")...)
	a.must(201, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": web, "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}, "")
	eventually(t, 5*time.Second, "icmp rule in effect again", func() bool { return pings(cns, server) })
	if pings(cns, server, "-I", "10.50.0.200") {
		t.Error("a spoofed source address got through")
	}
}

// BenchmarkRuleToEffect measures how long a security group rule added
// through the API takes to let traffic through (single pings every few ms
// from the API's answer on), over 20 add/remove cycles.
//
//	go test -run '^$' -bench RuleToEffect -benchtime 1x ./test/agent
func BenchmarkRuleToEffect(b *testing.B) {
	for range b.N {
		_, a, web, _, server, cns, _ := sgLab(b)
		var lat []time.Duration
		for range 20 {
			t0 := time.Now()
			rule := a.must(201, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
				"security_group_id": web, "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}, "security_group_rule")
			for !pings(cns, server) {
				if time.Since(t0) > 10*time.Second {
					b.Fatal("rule not in effect after 10 s")
				}
			}
			lat = append(lat, time.Since(t0))
			a.must(204, "DELETE", "/v2.0/security-group-rules/"+rule["id"].(string), nil, "")
			for pings(cns, server) {
				if time.Since(t0) > 20*time.Second {
					b.Fatal("rule still in effect 10 s after its removal")
				}
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "rule-to-effect-p50-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "rule-to-effect-max-ms")
	}
}
