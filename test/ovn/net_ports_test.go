package ovn

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPortsInNB: a port becomes a Logical_Switch_Port named after it, with
// "MAC IP..." addresses, port security (allowed address pairs included),
// enabled = admin_state_up and Neutron's external_ids; a port without port
// security accepts any MAC ("unknown"); updates and deletions follow.
func TestPortsInNB(t *testing.T) {
	e := netStart(t, false)
	n := e.network("tenant", "geneve", nil)
	s := e.subnet(netID(n), "10.1.0.0/24")
	vm := e.port(netID(n), map[string]any{
		"name": "vm1", "device_owner": "compute:nova", "device_id": "instance-1",
		"allowed_address_pairs": []map[string]any{{"ip_address": "10.1.0.200"}, {"ip_address": "10.1.0.201", "mac_address": "fa:16:3e:aa:bb:cc"}},
	})
	open := e.port(netID(n), map[string]any{"name": "open", "port_security_enabled": false, "security_groups": []string{}, "admin_state_up": false})
	lsp := netID(vm)

	e.waitNB([]string{"(" + lsp + ")", "(" + netID(open) + ")"}, "lsp-list", "neutron-"+netID(n))
	addr := netMAC(vm) + " " + netIP(vm)
	// OVSDB sets are unordered: compare sorted.
	sameSet := func(got []string, want ...string) bool {
		got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		return slices.Equal(got, want)
	}
	if got := netLines(e.nbctl("lsp-get-addresses", lsp)); !sameSet(got, addr, "fa:16:3e:aa:bb:cc") {
		t.Errorf("addresses %q", got)
	}
	if got := netLines(e.nbctl("lsp-get-port-security", lsp)); !sameSet(got, addr+" 10.1.0.200", "fa:16:3e:aa:bb:cc 10.1.0.201") {
		t.Errorf("port security %q", got)
	}
	if got := e.nbctl("lsp-get-enabled", lsp); got != "enabled" {
		t.Errorf("enabled %q", got)
	}
	ext := e.nbctl("get", "Logical_Switch_Port", lsp, "external_ids")
	for _, kv := range []string{`"neutron:port_name"=vm1`, `"neutron:device_id"=instance-1`, `"neutron:device_owner"="compute:nova"`,
		`"neutron:cidrs"="` + netIP(vm) + `/24"`, `"neutron:network_name"=neutron-` + netID(n), `"neutron:security_group_ids"=`, `"spinel:owner"=netsync`} {
		if !strings.Contains(ext, kv) {
			t.Errorf("external_ids %s: no %s", ext, kv)
		}
	}
	if got := e.nbctl("lsp-get-addresses", netID(open)); !strings.Contains(got, "unknown") {
		t.Errorf("port without security: addresses %q", got)
	}
	if got := e.nbctl("lsp-get-port-security", netID(open)); got != "" {
		t.Errorf("port without security: port_security %q", got)
	}
	if got := e.nbctl("lsp-get-enabled", netID(open)); got != "disabled" {
		t.Errorf("admin down port: %q", got)
	}

	// A new fixed IP and a disabled admin state follow.
	e.update("port", lsp, map[string]any{"admin_state_up": false, "fixed_ips": []map[string]any{
		{"subnet_id": netID(s), "ip_address": netIP(vm)}, {"subnet_id": netID(s), "ip_address": "10.1.0.99"}}})
	e.waitNB([]string{addr + " 10.1.0.99"}, "lsp-get-addresses", lsp)
	e.waitNB([]string{"disabled"}, "lsp-get-enabled", lsp)

	// Router interfaces are router-type ports pointing at lrp-<port id>.
	rif := e.port(netID(n), map[string]any{"device_owner": "network:router_interface", "device_id": "some-router",
		"fixed_ips": []map[string]any{{"subnet_id": netID(s), "ip_address": "10.1.0.1"}}})
	e.waitNB([]string{"router"}, "lsp-get-type", netID(rif))
	if got := e.nbctl("get", "Logical_Switch_Port", netID(rif), "options:router-port"); got != "lrp-"+netID(rif) {
		t.Errorf("router-port %q", got)
	}
	if got := e.nbctl("lsp-get-addresses", netID(rif)); got != "router" {
		t.Errorf("router port addresses %q", got)
	}

	e.remove("port", lsp)
	netEventually(t, 10*time.Second, "the deleted port to leave NB", func() bool {
		return !strings.Contains(e.nbctl("lsp-list", "neutron-"+netID(n)), lsp)
	})
}

// TestPortBinding: ports of ovn networks bind with vif_type ovs on a host;
// with the southbound database configured, only on hosts with a chassis.
func TestPortBinding(t *testing.T) {
	e := netStart(t, true)
	n := e.network("tenant", "geneve", nil)
	e.subnet(netID(n), "10.2.0.0/24")
	routed := e.network("routed", "", nil)

	p := e.port(netID(n), map[string]any{"binding:host_id": "hv1"})
	if p["binding:vif_type"] != "binding_failed" {
		t.Fatalf("bound to a host without a chassis: %v", p["binding:vif_type"])
	}
	e.o.SBCtl(t, "chassis-add", "chassis-hv1", "geneve", "127.0.0.1")
	e.o.SBCtl(t, "set", "Chassis", "chassis-hv1", "hostname=hv1")
	var bound map[string]any
	netEventually(t, 10*time.Second, "binding once hv1 has a chassis", func() bool {
		bound = e.update("port", netID(p), map[string]any{"binding:host_id": "hv1"})
		return bound["binding:vif_type"] == "ovs"
	})
	det := bound["binding:vif_details"].(map[string]any)
	if det["port_filter"] != true || det["connectivity"] != "l2" {
		t.Errorf("vif_details %v", det)
	}
	e.waitNB([]string{"hv1"}, "get", "Logical_Switch_Port", netID(p), "options:requested-chassis")

	if u := e.port(netID(n), nil); u["binding:vif_type"] != "unbound" {
		t.Errorf("port without host: %v", u["binding:vif_type"])
	}
	if r := e.port(netID(routed), map[string]any{"binding:host_id": "hv1"}); r["binding:vif_type"] != "binding_failed" {
		t.Errorf("routed network port on a host without a spinel agent: %v", r["binding:vif_type"])
	}
}

// TestPortBindingWithoutSB: without the southbound database every host
// is taken at its word.
func TestPortBindingWithoutSB(t *testing.T) {
	e := netStart(t, false)
	n := e.network("prov", "flat", map[string]any{"provider:physical_network": "physnet1"})
	if p := e.port(netID(n), map[string]any{"binding:host_id": "anywhere"}); p["binding:vif_type"] != "ovs" {
		t.Fatalf("vif_type %v", p["binding:vif_type"])
	}
}
