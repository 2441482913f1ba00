// Package cli drives the real `openstack` CLI (Debian's
// python3-openstackclient) against a real spinel server.
package cli

import (
	"encoding/json"
	"net/http"
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

// TestOpenstackCLIRoutersAndFlavors drives routers, floating IPs and L3
// flavors through the real CLI.
func TestOpenstackCLIRoutersAndFlavors(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient; .ci/run does it)")
	}
	srv := testserver.Start(t)
	o := osc{t, srv.URL}

	profile := o.run("network", "flavor", "profile", "create", "--driver", "routed", "--description", "routed fabric").(map[string]any)
	o.run("network", "flavor", "create", "--service-type", "L3_ROUTER_NAT", "--description", "routed", "fabric")
	o.exec("network", "flavor", "add", "profile", "fabric", profile["id"].(string))
	flavors := o.run("network", "flavor", "list").([]any)
	if len(flavors) != 1 {
		t.Fatalf("flavor list: %v", flavors)
	}
	providers := o.run("network", "service", "provider", "list").([]any)
	if len(providers) != 1 || providers[0].(map[string]any)["Name"] != "routed" {
		t.Errorf("service provider list: %v", providers)
	}

	o.run("network", "create", "--external", "public")
	o.run("subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24", "public-v4")
	o.run("network", "create", "private")
	o.run("subnet", "create", "--network", "private", "--subnet-range", "10.0.0.0/24", "private-v4")
	// Debian 12's openstackclient (6.0) has no `router create --flavor`
	// (added in later releases), so the flavored router is created over
	// HTTP exactly as newer clients do, and the CLI does the rest.
	flavorID := flavors[0].(map[string]any)["ID"].(string)
	resp, err := http.Post(srv.URL+"/v2.0/routers", "application/json",
		strings.NewReader(`{"router": {"name": "r1", "flavor_id": "`+flavorID+`"}}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("router create with flavor: %v %v", resp, err)
	}
	resp.Body.Close()
	r := o.run("router", "show", "r1").(map[string]any)
	if r["flavor_id"] != flavorID {
		t.Errorf("router flavor_id = %v, want %s", r["flavor_id"], flavorID)
	}
	o.exec("router", "set", "--external-gateway", "public", "r1")
	o.exec("router", "add", "subnet", "r1", "private-v4")
	shown := o.run("router", "show", "r1").(map[string]any)
	if gw, _ := shown["external_gateway_info"].(map[string]any); gw == nil || gw["network_id"] == nil {
		t.Errorf("router gateway: %v", shown["external_gateway_info"])
	}
	o.run("port", "create", "--network", "private", "vm1")
	fip := o.run("floating", "ip", "create", "--port", "vm1", "public").(map[string]any)
	if fip["router_id"] != r["id"] || fip["port_id"] == nil {
		t.Errorf("floating ip create: %v", fip)
	}
	addr := fip["floating_ip_address"].(string)
	o.exec("floating", "ip", "unset", "--port", addr)
	if f := o.run("floating", "ip", "show", addr).(map[string]any); f["port_id"] != nil {
		t.Errorf("floating ip unset kept the port: %v", f)
	}
	o.exec("floating", "ip", "set", "--port", "vm1", addr)
	if f := o.run("floating", "ip", "show", addr).(map[string]any); f["port_id"] == nil || f["router_id"] != r["id"] {
		t.Errorf("floating ip set: %v", f)
	}
	if out := o.fail("network", "flavor", "delete", "fabric"); !strings.Contains(out, "in use") && !strings.Contains(out, "Failed") {
		t.Errorf("flavor in use deleted: %s", out)
	}
	o.exec("floating", "ip", "delete", addr)
	o.exec("router", "remove", "subnet", "r1", "private-v4")
	o.exec("router", "delete", "r1")
}
