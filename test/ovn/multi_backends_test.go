package ovn

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMultiBackends runs one server with providers routed, ovn and
// external at once: routers of each flavor coexist and each backend holds
// exactly its own; floating IPs land on the backend of their router and
// move between backends; attaching a network of the other kind is refused
// with a 400 that says why; stopping OVN's NB server turns only the ovn
// router ERROR, and it is ACTIVE again when NB is back.
func TestMultiBackends(t *testing.T) {
	e := l3start(t)
	defer l3logs(t, e.o)
	a := e.a

	extRouted, _ := e.network("ext-routed", "routed", "198.51.100.0/24", true)
	extOVN, _ := e.network("ext-ovn", "flat", "203.0.113.0/24", true)
	netRouted, subRouted := e.network("vms-routed", "routed", "10.10.0.0/24", false)
	netOVN, subOVN := e.network("vms-ovn", "geneve", "10.20.0.0/24", false)
	netExt, subExt := e.network("vms-ext", "geneve", "10.30.0.0/24", false)

	r0 := l3id(e.router("r-routed", "", l3id(extRouted)))
	r1 := l3id(e.router("r-ovn", e.ovnFlavor, l3id(extOVN)))
	r2 := l3id(e.router("r-ext", e.extFlavor, l3id(extOVN)))
	e.addInterface(r0, l3id(subRouted))
	e.addInterface(r1, l3id(subOVN))
	e.addInterface(r2, l3id(subExt))
	vm0 := a.create("port", map[string]any{"network_id": l3id(netRouted)})
	vm1 := a.create("port", map[string]any{"network_id": l3id(netOVN)})
	vm2 := a.create("port", map[string]any{"network_id": l3id(netExt)})
	vm2b := a.create("port", map[string]any{"network_id": l3id(netExt)})

	for _, r := range []string{r0, r1, r2} {
		l3eventually(t, 10*time.Second, "router "+r+" ACTIVE", func() bool { return a.status("router", r) == "ACTIVE" })
	}

	// NB holds the ovn router only; the external backend the external one only.
	if got := e.routers(); !slices.Equal(got, []string{"neutron-" + r1}) {
		t.Errorf("NB routers %v, want only neutron-%s", got, r1)
	}
	if st := e.be.state(); len(st) != 1 || st[r2] == nil {
		t.Errorf("external backend holds %v, want only %s", st, r2)
	}
	gw1 := fixedIP(e.gatewayPort(r1))
	l3eventually(t, 5*time.Second, "SNAT of the ovn router", func() bool {
		return slices.Equal(e.nat(r1), []string{"snat " + gw1 + " 10.20.0.0/24"})
	})

	// Floating IPs on each router, each on its own backend.
	fip0 := a.create("floatingip", map[string]any{"floating_network_id": l3id(extRouted), "port_id": l3id(vm0)})
	fip1 := a.create("floatingip", map[string]any{"floating_network_id": l3id(extOVN), "port_id": l3id(vm1)})
	fip2 := a.create("floatingip", map[string]any{"floating_network_id": l3id(extOVN), "port_id": l3id(vm2)})
	for f, r := range map[string]string{l3id(fip0): r0, l3id(fip1): r1, l3id(fip2): r2} {
		if got := a.must(200, "GET", "/v2.0/floatingips/"+f, nil, "floatingip")["router_id"]; got != r {
			t.Errorf("floating IP %s on router %v, want %s", f, got, r)
		}
	}
	l3eventually(t, 10*time.Second, "ovn and external floating IPs ACTIVE", func() bool {
		return a.status("floatingip", l3id(fip1)) == "ACTIVE" && a.status("floatingip", l3id(fip2)) == "ACTIVE"
	})
	wantNAT := []string{"dnat_and_snat " + fip1["floating_ip_address"].(string) + " " + fixedIP(vm1), "snat " + gw1 + " 10.20.0.0/24"}
	if got := e.nat(r1); !slices.Equal(got, wantNAT) {
		t.Errorf("ovn router NAT %q, want %q", got, wantNAT)
	}
	if got := e.be.state()[r2]; !slices.Equal(got, []string{l3id(fip2)}) {
		t.Errorf("external backend floating IPs %v, want [%s]", got, l3id(fip2))
	}
	// The routed floating IP is a NAT plan for vm0's hypervisor: in neither backend.
	if n := e.nbctl("--bare", "--columns=_uuid", "find", "NAT", "external_ip="+fip0["floating_ip_address"].(string)); n != "" {
		t.Errorf("routed floating IP in NB: %s", n)
	}

	// Moved from the ovn router's VM to the external router's: it leaves
	// NB and reaches the external backend.
	a.must(200, "PUT", "/v2.0/floatingips/"+l3id(fip1), map[string]any{"floatingip": map[string]any{"port_id": nil}}, "floatingip")
	a.must(200, "PUT", "/v2.0/floatingips/"+l3id(fip1), map[string]any{"floatingip": map[string]any{"port_id": l3id(vm2b)}}, "floatingip")
	l3eventually(t, 10*time.Second, "floating IP moved from NB to the external backend", func() bool {
		return slices.Equal(e.nat(r1), []string{"snat " + gw1 + " 10.20.0.0/24"}) && len(e.be.state()[r2]) == 2
	})

	// Cross-backend attachments are refused, saying why, before any backend sees them.
	_, freeRouted := e.network("free-routed", "routed", "10.40.0.0/24", false)
	_, freeGeneve := e.network("free-geneve", "geneve", "10.50.0.0/24", false)
	for _, c := range []struct{ router, subnet, want string }{
		{r1, l3id(freeRouted), "routes only geneve, vlan, flat networks, not routed"},
		{r0, l3id(freeGeneve), "routes only routed networks, not geneve"},
	} {
		msg := a.fail(400, "InvalidInput", "PUT", "/v2.0/routers/"+c.router+"/add_router_interface", map[string]any{"subnet_id": c.subnet})
		if !strings.Contains(msg, c.want) {
			t.Errorf("refusal %q does not say %q", msg, c.want)
		}
	}
	msg := a.fail(400, "InvalidInput", "PUT", "/v2.0/routers/"+r1, map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": l3id(extRouted)}}})
	if !strings.Contains(msg, "not routed") {
		t.Errorf("gateway refusal %q", msg)
	}
	r3 := a.create("router", map[string]any{"name": "r-ovn-2", "flavor_id": e.ovnFlavor})
	msg = a.fail(400, "InvalidInput", "PUT", "/v2.0/routers/"+l3id(r3), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": l3id(extRouted)}}})
	if !strings.Contains(msg, "routes only geneve, vlan, flat networks, not routed") {
		t.Errorf("gateway refusal %q", msg)
	}
	a.must(204, "DELETE", "/v2.0/routers/"+l3id(r3), nil, "")
	if got := e.routers(); !slices.Equal(got, []string{"neutron-" + r1}) {
		t.Errorf("NB routers after refusals %v", got)
	}

	// NB down: only the ovn router (and its floating IPs) turn ERROR.
	fip3 := a.create("floatingip", map[string]any{"floating_network_id": l3id(extOVN), "port_id": l3id(vm1)})
	l3eventually(t, 10*time.Second, "new ovn floating IP ACTIVE", func() bool { return a.status("floatingip", l3id(fip3)) == "ACTIVE" })
	e.o.NB.Stop()
	start := time.Now()
	l3eventually(t, 10*time.Second, "ovn router ERROR", func() bool { return a.status("router", r1) == "ERROR" })
	t.Logf("ovn router ERROR %v after NB stopped", time.Since(start).Round(time.Millisecond))
	if s := a.status("floatingip", l3id(fip3)); s != "ERROR" {
		t.Errorf("ovn floating IP %s with NB down", s)
	}
	time.Sleep(500 * time.Millisecond)
	if s0, s2 := a.status("router", r0), a.status("router", r2); s0 != "ACTIVE" || s2 != "ACTIVE" {
		t.Errorf("routed %s and external %s routers with NB down, want ACTIVE", s0, s2)
	}
	if s := a.status("floatingip", l3id(fip2)); s != "ACTIVE" {
		t.Errorf("external floating IP %s with NB down", s)
	}
	// A change made while NB is down is applied when it is back.
	a.must(200, "PUT", "/v2.0/routers/"+r1, map[string]any{"router": map[string]any{"name": "renamed-while-down"}}, "router")
	e.o.NB.Start(t)
	start = time.Now()
	l3eventually(t, 10*time.Second, "ovn router ACTIVE again", func() bool { return a.status("router", r1) == "ACTIVE" })
	t.Logf("ovn router ACTIVE %v after NB restarted", time.Since(start).Round(time.Millisecond))
	l3eventually(t, 5*time.Second, "ovn floating IP ACTIVE again", func() bool { return a.status("floatingip", l3id(fip3)) == "ACTIVE" })
	if got := e.nbctl("get", "Logical_Router", "neutron-"+r1, `external_ids:"neutron:router_name"`); got != "renamed-while-down" {
		t.Errorf("router name in NB %s", got)
	}

	// Deleting the ovn router removes it from NB.
	a.must(204, "DELETE", "/v2.0/floatingips/"+l3id(fip3), nil, "")
	a.must(200, "PUT", "/v2.0/routers/"+r1+"/remove_router_interface", map[string]any{"subnet_id": l3id(subOVN)}, "")
	a.must(204, "DELETE", "/v2.0/routers/"+r1, nil, "")
	l3eventually(t, 10*time.Second, "ovn router deleted from NB", func() bool { return len(e.routers()) == 0 })
	if n := e.nbctl("--bare", "--columns=_uuid", "list", "NAT"); n != "" {
		t.Errorf("NAT rows left after the router was deleted: %s", n)
	}
}
