package client

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSameTablesAsOpenstackCLI compares spinel's list tables with those of
// the openstack CLI (Debian's python3-openstackclient) against the same
// server: the same headers, and for tables whose cells do not depend on
// the SDK's field set, the same rows.
func TestSameTablesAsOpenstackCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the openstack CLI takes a second a command")
	}
	osc, err := exec.LookPath("openstack")
	if err != nil {
		t.Fatal("the openstack CLI is missing: install Debian's python3-openstackclient")
	}
	c := newClient(t)
	c.ok("network", "create", "cmp-net", "--tag", "b", "--tag", "a")
	c.ok("subnet", "create", "cmp-sub", "--network", "cmp-net", "--subnet-range", "10.8.0.0/24", "--dns-nameserver", "192.0.2.1")
	c.ok("port", "create", "cmp-port", "--network", "cmp-net")
	c.ok("security-group", "create", "cmp-sg", "--description", "compared")
	c.ok("security-group-rule", "create", "cmp-sg", "--protocol", "tcp", "--dst-port", "22:23", "--remote-ip", "192.0.2.0/24")
	c.ok("security-group-rule", "create", "cmp-sg", "--protocol", "icmp", "--icmp-type", "8", "--icmp-code", "3")
	c.ok("security-group-rule", "create", "cmp-sg", "--protocol", "udp", "--dst-port", "53", "--remote-group", "cmp-sg", "--egress")

	openstack := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(osc, args...)
		cmd.Env = append(os.Environ(), "OS_AUTH_TYPE=none", "OS_ENDPOINT="+c.url)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
		}
		return string(out)
	}
	for _, tc := range []struct {
		osc, spinel []string
		sameRows    bool
	}{
		{[]string{"network", "list"}, []string{"network", "list"}, true},
		{[]string{"network", "list", "--long"}, []string{"network", "list", "--long"}, false},
		{[]string{"subnet", "list"}, []string{"subnet", "list"}, true},
		{[]string{"subnet", "list", "--long"}, []string{"subnet", "list", "--long"}, false},
		{[]string{"port", "list"}, []string{"port", "list"}, true},
		{[]string{"port", "list", "--long"}, []string{"port", "list", "--long"}, false},
		{[]string{"security", "group", "list"}, []string{"security-group", "list"}, false},
		{[]string{"security", "group", "rule", "list", "cmp-sg"}, []string{"security-group-rule", "list", "cmp-sg"}, true},
		{[]string{"security", "group", "rule", "list"}, []string{"security-group-rule", "list"}, true},
	} {
		want := tableRows(t, openstack(tc.osc...))
		got := tableRows(t, c.ok(tc.spinel...))
		if strings.Join(got[0], "|") != strings.Join(want[0], "|") {
			t.Errorf("spinel %s headers\n%v\nopenstack %s headers\n%v", strings.Join(tc.spinel, " "), got[0], strings.Join(tc.osc, " "), want[0])
			continue
		}
		if !tc.sameRows {
			continue
		}
		if len(got) != len(want) {
			t.Errorf("spinel %s: %d lines, openstack %d", strings.Join(tc.spinel, " "), len(got), len(want))
			continue
		}
		// Row order is the server's; compare as sets of lines.
		wantSet := map[string]bool{}
		for _, r := range want {
			wantSet[strings.Join(r, "|")] = true
		}
		for _, r := range got {
			if !wantSet[strings.Join(r, "|")] {
				t.Errorf("spinel %s row %v not in the openstack CLI's table:\n%v", strings.Join(tc.spinel, " "), r, want)
			}
		}
	}
}

// TestSameShowFieldsAsOpenstackCLI checks that show names every field as
// the openstack CLI does (its SDK renames some: binding_host_id,
// security_group_ids, ether_type). spinel shows a few fields the SDK does
// not know; the CLI shows SDK fields spinel does not have.
func TestSameShowFieldsAsOpenstackCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the openstack CLI takes a second a command")
	}
	osc, err := exec.LookPath("openstack")
	if err != nil {
		t.Fatal("the openstack CLI is missing: install Debian's python3-openstackclient")
	}
	c := newClient(t)
	c.ok("network", "create", "n")
	c.ok("subnet", "create", "s", "--network", "n", "--subnet-range", "10.8.0.0/24")
	c.ok("port", "create", "p", "--network", "n", "--host", "hv1")
	c.ok("security-group", "create", "g")
	rule := str(c.obj("security-group-rule", "create", "g", "--protocol", "tcp")["id"])
	spinelOnly := map[string]bool{"l2_adjacency": true, "shared": true, "belongs_to_default_sg": true, "normalized_cidr": true}
	for _, tc := range []struct{ osc, spinel []string }{
		{[]string{"network", "show", "n"}, []string{"network", "show", "n"}},
		{[]string{"subnet", "show", "s"}, []string{"subnet", "show", "s"}},
		{[]string{"port", "show", "p"}, []string{"port", "show", "p"}},
		{[]string{"security", "group", "show", "g"}, []string{"security-group", "show", "g"}},
		{[]string{"security", "group", "rule", "show", rule}, []string{"security-group-rule", "show", rule}},
	} {
		cmd := exec.Command(osc, append(tc.osc, "-f", "json")...)
		cmd.Env = append(os.Environ(), "OS_AUTH_TYPE=none", "OS_ENDPOINT="+c.url)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(tc.osc, " "), err, stderrOf(err))
		}
		var want map[string]any
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}
		for k := range c.obj(tc.spinel...) {
			if _, ok := want[k]; !ok && !spinelOnly[k] {
				t.Errorf("spinel %s shows %q, which the openstack CLI does not", strings.Join(tc.spinel, " "), k)
			}
		}
	}
}
