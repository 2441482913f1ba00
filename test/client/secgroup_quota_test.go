package client

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecurityGroups(t *testing.T) {
	c := newClient(t)
	web := c.obj("security-group", "create", "web", "--description", "web servers", "--tag", "w")
	if web["name"] != "web" || web["description"] != "web servers" || strings.Join(strs(web["tags"]), ",") != "w" {
		t.Errorf("group create: %v", web)
	}
	if _, ok := web["rules"]; !ok {
		t.Errorf("security_group_rules not shown as rules: %v", web)
	}
	db := c.obj("security-group", "create", "db", "--stateless")
	if db["stateful"] != false {
		t.Errorf("--stateless: %v", db)
	}

	// Rules as the openstack CLI builds them.
	ssh := c.obj("security-group-rule", "create", "web", "--protocol", "tcp", "--dst-port", "22:23", "--remote-ip", "192.0.2.0/24")
	if ssh["protocol"] != "tcp" || ssh["port_range_min"] != 22.0 || ssh["port_range_max"] != 23.0 || ssh["direction"] != "ingress" ||
		ssh["ether_type"] != "IPv4" || ssh["remote_ip_prefix"] != "192.0.2.0/24" || ssh["security_group_id"] != web["id"] {
		t.Errorf("tcp rule: %v", ssh)
	}
	ping := c.obj("security-group-rule", "create", "web", "--protocol", "icmp", "--icmp-type", "8", "--icmp-code", "0")
	if ping["port_range_min"] != 8.0 || ping["port_range_max"] != 0.0 || ping["remote_ip_prefix"] != "0.0.0.0/0" {
		t.Errorf("icmp rule: %v", ping)
	}
	v6 := c.obj("security-group-rule", "create", "web", "--protocol", "ipv6-icmp", "--egress")
	if v6["ether_type"] != "IPv6" || v6["direction"] != "egress" || v6["remote_ip_prefix"] != "::/0" {
		t.Errorf("ipv6-icmp rule: %v", v6)
	}
	fromDB := c.obj("security-group-rule", "create", "web", "--protocol", "tcp", "--dst-port", "80", "--remote-group", "db")
	if fromDB["remote_group_id"] != db["id"] || fromDB["remote_ip_prefix"] != nil || fromDB["port_range_max"] != 80.0 {
		t.Errorf("remote group rule: %v", fromDB)
	}

	// List one group's rules: the openstack CLI's columns and renderings.
	rows := tableRows(t, c.ok("security-group-rule", "list", "web", "--protocol", "tcp"))
	if strings.Join(rows[0], ",") != "ID,IP Protocol,Ethertype,IP Range,Port Range,Direction,Remote Security Group,Remote Address Group" {
		t.Fatalf("rule list header: %v", rows[0])
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r
	}
	if r := byID[str(ssh["id"])]; r == nil || r[3] != "192.0.2.0/24" || r[4] != "22:23" {
		t.Errorf("ssh row: %v", r)
	}
	if r := byID[str(fromDB["id"])]; r == nil || r[3] != "0.0.0.0/0" || r[4] != "80:80" || r[6] != str(db["id"]) {
		t.Errorf("remote group row: %v", r)
	}
	if len(byID) != 2 {
		t.Errorf("--protocol tcp listed %d rules", len(byID))
	}
	icmp := c.rows("security-group-rule", "list", "web", "--protocol", "icmp")
	if len(icmp) != 1 || icmp[0]["Port Range"] != "type=8" { // code 0 is falsy to the openstack CLI too
		t.Errorf("icmp rows: %v", icmp)
	}
	// Without a group: a Security Group column.
	all := c.rows("security-group-rule", "list", "--egress", "--ethertype", "ipv6")
	for _, r := range all {
		if r["Direction"] != "egress" || r["Ethertype"] != "IPv6" || r["Security Group"] == nil {
			t.Errorf("--egress --ethertype ipv6 row: %v", r)
		}
	}

	// The group's show lists its rules one per line, without empty fields.
	f := fieldValues(t, c.ok("security-group", "show", "web"))
	if lines := strings.Split(f["rules"], "\n"); len(lines) != 6 { // 2 default egress + 4 created
		t.Errorf("rules field has %d lines:\n%s", len(lines), f["rules"])
	}
	if !strings.Contains(f["rules"], "port_range_max='23', port_range_min='22', protocol='tcp'") || strings.Contains(f["rules"], "security_group_id") {
		t.Errorf("rules field:\n%s", f["rules"])
	}

	// list and set.
	if got := ids(c.rows("security-group", "list", "--name", "web"), "Name"); len(got) != 1 {
		t.Errorf("group list --name: %v", got)
	}
	s := c.obj("security-group", "set", "db", "--name", "database", "--description", "d")
	if s["name"] != "database" || s["description"] != "d" {
		t.Errorf("group set: %v", s)
	}

	// Errors: argument checks, Neutron's 409 for a duplicate rule.
	c.fail("--dst-port is not allowed with --icmp-type", "security-group-rule", "create", "web", "--protocol", "icmp", "--dst-port", "1", "--icmp-type", "3")
	c.fail("need an ICMP protocol", "security-group-rule", "create", "web", "--protocol", "tcp", "--icmp-type", "3")
	c.fail(`--dst-port "x"`, "security-group-rule", "create", "web", "--protocol", "tcp", "--dst-port", "x")
	c.fail("(HTTP 409 SecurityGroupRuleExists)", "security-group-rule", "create", "web", "--protocol", "tcp", "--dst-port", "22:23", "--remote-ip", "192.0.2.0/24")
	c.fail("no SecurityGroup found for nogroup", "security-group-rule", "create", "nogroup")

	c.ok("security-group-rule", "delete", str(ssh["id"]), str(ping["id"]))
	c.fail("no SecurityGroupRule found", "security-group-rule", "show", str(ssh["id"]))
	// A group in use by a port cannot go: Neutron's message.
	c.ok("network", "create", "n")
	c.ok("port", "create", "p", "--network", "n", "--security-group", "web")
	c.fail("(HTTP 409 SecurityGroupInUse)", "security-group", "delete", "web")
	c.ok("port", "delete", "p")
	// Deleting a remote group takes the rules naming it along, as in Neutron.
	c.ok("security-group", "delete", "database", "web")
	c.fail("no SecurityGroupRule found", "security-group-rule", "show", str(fromDB["id"]))
}

// The name "default" is in every project: as admin it resolves to the
// admin's own group.
func TestDefaultGroupResolvesToOwnProject(t *testing.T) {
	c := newClient(t)
	pa := c.as("project-a")
	mine := pa.obj("security-group", "show", "default")
	if mine["project_id"] != "project-a" {
		t.Fatalf("project-a's default: %v", mine)
	}
	admins := c.obj("security-group", "show", "default") // now two "default" groups are visible to admin
	if admins["project_id"] != "admin" {
		t.Errorf("admin resolved default to %v", admins["project_id"])
	}
	if got := c.rows("security-group", "list", "--name", "default"); len(got) != 2 {
		t.Fatalf("admin sees %d default groups, want 2", len(got))
	}
	r := c.obj("security-group-rule", "create", "default", "--protocol", "tcp", "--dst-port", "22")
	if r["security_group_id"] != admins["id"] {
		t.Errorf("rule went to %v, want the admin's default %v", r["security_group_id"], admins["id"])
	}
	// Projects are isolated: project-b sees neither.
	pb := c.as("project-b")
	for _, g := range pb.rows("security-group", "list") {
		if g["Project"] != "project-b" {
			t.Errorf("project-b sees %v", g)
		}
	}
	pb.fail("no SecurityGroup found for "+str(mine["id"]), "security-group", "show", str(mine["id"]))
}

func TestQuota(t *testing.T) {
	c := newClient(t)
	f := fieldValues(t, c.ok("quota", "show"))
	for _, k := range []string{"floating-ips", "networks", "ports", "routers", "secgroup-rules", "secgroups", "subnets"} {
		if f[k] == "" {
			t.Errorf("quota show has no %s: %v", k, f)
		}
	}
	if f["project"] != "admin" {
		t.Errorf("quota show without a project: %v", f)
	}

	set := c.obj("quota", "set", "p1", "--networks", "1", "--ports", "7", "--secgroup-rules", "-1")
	if set["networks"] != 1.0 || set["ports"] != 7.0 || set["secgroup-rules"] != -1.0 || set["project"] != "p1" {
		t.Errorf("quota set: %v", set)
	}
	if got := c.obj("quota", "show", "p1"); got["networks"] != 1.0 {
		t.Errorf("quota show p1: %v", got)
	}
	def := c.obj("quota", "show", "p1", "--default")
	if def["networks"] == 1.0 {
		t.Errorf("--default shows the project's own: %v", def)
	}
	rows := c.rows("quota", "list")
	if len(rows) != 1 || rows[0]["Project ID"] != "p1" || rows[0]["Networks"] != 1.0 || rows[0]["Ports"] != 7.0 {
		t.Errorf("quota list: %v", rows)
	}

	// The limit holds, with Neutron's message.
	p1 := c.as("p1")
	p1.ok("network", "create", "one")
	p1.fail("Quota exceeded for resources: ['network']", "network", "create", "two")
	detail := p1.rows("quota", "list", "--detail")
	found := false
	for _, r := range detail {
		if r["Resource"] == "networks" {
			found = true
			if r["In Use"] != 1.0 || r["Limit"] != 1.0 {
				t.Errorf("detail networks row: %v", r)
			}
		}
	}
	if !found {
		t.Errorf("quota list --detail: %v", detail)
	}
	// Only an admin may change quotas.
	p1.fail("(HTTP 403", "quota", "set", "p1", "--networks", "10")
	c.fail("nothing to set", "quota", "set", "p1")

	c.ok("quota", "delete", "p1")
	if got := c.obj("quota", "show", "p1"); got["networks"] != def["networks"] {
		t.Errorf("after delete: %v, want the default %v", got["networks"], def["networks"])
	}
	if rows := c.rows("quota", "list"); len(rows) != 0 {
		t.Errorf("quota list after delete: %v", rows)
	}
}

// The built binary exits non-zero and prints Neutron's message on stderr.
func TestBinaryExitStatus(t *testing.T) {
	c := newClient(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "spinel")
	build := exec.Command("go", "build", "-o", bin, "github.com/spinel-net/spinel/cmd/spinel")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "network", "show", "missing")
	cmd.Env = append(os.Environ(), "SPINEL_URL="+c.url)
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || len(out) != 0 || !strings.Contains(string(ee.Stderr), "spinel: no Network found for missing") {
		t.Errorf("missing network: %v, stdout %q, stderr %q", err, out, stderrOf(err))
	}
	cmd = exec.Command(bin, "network", "list", "-f", "value", "-c", "Name")
	cmd.Env = append(os.Environ(), "SPINEL_URL="+c.url)
	c.ok("network", "create", "n1")
	if out, err := cmd.Output(); err != nil || string(out) != "n1\n" {
		t.Errorf("list: %q, %v", out, err)
	}
	// No credentials at all: a clear error, not a request to some default.
	cmd = exec.Command(bin, "network", "list")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Dir = t.TempDir()
	if _, err := cmd.Output(); err == nil || !strings.Contains(stderrOf(err), "no credentials") {
		t.Errorf("no credentials: %v %s", err, stderrOf(err))
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// Every resource's list and show in every format parse as what they claim
// to be and carry the resource.
func TestEveryFormat(t *testing.T) {
	c := newClient(t)
	c.ok("network", "create", "fmt-net")
	c.ok("subnet", "create", "fmt-sub", "--network", "fmt-net", "--subnet-range", "10.7.0.0/24")
	c.ok("port", "create", "fmt-port", "--network", "fmt-net")
	c.ok("security-group", "create", "fmt-sg")
	rule := c.obj("security-group-rule", "create", "fmt-sg", "--protocol", "udp", "--dst-port", "53")
	ruleID := str(rule["id"])
	for _, tc := range []struct {
		resource, show, idCol string
	}{
		{"network", "fmt-net", "ID"}, {"subnet", "fmt-sub", "ID"}, {"port", "fmt-port", "ID"},
		{"security-group", "fmt-sg", "ID"}, {"security-group-rule", ruleID, "ID"}, {"quota", "admin", "Project ID"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			if tc.resource == "quota" {
				c.ok("quota", "set", "admin", "--ports", "99")
			}
			// list
			rows := c.rows(tc.resource, "list")
			if len(rows) == 0 {
				t.Fatalf("%s list -f json: no rows", tc.resource)
			}
			var y []map[string]any
			if err := yaml.Unmarshal([]byte(c.ok(tc.resource, "list", "-f", "yaml")), &y); err != nil || len(y) != len(rows) {
				t.Errorf("%s list -f yaml: %d rows, %v", tc.resource, len(y), err)
			}
			table := tableRows(t, c.ok(tc.resource, "list"))
			if len(table) != len(rows)+1 || table[0][0] != tc.idCol {
				t.Errorf("%s list table: %v", tc.resource, table)
			}
			val := c.ok(tc.resource, "list", "-f", "value", "-c", tc.idCol)
			if strings.Count(val, "\n") != len(rows) || !strings.Contains(val, str(rows[0][tc.idCol])) {
				t.Errorf("%s list -f value: %q", tc.resource, val)
			}
			// show
			obj := c.obj(tc.resource, "show", tc.show)
			if len(obj) < 3 {
				t.Errorf("%s show -f json: %v", tc.resource, obj)
			}
			ym := c.yamlObj(tc.resource, "show", tc.show)
			if len(ym) != len(obj) {
				t.Errorf("%s show -f yaml has %d fields, json %d", tc.resource, len(ym), len(obj))
			}
			f := fieldValues(t, c.ok(tc.resource, "show", tc.show))
			if len(f) != len(obj) {
				t.Errorf("%s show table has %d fields, json %d", tc.resource, len(f), len(obj))
			}
			key := "id"
			if tc.resource == "quota" {
				key = "project"
			}
			if v := c.ok(tc.resource, "show", tc.show, "-f", "value", "-c", key); v != str(obj[key])+"\n" {
				t.Errorf("%s show -f value -c %s: %q, want %v", tc.resource, key, v, obj[key])
			}
		})
	}
}
