package client

import (
	"strings"
	"testing"
)

func TestNetwork(t *testing.T) {
	c := newClient(t)

	// create: table by default, openstack CLI's renderings.
	out := c.ok("network", "create", "blue", "--mtu", "1400", "--tag", "t1", "--tag", "t2", "--share",
		"--description", "the blue one", "--disable")
	f := fieldValues(t, out)
	if f["name"] != "blue" || f["mtu"] != "1400" || f["tags"] != "t1, t2" || f["shared"] != "True" ||
		f["admin_state_up"] != "DOWN" || f["router:external"] != "Internal" || f["description"] != "the blue one" ||
		f["provider:network_type"] != "routed" || f["project_id"] != "admin" {
		t.Errorf("create table: %v", f)
	}
	if _, ok := f["tenant_id"]; ok {
		t.Error("tenant_id shown")
	}
	blue := f["id"]

	red := c.obj("network", "create", "red", "--external", "--provider-network-type", "routed")
	if red["router:external"] != true || red["name"] != "red" || red["admin_state_up"] != true {
		t.Errorf("create json: %v", red)
	}

	// list: default columns, table rows.
	rows := tableRows(t, c.ok("network", "list"))
	if strings.Join(rows[0], ",") != "ID,Name,Subnets" || len(rows) != 3 {
		t.Fatalf("list table: %v", rows)
	}
	// --long columns and json.
	long := c.rows("network", "list", "--long")
	if len(long) != 2 {
		t.Fatalf("list --long: %v", long)
	}
	for _, k := range []string{"ID", "Name", "Status", "Project", "State", "Shared", "Subnets", "Network Type", "Router Type", "Availability Zones", "Tags"} {
		if _, ok := long[0][k]; !ok {
			t.Errorf("list --long has no column %q: %v", k, long[0])
		}
	}
	// --long table renders State and Router Type like the openstack CLI.
	lt := tableRows(t, c.ok("network", "list", "--long", "--name", "red"))
	if len(lt) != 2 || lt[1][4] != "UP" || lt[1][8] != "External" {
		t.Errorf("list --long table: %v", lt)
	}
	// filters.
	if got := ids(c.rows("network", "list", "--name", "blue"), "ID"); len(got) != 1 || got[0] != blue {
		t.Errorf("--name blue: %v", got)
	}
	if got := ids(c.rows("network", "list", "--external"), "Name"); len(got) != 1 || got[0] != "red" {
		t.Errorf("--external: %v", got)
	}
	if got := ids(c.rows("network", "list", "--tags", "t1,t2"), "Name"); len(got) != 1 || got[0] != "blue" {
		t.Errorf("--tags: %v", got)
	}
	if got := ids(c.rows("network", "list", "--project", "admin"), "ID"); len(got) != 2 {
		t.Errorf("--project admin: %v", got)
	}
	// value with columns, in the command's column order.
	val := c.ok("network", "list", "-f", "value", "-c", "Name", "-c", "ID", "--name", "blue")
	if val != blue+" blue\n" {
		t.Errorf("value -c: %q", val)
	}

	// show by name and by id; yaml.
	if got := c.obj("network", "show", "blue"); got["id"] != blue {
		t.Errorf("show by name: %v", got)
	}
	y := c.yamlObj("network", "show", blue)
	if y["mtu"] != 1400 || y["name"] != "blue" {
		t.Errorf("show yaml: %v", y)
	}
	if got := c.ok("network", "show", "blue", "-f", "value", "-c", "mtu"); got != "1400\n" {
		t.Errorf("show -f value -c mtu: %q", got)
	}

	// set: name, share, tags (added to, then replaced).
	set := c.obj("network", "set", "blue", "--name", "navy", "--no-share", "--enable", "--tag", "t3")
	if set["name"] != "navy" || set["shared"] != false || set["admin_state_up"] != true || strings.Join(strs(set["tags"]), ",") != "t1,t2,t3" {
		t.Errorf("set: %v", set)
	}
	set = c.obj("network", "set", "navy", "--no-tag", "--tag", "only")
	if strings.Join(strs(set["tags"]), ",") != "only" {
		t.Errorf("set --no-tag --tag only: %v", set["tags"])
	}

	// delete several by name and id; they are gone.
	c.ok("network", "delete", "navy", str(red["id"]))
	if out := c.ok("network", "list"); out != "" {
		t.Errorf("list after delete printed %q", out)
	}
	c.fail("no Network found for navy", "network", "show", "navy")
}

func TestNetworkErrors(t *testing.T) {
	c := newClient(t)
	c.ok("network", "create", "dup")
	c.ok("network", "create", "dup")
	c.fail("more than one Network exists with the name 'dup'", "network", "show", "dup")
	c.fail("--enable and --disable are mutually exclusive", "network", "create", "x", "--enable", "--disable")
	c.fail(`unknown output format "xml"`, "network", "list", "-f", "xml")
	c.fail("no recognized column names in Nope", "network", "list", "-c", "Nope")
	c.fail("accepts 1 arg(s)", "network", "create")
	// Neutron's own message for a bad value (400).
	c.fail("Invalid input for mtu", "network", "create", "tiny", "--mtu", "-1")
	// Nothing was created by the failed commands.
	if rows := c.rows("network", "list"); len(rows) != 2 {
		t.Errorf("%d networks after failed creates, want 2", len(rows))
	}
	// A non-admin project may not create external networks: Neutron's 403 message.
	c.as("p1").fail("(HTTP 403", "network", "create", "ext", "--external")
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = str(e)
	}
	return out
}
