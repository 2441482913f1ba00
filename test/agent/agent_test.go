// Package agent runs the real spinel agent on a hypervisor made of a
// network namespace, with VMs in namespaces of their own joined to it by
// veth pairs named as Nova names taps, against a real server.
// It needs root (CI runs as root), iproute2 and iputils-ping.
package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func inNS(ns string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, args...)
}

type api struct {
	t    *testing.T
	base string
	tb   testing.TB // for benchmarks, when t is nil
}

func (a api) T() testing.TB {
	if a.t != nil {
		return a.t
	}
	return a.tb
}

func (a api) do(method, path string, body any) (int, map[string]any) {
	a.T().Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.T().Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (a api) must(want int, method, path string, body any, key string) map[string]any {
	a.T().Helper()
	code, m := a.do(method, path, body)
	if code != want {
		a.T().Fatalf("%s %s: %d %v", method, path, code, m)
	}
	if key == "" {
		return m
	}
	return m[key].(map[string]any)
}

func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

type lab struct {
	t       testing.TB
	id      string
	hv      string
	bin     string
	token   string
	server  string
	agent   *exec.Cmd
	agentLg string
}

func newLab(t testing.TB) *lab {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (Debian packages iproute2, iputils-ping)", tool)
		}
	}
	l := &lab{t: t, id: fmt.Sprintf("%04x", rand.IntN(1<<16))}
	l.hv = "sphv" + l.id
	l.bin = filepath.Join(t.TempDir(), "spinel")
	run(t, "go", "build", "-o", l.bin, "github.com/spinel-net/spinel/cmd/spinel")
	run(t, "ip", "netns", "add", l.hv)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.hv).Run() })
	// A point-to-point link from the test's namespace to the hypervisor,
	// for the agent to reach the server.
	up, down := "spu"+l.id, "spd"+l.id
	third := 1 + rand.IntN(250)
	srvIP, hvIP := fmt.Sprintf("169.254.%d.1", third), fmt.Sprintf("169.254.%d.2", third)
	run(t, "ip", "link", "add", up, "type", "veth", "peer", "name", down)
	t.Cleanup(func() { exec.Command("ip", "link", "del", up).Run() })
	run(t, "ip", "link", "set", down, "netns", l.hv)
	run(t, "ip", "addr", "add", srvIP+"/30", "dev", up)
	run(t, "ip", "link", "set", up, "up")
	run(t, inNS(l.hv, "ip", "addr", "add", hvIP+"/30", "dev", down)...)
	run(t, inNS(l.hv, "ip", "link", "set", down, "up")...)
	run(t, inNS(l.hv, "ip", "link", "set", "lo", "up")...)

	srv := testserver.Start(t, func(c *server.Config) {
		c.Listen = srvIP + ":0"
		c.AgentSecret = "lab"
		c.Service.AgentDownTime = 5 * time.Second
	})
	l.server = srv.URL
	l.token = auth.AgentTokens{Secret: []byte("lab")}.Issue("hv1")
	l.agentLg = filepath.Join(t.TempDir(), "agent.log")
	l.startAgent()
	t.Cleanup(l.killAgent)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(l.agentLg)
			t.Logf("agent log:\n%s", lastLines(string(b), 30))
		}
	})
	return l
}

func (l *lab) startAgent() { l.startAgentListening("") }

// startAgentListening starts the agent with its local HTTP endpoint on
// listen ("" for none).
func (l *lab) startAgentListening(listen string) {
	logf, _ := os.OpenFile(l.agentLg, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	l.agent = exec.Command("ip", inNS(l.hv, l.bin, "agent", "--host", "hv1", "--server", l.server, "--token", l.token,
		"--listen", listen, "--heartbeat", "1s", "--log-level", "debug")[1:]...)
	l.agent.Stdout, l.agent.Stderr = logf, logf
	if err := l.agent.Start(); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) killAgent() {
	if l.agent != nil && l.agent.Process != nil {
		// ip netns exec execs the agent in place, so this is the agent.
		l.agent.Process.Signal(syscall.SIGKILL)
		l.agent.Wait()
		l.agent = nil
	}
}

// vm creates a VM namespace on a tap for port p, with the port's MAC; its
// address comes later, by DHCP.
func (l *lab) vm(name string, p map[string]any) string {
	ns := "spvm" + l.id + name
	tap := agentapi.TapName(p["id"].(string))
	run(l.t, "ip", "netns", "add", ns)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(l.t, inNS(l.hv, "ip", "link", "add", tap, "type", "veth", "peer", "name", "vmeth"+l.id+name)...)
	run(l.t, inNS(l.hv, "ip", "link", "set", "vmeth"+l.id+name, "netns", ns)...)
	run(l.t, inNS(ns, "ip", "link", "set", "vmeth"+l.id+name, "name", "eth0")...)
	run(l.t, inNS(ns, "ip", "link", "set", "eth0", "address", p["mac_address"].(string))...)
	run(l.t, inNS(ns, "ip", "link", "set", "eth0", "up")...)
	run(l.t, inNS(ns, "ip", "link", "set", "lo", "up")...)
	return ns
}

// dhcp configures a VM by DHCP with a real client (busybox udhcpc) and
// returns what it was given: address/prefix, router and MTU.
func (l *lab) dhcp(ns string) map[string]string {
	l.t.Helper()
	dir := l.t.TempDir()
	script := filepath.Join(dir, "udhcpc.sh")
	out := filepath.Join(dir, "lease")
	os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
  for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
  printf 'ip=%s\nmask=%s\nrouter=%s\nmtu=%s\nstaticroutes=%s\n' "$ip" "$mask" "$router" "$mtu" "$staticroutes" > `+out+`
  ;;
esac
`), 0o755)
	if _, err := exec.LookPath("busybox"); err != nil {
		l.t.Fatal("busybox is required (Debian package busybox)")
	}
	run(l.t, inNS(ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", script)...)
	b, err := os.ReadFile(out)
	if err != nil {
		l.t.Fatalf("udhcpc in %s wrote no lease: %v", ns, err)
	}
	lease := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			lease[k] = v
		}
	}
	return lease
}

func TestAgentDataPath(t *testing.T) {
	l := newLab(t)
	a := api{t: t, base: l.server}
	eventually(t, 10*time.Second, "agent alive", func() bool {
		ag := a.must(200, "GET", "/v2.0/agents", nil, "")["agents"].([]any)
		return len(ag) == 1 && ag[0].(map[string]any)["alive"] == true
	})
	net := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "vms"}}, "network")
	a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.30.0.0/24", "ip_version": 4}}, "subnet")
	var ports []map[string]any
	var vms []string
	bindStart := time.Now()
	for i := range 4 {
		p := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1",
			"name": fmt.Sprint("vm", i), "port_security_enabled": false, "security_groups": []any{}}}, "port")
		if p["binding:vif_type"] != "tap" {
			t.Fatalf("port %d binding: %v", i, p["binding:vif_type"])
		}
		ports = append(ports, p)
		vms = append(vms, l.vm(fmt.Sprint(i), p))
	}
	// Guests take their addresses by DHCP from the agent.
	for i, ns := range vms {
		lease := l.dhcp(ns)
		want := ports[i]["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
		if lease["ip"] != want || lease["mask"] != "24" || lease["router"] != "10.30.0.1" || lease["mtu"] != "1500" ||
			!strings.Contains(lease["staticroutes"], "169.254.169.254/32 10.30.0.1") {
			t.Errorf("vm%d lease = %v, want %s/24 via 10.30.0.1 with the metadata route", i, lease, want)
		}
	}
	for _, p := range ports {
		eventually(t, 10*time.Second, "port ACTIVE", func() bool {
			return a.must(200, "GET", "/v2.0/ports/"+p["id"].(string), nil, "port")["status"] == "ACTIVE"
		})
	}
	t.Logf("4 ports bound and ACTIVE %v after the first bind", time.Since(bindStart))
	ipOf := func(i int) string { return ports[i]["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string) }

	// Every VM reaches the others and its gateway, routed by the host.
	for i := range vms {
		for j := range vms {
			if i != j {
				run(t, inNS(vms[i], "ping", "-c", "1", "-W", "2", ipOf(j))...)
			}
		}
		run(t, inNS(vms[i], "ping", "-c", "1", "-W", "2", "10.30.0.1")...)
	}
	// The host, not the other VM, answers ARP for a same-subnet address.
	neigh := run(t, inNS(vms[0], "ip", "neigh", "show", ipOf(1))...)
	if !strings.Contains(neigh, agentapi.HostMAC) {
		t.Errorf("vm0's neighbour entry for vm1 is not the host's MAC: %q", neigh)
	}
	// A traceroute between two VMs of the host shows the host as a hop.
	tr := run(t, inNS(vms[0], "busybox", "traceroute", "-n", "-m", "3", "-w", "1", "-q", "1", ipOf(1))...)
	if lines := strings.Split(strings.TrimSpace(tr), "\n"); len(lines) < 3 || !strings.Contains(lines[len(lines)-1], ipOf(1)) || strings.Contains(lines[len(lines)-2], ipOf(1)) {
		t.Errorf("traceroute vm0 -> vm1 does not show a hop before vm1:\n%s", tr)
	} else {
		t.Logf("traceroute vm0 -> vm1:\n%s", tr)
	}
	// A frame sent straight to another VM's MAC never arrives: there is
	// no L2 between VMs, and the host drops frames not addressed to it.
	run(t, inNS(vms[0], "ip", "neigh", "replace", ipOf(2), "lladdr", ports[2]["mac_address"].(string), "dev", "eth0", "nud", "permanent")...)
	if out, err := exec.Command("ip", inNS(vms[0], "ping", "-c", "3", "-i", "0.2", "-W", "1", ipOf(2))[1:]...).CombinedOutput(); err == nil {
		t.Errorf("a frame addressed to another VM's MAC got through:\n%s", out)
	}
	run(t, inNS(vms[0], "ip", "neigh", "del", ipOf(2), "dev", "eth0")...)
	run(t, inNS(vms[0], "ping", "-c", "1", "-W", "2", ipOf(2))...) // through the host again

	// The routes are spinel's (proto 250); a foreign route survives.
	run(t, inNS(l.hv, "ip", "route", "add", "192.0.2.0/24", "dev", "lo", "proto", "static")...)

	// SIGKILL the agent under a continuous ping, restart it: no loss.
	pinger := exec.Command("ip", inNS(vms[0], "ping", "-i", "0.01", "-c", "400", "-W", "1", ipOf(1))[1:]...)
	var out bytes.Buffer
	pinger.Stdout = &out
	if err := pinger.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	l.killAgent()
	// While it is away, a port is deleted.
	a.must(204, "DELETE", "/v2.0/ports/"+ports[3]["id"].(string), nil, "")
	time.Sleep(500 * time.Millisecond)
	l.startAgent()
	if err := pinger.Wait(); err != nil {
		t.Errorf("ping across the agent restart: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), " 0% packet loss") {
		t.Errorf("packets lost across the agent restart:\n%s", lastLines(out.String(), 3))
	} else {
		t.Logf("agent SIGKILL and restart under ping -i 0.01: %s", lastLines(out.String(), 2))
	}
	// On its return the deleted port's route is gone; the foreign route is not.
	eventually(t, 10*time.Second, "deleted port's route removed", func() bool {
		return !strings.Contains(run(t, inNS(l.hv, "ip", "route", "show", "proto", "250")...), ipOf(3))
	})
	if r := run(t, inNS(l.hv, "ip", "route", "show", "192.0.2.0/24")...); !strings.Contains(r, "192.0.2.0/24") {
		t.Error("the agent removed a route that is not its own")
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
