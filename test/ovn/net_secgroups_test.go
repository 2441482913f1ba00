package ovn

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
)

// TestSecurityGroupsInNB: a security group is a Port_Group pg_<id> with one
// ACL per rule (Neutron's matches, priority 1002, allow-related), its ports
// are members, and secured ports are in neutron_pg_drop, whose two ACLs
// drop everything else. Rules added and removed through the API follow.
func TestSecurityGroupsInNB(t *testing.T) {
	e := netStart(t, false)
	n := e.network("tenant", "geneve", nil)
	e.subnet(netID(n), "10.3.0.0/24")
	sg := e.create("security_group", map[string]any{"name": "web"})
	pg := "pg_" + strings.ReplaceAll(netID(sg), "-", "_")
	ssh := e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress",
		"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "192.0.2.0/24"})
	vm := e.port(netID(n), map[string]any{"security_groups": []string{netID(sg)}})

	acls := e.waitNB([]string{"tcp.dst == 22"}, "acl-list", pg)
	for _, want := range []string{
		"from-lport  1002 (inport == @" + pg + " && ip4) allow-related",
		"from-lport  1002 (inport == @" + pg + " && ip6) allow-related",
		"  to-lport  1002 (outport == @" + pg + " && ip4 && ip4.src == 192.0.2.0/24 && tcp && tcp.dst == 22) allow-related",
	} {
		if !strings.Contains(acls, want) {
			t.Errorf("ACL %q missing:\n%s", want, acls)
		}
	}
	if got := unquote(e.nbctl("get", "ACL", aclUUID(e, pg, "tcp.dst == 22"), "external_ids:neutron\\:security_group_rule_id")); got != netID(ssh) {
		t.Errorf("rule id of the ACL: %q", got)
	}
	if got := unquote(e.nbctl("get", "Port_Group", pg, "external_ids:neutron\\:security_group_id")); got != netID(sg) {
		t.Errorf("group id: %q", got)
	}
	lspUUID := e.nbctl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name="+netID(vm))
	e.waitNB([]string{lspUUID}, "--bare", "--columns=ports", "list", "Port_Group", pg)
	if got := e.nbctl("--bare", "--columns=ports", "list", "Port_Group", "neutron_pg_drop"); !strings.Contains(got, lspUUID) {
		t.Errorf("secured port not in neutron_pg_drop: %q", got)
	}
	drop := e.nbctl("acl-list", "neutron_pg_drop")
	for _, want := range []string{"from-lport  1001 (inport == @neutron_pg_drop && ip) drop", "  to-lport  1001 (outport == @neutron_pg_drop && ip) drop"} {
		if !strings.Contains(drop, want) {
			t.Errorf("drop ACL %q missing:\n%s", want, drop)
		}
	}

	// A remote group rule refers to the address set ovn-northd keeps.
	e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "remote_group_id": netID(sg), "protocol": "icmp"})
	e.waitNB([]string{"ip4.src == $" + pg + "_ip4 && icmp4"}, "acl-list", pg)

	// Deleting a rule deletes its ACL; a stateless group uses allow-stateless.
	e.remove("security_group_rule", netID(ssh))
	netEventually(t, 10*time.Second, "the ACL of the deleted rule to go", func() bool { return !strings.Contains(e.nbctl("acl-list", pg), "tcp.dst == 22") })
	sl := e.create("security_group", map[string]any{"name": "stateless", "stateful": false})
	e.waitNB([]string{"allow-stateless"}, "acl-list", "pg_"+strings.ReplaceAll(netID(sl), "-", "_"))

	// Leaving every group (and port security) leaves the drop group too.
	e.update("port", netID(vm), map[string]any{"security_groups": []string{}, "port_security_enabled": false})
	netEventually(t, 10*time.Second, "the port to leave the groups", func() bool {
		return !strings.Contains(e.nbctl("--bare", "--columns=ports", "list", "Port_Group", "neutron_pg_drop"), lspUUID) &&
			!strings.Contains(e.nbctl("--bare", "--columns=ports", "list", "Port_Group", pg), lspUUID)
	})
	e.remove("security_group", netID(sl))
	netEventually(t, 10*time.Second, "the deleted group's port group to go", func() bool {
		return !strings.Contains(e.nbctl("--bare", "--columns=name", "list", "Port_Group"), strings.ReplaceAll(netID(sl), "-", "_"))
	})
}

func unquote(s string) string { return strings.Trim(s, `"`) }

// trace runs ovn-trace for a new connection (conntrack state new in both
// directions' ACL stages) with port names as in NB.
func (e *netEnv) trace(datapath, flow string) string {
	e.t.Helper()
	out, err := e.o.TraceErr("--minimal", "--no-friendly-names", "--ct=new,trk", "--ct=new,trk", datapath, flow)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func aclUUID(e *netEnv, pg, matchPart string) string {
	e.t.Helper()
	for _, id := range strings.Fields(e.nbctl("--bare", "--columns=acls", "list", "Port_Group", pg)) {
		if strings.Contains(e.nbctl("get", "ACL", id, "match"), matchPart) {
			return id
		}
	}
	e.t.Fatalf("no ACL of %s matches %q", pg, matchPart)
	return ""
}

// tcpFlow is an ovn-trace microflow for TCP from one port to another.
func tcpFlow(from, to map[string]any, dport int) string {
	return fmt.Sprintf(`inport == "%s" && eth.src == %s && eth.dst == %s && ip4.src == %s && ip4.dst == %s && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == %d`,
		netID(from), netMAC(from), netMAC(to), netIP(from), netIP(to), dport)
}

// TestTraceSecurityGroupDrops: with ovn-trace on the logical flows
// ovn-northd compiled from spinel's rows, a security group admits what its
// rules allow and drops the rest; adding a rule opens the port.
func TestTraceSecurityGroupDrops(t *testing.T) {
	e := netStart(t, false)
	n := e.network("tenant", "geneve", nil)
	e.subnet(netID(n), "10.4.0.0/24")
	sg := e.create("security_group", map[string]any{"name": "ssh-only"})
	e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22})
	vm1 := e.port(netID(n), map[string]any{"name": "vm1", "security_groups": []string{netID(sg)}})
	vm2 := e.port(netID(n), map[string]any{"name": "vm2", "security_groups": []string{netID(sg)}})
	ls := "neutron-" + netID(n)
	pg := "pg_" + strings.ReplaceAll(netID(sg), "-", "_")
	e.waitNB([]string{"tcp.dst == 22"}, "acl-list", pg)
	e.waitNB([]string{netID(vm1), netID(vm2)}, "lsp-list", ls)
	e.o.Sync(t)

	delivered := `output("` + netID(vm2) + `")`
	if out := e.trace(ls, tcpFlow(vm1, vm2, 22)); !strings.Contains(out, delivered) {
		t.Fatalf("tcp/22 (allowed) not delivered:\n%s", out)
	}
	out := e.trace(ls, tcpFlow(vm1, vm2, 80))
	if strings.Contains(out, "output(") {
		t.Fatalf("tcp/80 (not allowed) delivered:\n%s", out)
	}
	t.Logf("tcp/80 from vm1 to vm2, not allowed:\n%s", out)
	// Spoofed source address: port security drops it before any ACL.
	spoof := strings.Replace(tcpFlow(vm1, vm2, 22), "ip4.src == "+netIP(vm1), "ip4.src == 10.4.0.250", 1)
	if out := e.trace(ls, spoof); strings.Contains(out, "output(") {
		t.Fatalf("spoofed source delivered:\n%s", out)
	}

	e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80})
	e.waitNB([]string{"tcp.dst == 80"}, "acl-list", pg)
	e.o.Sync(t)
	if out := e.trace(ls, tcpFlow(vm1, vm2, 80)); !strings.Contains(out, delivered) {
		t.Fatalf("tcp/80 not delivered once allowed:\n%s", out)
	}
}

// TestTraceProjectsIsolated: two projects' networks are separate logical
// switches; without a router nothing crosses from one to the other, while
// traffic within a switch is delivered.
func TestTraceProjectsIsolated(t *testing.T) {
	// Tenant networks are geneve networks here, as in an OVN cloud.
	e := netStart(t, false, func(c *server.Config) { c.Service.DefaultNetworkType = "geneve" })
	var nets, vms []map[string]any
	for i, project := range []string{"project-a", "project-b"} {
		n := e.network("net", "", nil, project)
		e.subnet(netID(n), fmt.Sprintf("10.%d.0.0/24", 20+i), project)
		// Allow everything in: isolation must come from the topology.
		sg := e.create("security_group", map[string]any{"name": "open"}, project)
		for _, proto := range []string{"tcp", "udp", "icmp"} {
			e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "protocol": proto}, project)
		}
		for range 2 {
			vms = append(vms, e.port(netID(n), map[string]any{"security_groups": []string{netID(sg)}}, project))
		}
		nets = append(nets, n)
	}
	for i, n := range nets {
		e.waitNB([]string{netID(vms[2*i]), netID(vms[2*i+1])}, "lsp-list", "neutron-"+netID(n))
	}
	e.o.Sync(t)
	lsA := "neutron-" + netID(nets[0])

	if out := e.trace(lsA, tcpFlow(vms[0], vms[1], 22)); !strings.Contains(out, `output("`+netID(vms[1])+`")`) {
		t.Fatalf("within project A: not delivered:\n%s", out)
	}
	// From A's VM to B's VM (its MAC and address): nowhere to go.
	out := e.trace(lsA, tcpFlow(vms[0], vms[2], 22))
	if strings.Contains(out, "output(") {
		t.Fatalf("project A reached project B without a router:\n%s", out)
	}
	// Nor by broadcast: an ARP for B's address stays in A's switch.
	arp := fmt.Sprintf(`inport == "%s" && eth.src == %s && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && arp.sha == %s && arp.spa == %s && arp.tpa == %s`,
		netID(vms[0]), netMAC(vms[0]), netMAC(vms[0]), netIP(vms[0]), netIP(vms[2]))
	out = e.trace(lsA, arp)
	for _, p := range vms[2:] {
		if strings.Contains(out, netID(p)) {
			t.Fatalf("an ARP broadcast in A reached B's port %s:\n%s", netID(p), out)
		}
	}
	if !strings.Contains(out, `output("`+netID(vms[1])+`")`) {
		t.Fatalf("the ARP broadcast did not even reach A's other port:\n%s", out)
	}
}
