package ovn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

func ptr[T any](v T) *T { return &v }

func TestParseGatewayChassis(t *testing.T) {
	got, err := ParseGatewayChassis([]string{"gw1", "gw2", "gw3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []GatewayChassis{{"gw1", 3}, {"gw2", 2}, {"gw3", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	got, err = ParseGatewayChassis([]string{"a:10", " b:20 "})
	if err != nil || !reflect.DeepEqual(got, []GatewayChassis{{"a", 10}, {"b", 20}}) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range [][]string{{""}, {":3"}, {"a:x"}, {"a:-1"}, {"a:32768"}, {"a", "a"}, {"a:1", "b:1"}, {"a b"}} {
		if _, err := ParseGatewayChassis(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// fixture is a router with a gateway on a flat external network (IPv4 and
// IPv6 subnets), a geneve and a vlan interface, an extra route and two
// floating IPs (one whose port is being deleted).
func fixture() *l3.Router {
	ext4 := model.Subnet{Standard: model.Standard{ID: "es4"}, NetworkID: "ext", IPVersion: 4, CIDR: "203.0.113.0/24", GatewayIP: ptr("203.0.113.1")}
	ext6 := model.Subnet{Standard: model.Standard{ID: "es6"}, NetworkID: "ext", IPVersion: 6, CIDR: "2001:db8::/64", GatewayIP: ptr("2001:db8::1")}
	in4 := model.Subnet{Standard: model.Standard{ID: "s4"}, NetworkID: "n1", IPVersion: 4, CIDR: "10.0.0.0/24"}
	in6 := model.Subnet{Standard: model.Standard{ID: "s6"}, NetworkID: "n1", IPVersion: 6, CIDR: "fd00::/64", IPv6AddressMode: ptr("slaac")}
	vl := model.Subnet{Standard: model.Standard{ID: "sv"}, NetworkID: "n2", IPVersion: 4, CIDR: "10.9.0.0/16"}
	vm := model.Port{Standard: model.Standard{ID: "vm"}, NetworkID: "n1", MACAddress: "fa:16:3e:00:00:05"}
	return &l3.Router{
		Router: model.Router{Standard: model.Standard{ID: "r1", Name: "edge", RevisionNumber: 7}, AdminStateUp: true,
			Routes: []model.Route{{Destination: "192.168.7.5/16", Nexthop: "10.0.0.254"}, {Destination: "0.0.0.0/0", Nexthop: "203.0.113.1"}}},
		Gateway: &l3.Gateway{
			Network:    model.Network{Standard: model.Standard{ID: "ext"}, NetworkType: "flat", MTU: 1500},
			Port:       model.Port{Standard: model.Standard{ID: "gw", RevisionNumber: 2}, NetworkID: "ext", MACAddress: "fa:16:3e:00:00:10", FixedIPs: []model.FixedIP{{SubnetID: "es4", IPAddress: "203.0.113.10"}, {SubnetID: "es6", IPAddress: "2001:db8::10"}}},
			Subnets:    []model.Subnet{ext4, ext6},
			EnableSNAT: true,
		},
		Interfaces: []l3.Interface{
			{Port: model.Port{Standard: model.Standard{ID: "p1"}, NetworkID: "n1", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []model.FixedIP{{SubnetID: "s4", IPAddress: "10.0.0.1"}, {SubnetID: "s6", IPAddress: "fd00::1"}}},
				Network: model.Network{Standard: model.Standard{ID: "n1"}, NetworkType: "geneve", MTU: 1442}, Subnets: []model.Subnet{in4, in6}},
			{Port: model.Port{Standard: model.Standard{ID: "p2"}, NetworkID: "n2", MACAddress: "fa:16:3e:00:00:02", FixedIPs: []model.FixedIP{{SubnetID: "sv", IPAddress: "10.9.0.1"}}},
				Network: model.Network{Standard: model.Standard{ID: "n2"}, NetworkType: "vlan"}, Subnets: []model.Subnet{vl}},
			{Port: model.Port{Standard: model.Standard{ID: "p3"}, NetworkID: "n3", MACAddress: "fa:16:3e:00:00:03"}}, // no address: skipped
		},
		FloatingIPs: []l3.FloatingIP{
			{FloatingIP: model.FloatingIP{Standard: model.Standard{ID: "f1", RevisionNumber: 3}, FloatingIPAddress: "203.0.113.20", FloatingNetworkID: "ext", FixedIPAddress: ptr("10.0.0.5")}, Port: &vm},
			{FloatingIP: model.FloatingIP{Standard: model.Standard{ID: "f2"}, FloatingIPAddress: "203.0.113.21", FixedIPAddress: ptr("10.0.0.6")}},
		},
	}
}

func TestBuild(t *testing.T) {
	d := fixture()
	lr := build(d, []GatewayChassis{{"gw1", 2}, {"gw2", 1}})
	if lr.Name != "neutron-r1" || !lr.Enabled {
		t.Fatalf("router %+v", lr)
	}
	wantIDs := map[string]string{OwnerKey: OwnerValue, "neutron:router_name": "edge", "neutron:router_id": "r1", "neutron:gw_port_id": "gw",
		"neutron:gw_network_id": "ext", "neutron:revision_number": "7", "neutron:availability_zone_hints": ""}
	if !reflect.DeepEqual(lr.ExternalIDs, wantIDs) {
		t.Errorf("router external_ids %v", lr.ExternalIDs)
	}
	var names []string
	for _, p := range lr.Ports {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "lrp-gw lrp-p1 lrp-p2" {
		t.Fatalf("ports %v", names)
	}
	gw, p1, p2 := lr.Ports[0], lr.Ports[1], lr.Ports[2]
	if !reflect.DeepEqual(gw.Networks, []string{"2001:db8::10/64", "203.0.113.10/24"}) || gw.MAC != "fa:16:3e:00:00:10" {
		t.Errorf("gateway port %+v", gw)
	}
	if !reflect.DeepEqual(gw.Chassis, []gcRow{{"lrp-gw_gw1", "gw1", 2, owned()}, {"lrp-gw_gw2", "gw2", 1, owned()}}) {
		t.Errorf("gateway chassis %+v", gw.Chassis)
	}
	if gw.ExternalIDs["neutron:is_ext_gw"] != "True" || gw.ExternalIDs["neutron:network_name"] != "neutron-ext" || gw.ExternalIDs["neutron:subnet_ids"] != "es4 es6" {
		t.Errorf("gateway port external_ids %v", gw.ExternalIDs)
	}
	if !reflect.DeepEqual(p1.Networks, []string{"10.0.0.1/24", "fd00::1/64"}) || len(p1.Chassis) != 0 {
		t.Errorf("interface p1 %+v", p1)
	}
	if !reflect.DeepEqual(p1.IPv6RAConfigs, map[string]string{"address_mode": "slaac", "send_periodic": "true", "mtu": "1442"}) {
		t.Errorf("p1 ipv6_ra_configs %v", p1.IPv6RAConfigs)
	}
	if p2.Options[optResideRedirect] != "true" || p1.Options[optResideRedirect] != "" {
		t.Errorf("reside-on-redirect-chassis: p1 %v p2 %v", p1.Options, p2.Options)
	}
	// SNAT for both internal IPv4 subnets to the IPv4 gateway address; the
	// floating IP with a port as dnat_and_snat, centralized.
	var nat []string
	for _, n := range lr.NAT {
		nat = append(nat, n.Type+" "+n.ExternalIP+" "+n.LogicalIP+" "+n.LogicalPort+" "+n.ExternalMAC)
	}
	wantNAT := []string{"dnat_and_snat 203.0.113.20 10.0.0.5 vm ", "snat 203.0.113.10 10.0.0.0/24  ", "snat 203.0.113.10 10.9.0.0/16  "}
	if !reflect.DeepEqual(nat, wantNAT) {
		t.Errorf("NAT\n got %q\nwant %q", nat, wantNAT)
	}
	if f := lr.NAT[0].ExternalIDs; f["neutron:fip_id"] != "f1" || f["neutron:fip_port_id"] != "vm" || f["neutron:router_name"] != "neutron-r1" ||
		f["neutron:fip_external_mac"] != "fa:16:3e:00:00:05" || f["neutron:revision_number"] != "3" || f[OwnerKey] != OwnerValue {
		t.Errorf("floating IP external_ids %v", f)
	}
	// Default routes via both gateways; the extra route canonical; the
	// extra route equal to the default route not duplicated.
	var routes []string
	for _, r := range lr.Routes {
		routes = append(routes, r.IPPrefix+" via "+r.Nexthop)
	}
	wantRoutes := []string{"0.0.0.0/0 via 203.0.113.1", "192.168.0.0/16 via 10.0.0.254", "::/0 via 2001:db8::1"}
	if !reflect.DeepEqual(routes, wantRoutes) {
		t.Errorf("routes %q, want %q", routes, wantRoutes)
	}
	if r := lr.Routes[0].ExternalIDs; r["neutron:is_ext_gw"] != "true" || r["neutron:subnet_id"] != "es4" {
		t.Errorf("default route external_ids %v", r)
	}
	if st := status(lr); st.Router != "ACTIVE" || !reflect.DeepEqual(st.FloatingIPs, map[string]string{"f1": "ACTIVE"}) {
		t.Errorf("status %+v", st)
	}
}

func TestBuildVariants(t *testing.T) {
	d := fixture()
	d.Router.Distributed = true
	d.Router.AdminStateUp = false
	d.Gateway.EnableSNAT = false
	lr := build(d, nil)
	if lr.Enabled {
		t.Error("admin-down router enabled")
	}
	for _, n := range lr.NAT {
		if n.Type == "snat" {
			t.Errorf("SNAT with enable_snat false: %+v", n)
		}
		if n.Type == "dnat_and_snat" && n.ExternalMAC != "fa:16:3e:00:00:05" {
			t.Errorf("distributed floating IP without external_mac: %+v", n)
		}
	}
	for _, p := range lr.Ports {
		if len(p.Chassis) != 0 {
			t.Errorf("gateway chassis without configuration: %+v", p)
		}
		if p.Name == "lrp-p2" && p.Options[optResideRedirect] != "false" {
			t.Errorf("distributed router's vlan port: %v", p.Options)
		}
	}
	// The same state twice builds the same rows.
	if !reflect.DeepEqual(build(fixture(), nil), build(fixture(), nil)) {
		t.Error("build is not deterministic")
	}
}

func TestValidateAndCapabilities(t *testing.T) {
	none := &Driver{}
	if err := none.Validate(l3.OpSetGateway, fixture()); err == nil || !strings.Contains(err.Error(), "--ovn-gateway-chassis") {
		t.Errorf("gateway without chassis: %v", err)
	}
	if err := none.Validate(l3.OpDelete, fixture()); err != nil {
		t.Errorf("delete refused: %v", err)
	}
	noGW := fixture()
	noGW.Gateway = nil
	if err := none.Validate(l3.OpAddInterface, noGW); err != nil {
		t.Errorf("router without gateway refused: %v", err)
	}
	if c := none.Capabilities(); c.HA != l3.Unsupported || c.Distributed != l3.Optional || !c.FloatingIPs ||
		!reflect.DeepEqual(c.NetworkTypes, []string{"geneve", "vlan", "flat"}) {
		t.Errorf("capabilities without chassis %+v", c)
	}
	two := &Driver{chassis: []GatewayChassis{{"a", 2}, {"b", 1}}}
	if c := two.Capabilities(); c.HA != l3.Mandatory {
		t.Errorf("HA with two chassis: %v", c.HA)
	}
	if err := two.Validate(l3.OpSetGateway, fixture()); err != nil {
		t.Errorf("gateway refused: %v", err)
	}
}
