// Package cli drives the real `openstack` CLI (Debian's
// python3-openstackclient) against a real spinel server.
package cli

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/testserver"
)

type osc struct {
	t   *testing.T
	url string
}

// run executes an openstack command and decodes its -f json output.
func (o osc) run(args ...string) any {
	o.t.Helper()
	full := append([]string{"--os-auth-type", "none", "--os-endpoint", o.url}, args...)
	full = append(full, "-f", "json")
	out, err := exec.Command("openstack", full...).CombinedOutput()
	if err != nil {
		o.t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		o.t.Fatalf("openstack %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// fail executes a command that must fail and returns its output.
func (o osc) fail(args ...string) string {
	o.t.Helper()
	full := append([]string{"--os-auth-type", "none", "--os-endpoint", o.url}, args...)
	out, err := exec.Command("openstack", full...).CombinedOutput()
	if err == nil {
		o.t.Fatalf("openstack %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func TestOpenstackCLI(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient; .ci/run does it)")
	}
	srv := testserver.Start(t)
	o := osc{t, srv.URL}

	net := o.run("network", "create", "demo").(map[string]any)
	if net["name"] != "demo" || net["status"] != "ACTIVE" || net["provider:network_type"] != "routed" {
		t.Errorf("network create: %v", net)
	}
	sub := o.run("subnet", "create", "--network", "demo", "--subnet-range", "10.0.0.0/24", "--dns-nameserver", "10.0.0.53", "demo-v4").(map[string]any)
	if sub["cidr"] != "10.0.0.0/24" || sub["gateway_ip"] != "10.0.0.1" {
		t.Errorf("subnet create: %v", sub)
	}
	port := o.run("port", "create", "--network", "demo", "--fixed-ip", "subnet=demo-v4,ip-address=10.0.0.10", "vm1").(map[string]any)
	ips, _ := json.Marshal(port["fixed_ips"])
	if !strings.Contains(string(ips), "10.0.0.10") || port["status"] != "DOWN" {
		t.Errorf("port create: %v", port)
	}
	rule := o.run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "--remote-ip", "192.0.2.0/24", "default").(map[string]any)
	if rule["port_range_min"] != float64(22) || rule["protocol"] != "tcp" || rule["remote_ip_prefix"] != "192.0.2.0/24" {
		t.Errorf("rule create: %v", rule)
	}

	nets := o.run("network", "list").([]any)
	if len(nets) != 1 || nets[0].(map[string]any)["Name"] != "demo" {
		t.Errorf("network list: %v", nets)
	}
	ports := o.run("port", "list", "--network", "demo").([]any)
	if len(ports) != 1 || ports[0].(map[string]any)["Name"] != "vm1" {
		t.Errorf("port list: %v", ports)
	}
	rules := o.run("security", "group", "rule", "list", "default").([]any)
	if len(rules) != 5 { // the four default rules and ours
		t.Errorf("rule list has %d rules, want 5: %v", len(rules), rules)
	}
	subs := o.run("subnet", "list", "--network", "demo").([]any)
	if len(subs) != 1 {
		t.Errorf("subnet list: %v", subs)
	}

	// Errors reach the user with Neutron's message.
	if out := o.fail("port", "create", "--network", "demo", "--fixed-ip", "subnet=demo-v4,ip-address=10.0.0.10", "vm2"); !strings.Contains(out, "already allocated") {
		t.Errorf("duplicate IP: %s", out)
	}
	if out := o.fail("network", "delete", "demo"); !strings.Contains(out, "ports still in use") && !strings.Contains(out, "Failed to delete") {
		t.Errorf("network in use: %s", out)
	}
	o.exec("port", "set", "--name", "vm1-renamed", "vm1")
	o.exec("network", "set", "--description", "tour", "demo")
	shown := o.run("network", "show", "demo").(map[string]any)
	if shown["description"] != "tour" {
		t.Errorf("network show after set: %v", shown)
	}
}

// exec runs a command with no output to decode.
func (o osc) exec(args ...string) {
	o.t.Helper()
	full := append([]string{"--os-auth-type", "none", "--os-endpoint", o.url}, args...)
	if out, err := exec.Command("openstack", full...).CombinedOutput(); err != nil {
		o.t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
