package l3

import (
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/testserver"
)

// TestRoutedRouterWorkflow runs the whole Neutron L3 workflow on the
// default (routed) provider: router, gateway, interface, floating IP, and
// every rule that protects what a floating IP needs.
func TestRoutedRouterWorkflow(t *testing.T) {
	srv := testserver.Start(t)
	a := api{t: t, base: srv.URL}
	extNet, _, net, sub := topology(a, "")

	r := a.must(201, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{
		"name": "r1", "external_gateway_info": map[string]any{"network_id": extNet}}}, "router")
	rid := id(r)
	gw := r["external_gateway_info"].(map[string]any)
	if gw["enable_snat"] != true || len(gw["external_fixed_ips"].([]any)) != 1 {
		t.Errorf("gateway info: %v", gw)
	}
	if r["distributed"] != true || r["ha"] != false || r["flavor_id"] != nil {
		t.Errorf("routed router flags: distributed=%v ha=%v flavor_id=%v", r["distributed"], r["ha"], r["flavor_id"])
	}
	if _, ok := r["provider"]; ok {
		t.Error("internal attribute provider is shown")
	}
	eventually(t, 5*time.Second, "router ACTIVE", func() bool {
		return a.must(200, "GET", "/v2.0/routers/"+rid, nil, "router")["status"] == "ACTIVE"
	})

	// Interface by subnet: the port takes the subnet's gateway address.
	info := a.must(200, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub}, "")
	if info["id"] != rid || info["subnet_id"] != sub || info["network_id"] != net || info["port_id"] == nil {
		t.Errorf("add_router_interface answer: %v", info)
	}
	rport := a.must(200, "GET", "/v2.0/ports/"+info["port_id"].(string), nil, "port")
	if rport["device_owner"] != "network:router_interface" || rport["device_id"] != rid ||
		rport["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] != "10.1.0.1" {
		t.Errorf("router interface port: %v", rport)
	}
	a.fail(400, "", "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub})
	a.fail(409, "L3PortInUse", "DELETE", "/v2.0/ports/"+id(rport), nil)
	a.fail(409, "RouterInUse", "DELETE", "/v2.0/routers/"+rid, nil)

	// A VM port and a floating IP for it.
	vm := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net, "name": "vm"}}, "port")
	fip := a.must(201, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": extNet, "port_id": id(vm)}}, "floatingip")
	if fip["router_id"] != rid || fip["fixed_ip_address"] != vm["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] ||
		fip["status"] != "DOWN" || !strings.HasPrefix(fip["floating_ip_address"].(string), "203.0.113.") {
		t.Errorf("floating IP: %v", fip)
	}
	if pd, _ := fip["port_details"].(map[string]any); pd == nil || pd["name"] != "vm" {
		t.Errorf("port_details: %v", fip["port_details"])
	}
	// Routed floating IPs stay DOWN until the hypervisor's agent realises them.
	time.Sleep(200 * time.Millisecond)
	if st := a.must(200, "GET", "/v2.0/floatingips/"+id(fip), nil, "floatingip")["status"]; st != "DOWN" {
		t.Errorf("floating IP status without agent = %v, want DOWN", st)
	}
	a.fail(409, "FloatingIPPortAlreadyAssociated", "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": extNet, "port_id": id(vm)}})
	a.fail(409, "RouterInterfaceInUseByFloatingIP", "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub})
	a.fail(409, "RouterExternalGatewayInUseByFloatingIp", "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{"external_gateway_info": nil}})

	// Blank update disassociates; associating again works.
	f2 := a.must(200, "PUT", "/v2.0/floatingips/"+id(fip), map[string]any{"floatingip": map[string]any{}}, "floatingip")
	if f2["port_id"] != nil || f2["router_id"] != nil || f2["fixed_ip_address"] != nil {
		t.Errorf("blank update kept the association: %v", f2)
	}
	f3 := a.must(200, "PUT", "/v2.0/floatingips/"+id(fip), map[string]any{"floatingip": map[string]any{"port_id": id(vm)}}, "floatingip")
	if f3["router_id"] != rid {
		t.Errorf("re-association: %v", f3)
	}
	// Deleting the VM port disassociates its floating IP.
	a.must(204, "DELETE", "/v2.0/ports/"+id(vm), nil, "")
	if f := a.must(200, "GET", "/v2.0/floatingips/"+id(fip), nil, "floatingip"); f["port_id"] != nil || f["router_id"] != nil {
		t.Errorf("floating IP still associated after its port was deleted: %v", f)
	}

	// Network types the routed provider cannot route are refused, naming the flavor.
	gn := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "geneve"}}, "network")
	gs := a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(gn), "cidr": "10.2.0.0/24", "ip_version": 4}}, "subnet")
	if msg := a.fail(400, "InvalidInput", "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": id(gs)}); !strings.Contains(msg, "routed") || !strings.Contains(msg, "geneve") {
		t.Errorf("cross-backend refusal does not say why: %s", msg)
	}
	if n := a.must(200, "GET", "/v2.0/ports?network_id="+id(gn), nil, "")["ports"].([]any); len(n) != 0 {
		t.Errorf("refused interface left %d ports behind", len(n))
	}
	// The routed provider serves no extra routes.
	a.fail(400, "InvalidInput", "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{"routes": []any{map[string]any{"destination": "192.0.2.0/24", "nexthop": "10.1.0.9"}}}})
	// Tenants may not choose distributed or ha.
	a.as("p1").fail(403, "PolicyNotAuthorized", "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"distributed": true}})

	// Tear down in order.
	a.must(204, "DELETE", "/v2.0/floatingips/"+id(fip), nil, "")
	a.must(200, "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub}, "")
	a.fail(404, "RouterInterfaceNotFoundForSubnet", "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub})
	a.must(204, "DELETE", "/v2.0/routers/"+rid, nil, "")
	if ports := a.must(200, "GET", "/v2.0/ports?device_id="+rid, nil, "")["ports"].([]any); len(ports) != 0 {
		t.Errorf("router ports left after delete: %v", ports)
	}
}

// TestFloatingIPUnreachable: no router connects the port's subnet to the
// external network: 404 ExternalGatewayForFloatingIPNotFound, nothing written.
func TestFloatingIPUnreachable(t *testing.T) {
	srv := testserver.Start(t)
	a := api{t: t, base: srv.URL}
	extNet, _, net, _ := topology(a, "")
	vm := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net}}, "port")
	a.fail(404, "ExternalGatewayForFloatingIPNotFound", "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": extNet, "port_id": id(vm)}})
	if f := a.must(200, "GET", "/v2.0/floatingips", nil, "")["floatingips"].([]any); len(f) != 0 {
		t.Errorf("refused floating IP written: %v", f)
	}
	if p := a.must(200, "GET", "/v2.0/ports?network_id="+extNet, nil, "")["ports"].([]any); len(p) != 0 {
		t.Errorf("refused floating IP left its port: %v", p)
	}
	// Without a port it is fine and DOWN.
	f := a.must(201, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": extNet}}, "floatingip")
	if f["status"] != "DOWN" || f["port_id"] != nil || f["router_id"] != nil {
		t.Errorf("unassociated floating IP: %v", f)
	}
	a.fail(400, "", "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": net}})
}
