package client

import (
	"strings"
	"testing"
)

func TestSubnet(t *testing.T) {
	c := newClient(t)
	c.ok("network", "create", "net")
	net := c.obj("network", "show", "net")

	out := c.ok("subnet", "create", "v4", "--network", "net", "--subnet-range", "10.1.0.0/24",
		"--allocation-pool", "start=10.1.0.10,end=10.1.0.20", "--allocation-pool", "start=10.1.0.30,end=10.1.0.40",
		"--dns-nameserver", "192.0.2.53", "--host-route", "destination=10.9.0.0/16,gateway=10.1.0.254",
		"--gateway", "10.1.0.254", "--no-dhcp", "--tag", "x")
	f := fieldValues(t, out)
	if f["allocation_pools"] != "10.1.0.10-10.1.0.20,10.1.0.30-10.1.0.40" || f["dns_nameservers"] != "192.0.2.53" ||
		f["host_routes"] != "destination='10.9.0.0/16', gateway='10.1.0.254'" || f["gateway_ip"] != "10.1.0.254" ||
		f["enable_dhcp"] != "False" || f["ip_version"] != "4" || f["network_id"] != net["id"] || f["tags"] != "x" {
		t.Errorf("subnet create: %v", f)
	}
	// IPv6 inferred from the range; --gateway none.
	v6 := c.obj("subnet", "create", "v6", "--network", str(net["id"]), "--subnet-range", "fd00:1::/64", "--gateway", "none",
		"--ipv6-address-mode", "slaac", "--ipv6-ra-mode", "slaac")
	if v6["ip_version"] != 6.0 || v6["gateway_ip"] != nil || v6["ipv6_address_mode"] != "slaac" {
		t.Errorf("v6 create: %v", v6)
	}

	// list: default columns and filters.
	rows := tableRows(t, c.ok("subnet", "list"))
	if strings.Join(rows[0], ",") != "ID,Name,Network,Subnet" || len(rows) != 3 {
		t.Fatalf("subnet list: %v", rows)
	}
	if got := ids(c.rows("subnet", "list", "--ip-version", "6"), "Name"); len(got) != 1 || got[0] != "v6" {
		t.Errorf("--ip-version 6: %v", got)
	}
	if got := ids(c.rows("subnet", "list", "--network", "net", "--no-dhcp"), "Name"); len(got) != 1 || got[0] != "v4" {
		t.Errorf("--network net --no-dhcp: %v", got)
	}
	long := c.rows("subnet", "list", "--long", "--subnet-range", "10.1.0.0/24")
	if len(long) != 1 || long[0]["Gateway"] != "10.1.0.254" || long[0]["DHCP"] != false || long[0]["IP Version"] != 4.0 {
		t.Errorf("list --long: %v", long)
	}

	// set adds to the lists; --no-* clears first.
	s := c.obj("subnet", "set", "v4", "--dns-nameserver", "192.0.2.54", "--dhcp", "--name", "v4b")
	if strings.Join(strs(s["dns_nameservers"]), ",") != "192.0.2.53,192.0.2.54" || s["enable_dhcp"] != true || s["name"] != "v4b" {
		t.Errorf("subnet set: %v", s)
	}
	s = c.obj("subnet", "set", "v4b", "--no-allocation-pool", "--allocation-pool", "start=10.1.0.100,end=10.1.0.200", "--no-host-route")
	pools, _ := s["allocation_pools"].([]any)
	if len(pools) != 1 || len(s["host_routes"].([]any)) != 0 {
		t.Errorf("subnet set pools: %v", s)
	}

	// Errors: Neutron's message for a bad range, argument checks before anything is sent.
	c.fail("Invalid input", "subnet", "create", "bad", "--network", "net", "--subnet-range", "10.1.0.0/33")
	c.fail("--network is required", "subnet", "create", "bad", "--subnet-range", "10.2.0.0/24")
	c.fail("--subnet-range is required", "subnet", "create", "bad", "--network", "net")
	c.fail(`--allocation-pool "start=10.2.0.1": missing end=`, "subnet", "create", "bad", "--network", "net", "--subnet-range", "10.2.0.0/24", "--allocation-pool", "start=10.2.0.1")
	c.fail(`unknown key "via"`, "subnet", "create", "bad", "--network", "net", "--subnet-range", "10.2.0.0/24", "--host-route", "destination=0.0.0.0/0,via=10.2.0.1")
	c.fail("no Network found for nonet", "subnet", "create", "bad", "--network", "nonet", "--subnet-range", "10.2.0.0/24")
	if got := c.rows("subnet", "list"); len(got) != 2 {
		t.Errorf("%d subnets after failed creates, want 2", len(got))
	}

	c.ok("subnet", "delete", "v4b", "v6")
	if got := c.rows("subnet", "list"); len(got) != 0 {
		t.Errorf("subnets left: %v", got)
	}
}

func TestPort(t *testing.T) {
	c := newClient(t)
	c.ok("network", "create", "net")
	c.ok("subnet", "create", "sub", "--network", "net", "--subnet-range", "10.3.0.0/24")
	sg := c.obj("security-group", "create", "web")

	p := c.obj("port", "create", "vm1", "--network", "net", "--fixed-ip", "subnet=sub,ip-address=10.3.0.50",
		"--security-group", "web", "--mac-address", "fa:16:3e:00:00:01", "--host", "hv1", "--device-owner", "compute:nova",
		"--device", "server-1", "--allowed-address", "ip-address=10.3.0.200")
	fixed, _ := p["fixed_ips"].([]any)
	if len(fixed) != 1 || fixed[0].(map[string]any)["ip_address"] != "10.3.0.50" || p["mac_address"] != "fa:16:3e:00:00:01" ||
		p["binding_host_id"] != "hv1" || strings.Join(strs(p["security_group_ids"]), ",") != str(sg["id"]) || p["device_id"] != "server-1" {
		t.Errorf("port create: %v", p)
	}
	c.ok("port", "create", "vm2", "--network", "net", "--no-security-group")

	// list: openstack CLI's columns; fixed IPs rendered as key='value'.
	rows := tableRows(t, c.ok("port", "list", "--name", "vm1"))
	if strings.Join(rows[0], ",") != "ID,Name,MAC Address,Fixed IP Addresses,Status" || len(rows) != 2 ||
		!strings.Contains(rows[1][3], "ip_address='10.3.0.50'") || !strings.Contains(rows[1][3], "subnet_id='") {
		t.Errorf("port list table: %v", rows)
	}
	if got := ids(c.rows("port", "list", "--network", "net", "--host", "hv1"), "Name"); len(got) != 1 || got[0] != "vm1" {
		t.Errorf("--host: %v", got)
	}
	if got := ids(c.rows("port", "list", "--fixed-ip", "ip-address=10.3.0.50"), "Name"); len(got) != 1 || got[0] != "vm1" {
		t.Errorf("--fixed-ip: %v", got)
	}
	long := c.rows("port", "list", "--long", "--device-owner", "compute:nova")
	if len(long) != 1 || long[0]["Device Owner"] != "compute:nova" || len(long[0]["Security Groups"].([]any)) != 1 {
		t.Errorf("list --long: %v", long)
	}
	// value format prints lists as the openstack CLI's Python does.
	if v := c.ok("port", "show", "vm1", "-f", "value", "-c", "security_group_ids"); v != "['"+str(sg["id"])+"']\n" {
		t.Errorf("value of a list: %q", v)
	}

	// set: add an address, clear the groups, disable.
	s := c.obj("port", "set", "vm1", "--fixed-ip", "subnet=sub", "--no-security-group", "--disable")
	if len(s["fixed_ips"].([]any)) != 2 || len(s["security_group_ids"].([]any)) != 0 || s["admin_state_up"] != false {
		t.Errorf("port set: %v", s)
	}
	if f := fieldValues(t, c.ok("port", "show", "vm1")); f["admin_state_up"] != "DOWN" || strings.Count(f["fixed_ips"], "\n") != 1 {
		t.Errorf("port show table: %v", f)
	}

	// 409 with Neutron's message: the address is taken.
	c.fail("IP address 10.3.0.50 already allocated", "port", "create", "vm3", "--network", "net", "--fixed-ip", "ip-address=10.3.0.50")
	// 409: a network with ports cannot go.
	c.fail("There are one or more ports still in use on the network", "network", "delete", "net")
	c.fail("--network is required", "port", "create", "vm4")

	// delete several; one missing: the others go, the command fails.
	_, errOut, err := c.run("port", "delete", "vm1", "nope", "vm2")
	if err == nil || !strings.Contains(err.Error(), "1 of 3 ports failed to delete") || !strings.Contains(errOut, "no Port found for nope") {
		t.Errorf("delete with a missing port: %v\n%s", err, errOut)
	}
	if got := c.rows("port", "list"); len(got) != 0 {
		t.Errorf("ports left: %v", got)
	}
}
