package ovn

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
)

// TestL3Capabilities: with two gateway chassis ovn routers are HA (ha
// defaults to true, ha=false is refused) and the gateway port is scheduled
// to both with their priorities; a distributed router's floating IP is
// NATed with the VM port's MAC and port; enable_snat=false removes SNAT;
// extra routes become static routes.
func TestL3Capabilities(t *testing.T) {
	e := l3start(t)
	defer l3logs(t, e.o)
	a := e.a
	ext, _ := e.network("ext", "flat", "203.0.113.0/24", true)
	vms, sub := e.network("vms", "geneve", "10.0.0.0/24", false)

	msg := a.fail(400, "InvalidInput", "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"flavor_id": e.ovnFlavor, "ha": false}})
	if !strings.Contains(msg, "ha=False") {
		t.Errorf("ha=false refusal: %q", msg)
	}
	rt := a.create("router", map[string]any{"name": "dvr", "flavor_id": e.ovnFlavor, "distributed": true,
		"external_gateway_info": map[string]any{"network_id": l3id(ext)}})
	r := l3id(rt)
	if rt["ha"] != true || rt["distributed"] != true {
		t.Errorf("router ha %v distributed %v, want both true", rt["ha"], rt["distributed"])
	}
	e.addInterface(r, l3id(sub))
	vm := a.create("port", map[string]any{"network_id": l3id(vms)})
	fip := a.create("floatingip", map[string]any{"floating_network_id": l3id(ext), "port_id": l3id(vm)})
	l3eventually(t, 10*time.Second, "floating IP ACTIVE", func() bool { return a.status("floatingip", l3id(fip)) == "ACTIVE" })

	gw := e.gatewayPort(r)
	if got := l3lines(e.nbctl("lrp-get-gateway-chassis", "lrp-"+l3id(gw))); !slices.Equal(got, []string{"lrp-" + l3id(gw) + "_gw1 2", "lrp-" + l3id(gw) + "_gw2 1"}) {
		t.Errorf("gateway chassis %q", got)
	}
	nat := e.nbctl("--bare", "--columns=logical_port,external_mac", "find", "NAT", "type=dnat_and_snat")
	if got := l3lines(nat); !slices.Equal(got, []string{l3id(vm), vm["mac_address"].(string)}) {
		t.Errorf("distributed floating IP logical_port, external_mac: %q", got)
	}

	// enable_snat off, an extra route.
	a.must(200, "PUT", "/v2.0/routers/"+r, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": l3id(ext), "enable_snat": false},
		"routes":                []any{map[string]any{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}}}}, "router")
	l3eventually(t, 10*time.Second, "SNAT removed and the extra route added", func() bool {
		routes := e.nbctl("lr-route-list", "neutron-"+r)
		return slices.Equal(e.nat(r), []string{"dnat_and_snat " + fip["floating_ip_address"].(string) + " " + fixedIP(vm)}) &&
			strings.Contains(routes, "192.168.0.0/16") && strings.Contains(routes, "10.0.0.254")
	})
}

// TestL3NoGatewayChassis: without gateway chassis, HA is unsupported and
// an external gateway is refused with a 400 that says what to configure;
// routers with interfaces only work.
func TestL3NoGatewayChassis(t *testing.T) {
	e := l3start(t, func(c *server.Config) { c.OVNGatewayChassis = nil })
	defer l3logs(t, e.o)
	a := e.a
	ext, _ := e.network("ext", "flat", "203.0.113.0/24", true)
	_, sub := e.network("vms", "geneve", "10.0.0.0/24", false)

	msg := a.fail(400, "InvalidInput", "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"flavor_id": e.ovnFlavor,
		"external_gateway_info": map[string]any{"network_id": l3id(ext)}}})
	if !strings.Contains(msg, "--ovn-gateway-chassis") {
		t.Errorf("gateway refusal %q does not say what to configure", msg)
	}
	if msg := a.fail(400, "InvalidInput", "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"flavor_id": e.ovnFlavor, "ha": true}}); !strings.Contains(msg, "ha=True") {
		t.Errorf("ha=true refusal %q", msg)
	}
	r := l3id(a.create("router", map[string]any{"flavor_id": e.ovnFlavor}))
	e.addInterface(r, l3id(sub))
	l3eventually(t, 10*time.Second, "router ACTIVE", func() bool { return a.status("router", r) == "ACTIVE" })
	if got := e.routers(); !slices.Equal(got, []string{"neutron-" + r}) {
		t.Errorf("NB routers %v", got)
	}
	if got := e.nbctl("--bare", "--columns=_uuid", "list", "Gateway_Chassis"); got != "" {
		t.Errorf("gateway chassis without configuration: %q", got)
	}
}
