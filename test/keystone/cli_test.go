package keystone

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/keystonetest"
)

// osc runs the openstack CLI as one Keystone user, finding spinel through
// Keystone's catalog (the "network" service).
type osc struct {
	t *testing.T
	u keystonetest.User
}

func (o osc) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("openstack", args...)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OS_") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, ks.Env(o.u)...)
	return cmd
}

// run executes a command that must succeed and decodes its -f json output.
func (o osc) run(args ...string) any {
	o.t.Helper()
	out, err := o.cmd(append(args, "-f", "json")...).CombinedOutput()
	if err != nil {
		o.t.Fatalf("%s: openstack %s: %v\n%s", o.u.Name, strings.Join(args, " "), err, out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		o.t.Fatalf("%s: openstack %s: not JSON: %v\n%s", o.u.Name, strings.Join(args, " "), err, out)
	}
	return v
}

// fail executes a command that must fail and returns its output.
func (o osc) fail(args ...string) string {
	o.t.Helper()
	out, err := o.cmd(args...).CombinedOutput()
	if err == nil {
		o.t.Fatalf("%s: openstack %s succeeded, want failure:\n%s", o.u.Name, strings.Join(args, " "), out)
	}
	return string(out)
}

func (o osc) names(args ...string) []string {
	o.t.Helper()
	var out []string
	for _, e := range o.run(args...).([]any) {
		out = append(out, e.(map[string]any)["Name"].(string))
	}
	return out
}

// TestOpenstackCLIWithKeystone drives spinel with the real openstack CLI
// under real Keystone authentication, spinel registered in the catalog.
func TestOpenstackCLIWithKeystone(t *testing.T) {
	needKeystone(t)
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient; .ci/run does it)")
	}
	srv := startSpinel(t, time.Minute)
	if err := ks.RegisterNetworkEndpoint(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	a, b := osc{t, ks.MemberA}, osc{t, ks.MemberB}
	reader, admin := osc{t, ks.Reader}, osc{t, ks.Admin}

	net := a.run("network", "create", "cli-a").(map[string]any)
	if net["project_id"] != ks.ProjectA || net["status"] != "ACTIVE" {
		t.Errorf("network create as member A: %v", net)
	}
	sub := a.run("subnet", "create", "--network", "cli-a", "--subnet-range", "10.9.0.0/24", "cli-a-v4").(map[string]any)
	if sub["cidr"] != "10.9.0.0/24" || sub["project_id"] != ks.ProjectA {
		t.Errorf("subnet create: %v", sub)
	}
	port := a.run("port", "create", "--network", "cli-a", "vm1").(map[string]any)
	if port["project_id"] != ks.ProjectA {
		t.Errorf("port create: %v", port)
	}
	if names := a.names("network", "list"); !slices.Equal(names, []string{"cli-a"}) {
		t.Errorf("member A lists %v", names)
	}
	if names := a.names("port", "list"); !slices.Equal(names, []string{"vm1"}) {
		t.Errorf("member A lists ports %v", names)
	}

	// Member B neither sees nor deletes A's network.
	if names := b.names("network", "list"); slices.Contains(names, "cli-a") {
		t.Errorf("member B lists %v", names)
	}
	if out := b.fail("network", "show", "cli-a"); !strings.Contains(out, "cli-a") {
		t.Errorf("member B shows A's network: %s", out)
	}
	b.fail("network", "delete", net["id"].(string))
	// Admin-only attribute.
	if out := a.fail("network", "create", "--share", "cli-shared"); !strings.Contains(out, "disallowed by policy") {
		t.Errorf("member A creates a shared network: %s", out)
	}
	// The reader sees A's network and cannot write.
	if names := reader.names("network", "list"); !slices.Equal(names, []string{"cli-a"}) {
		t.Errorf("reader lists %v", names)
	}
	if out := reader.fail("network", "create", "cli-r"); !strings.Contains(out, "disallowed by policy") {
		t.Errorf("reader creates: %s", out)
	}
	if out := reader.fail("port", "delete", "vm1"); !strings.Contains(out, "vm1") {
		t.Errorf("reader deletes a port: %s", out)
	}

	// The admin sees every project and creates external networks.
	ext := admin.run("network", "create", "--external", "public").(map[string]any)
	if ext["router:external"] != true {
		t.Errorf("admin's external network: %v", ext)
	}
	if names := admin.names("network", "list"); !slices.Contains(names, "cli-a") || !slices.Contains(names, "public") {
		t.Errorf("admin lists %v", names)
	}
	a.run("port", "show", "vm1")
	if err := a.cmd("port", "delete", "vm1").Run(); err != nil {
		t.Errorf("member A deletes its port: %v", err)
	}
	if names := a.names("port", "list"); len(names) != 0 {
		t.Errorf("ports after delete: %v", names)
	}
}
