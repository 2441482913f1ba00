package ovn

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDHCPOptionsInNB: a subnet with DHCP enabled gets a DHCP_Options row
// (Neutron's options: server_id and router = gateway, lease_time, mtu,
// dns_server, classless_static_route with host routes) that its ports
// reference; subnet changes follow, DHCP disabled removes it; a stateless
// DHCPv6 subnet gets dhcpv6 options; ovn-trace shows OVN answering a
// DHCP request with the port's address.
func TestDHCPOptionsInNB(t *testing.T) {
	e := netStart(t, false)
	n := e.network("tenant", "geneve", nil)
	s := e.create("subnet", map[string]any{"network_id": netID(n), "cidr": "10.5.0.0/24", "ip_version": 4,
		"dns_nameservers": []string{"10.5.0.53"}, "host_routes": []map[string]any{{"destination": "172.16.0.0/12", "nexthop": "10.5.0.254"}}})
	s6 := e.create("subnet", map[string]any{"network_id": netID(n), "cidr": "fd05::/64", "ip_version": 6,
		"ipv6_address_mode": "dhcpv6-stateless", "ipv6_ra_mode": "dhcpv6-stateless"})
	vm := e.port(netID(n), map[string]any{"name": "vm"})
	find := `external_ids:subnet_id=` + netID(s)

	uuid := e.waitNB([]string{"-"}, "--bare", "--columns=_uuid", "find", "DHCP_Options", find)
	if got := e.nbctl("get", "DHCP_Options", uuid, "cidr"); unquote(got) != "10.5.0.0/24" {
		t.Errorf("cidr %q", got)
	}
	opts := e.nbctl("dhcp-options-get-options", uuid)
	for _, want := range []string{"server_id=10.5.0.1", "router=10.5.0.1", "lease_time=43200", "mtu=" + jsonNum(n["mtu"]),
		`dns_server={10.5.0.53}`, `classless_static_route={172.16.0.0/12,10.5.0.254, 0.0.0.0/0,10.5.0.1}`, "server_mac=fa:16:3e:"} {
		if !strings.Contains(opts, want) {
			t.Errorf("option %q missing:\n%s", want, opts)
		}
	}
	e.waitNB([]string{uuid}, "get", "Logical_Switch_Port", netID(vm), "dhcpv4_options")
	uuid6 := e.waitNB([]string{"-"}, "--bare", "--columns=_uuid", "find", "DHCP_Options", `external_ids:subnet_id=`+netID(s6))
	if got := e.nbctl("dhcp-options-get-options", uuid6); !strings.Contains(got, "dhcpv6_stateless=true") || !strings.Contains(got, "server_id=fa:16:3e:") {
		t.Errorf("dhcpv6 options: %s", got)
	}
	e.waitNB([]string{uuid6}, "get", "Logical_Switch_Port", netID(vm), "dhcpv6_options")

	// OVN itself answers the port's DHCP request with its address.
	e.o.Sync(t)
	discover := fmt.Sprintf(`inport == "%s" && eth.src == %s && eth.dst == ff:ff:ff:ff:ff:ff && ip4.src == 0.0.0.0 && ip4.dst == 255.255.255.255 && ip.ttl == 64 && udp.src == 68 && udp.dst == 67`,
		netID(vm), netMAC(vm))
	out := e.trace("neutron-"+netID(n), discover)
	var v4 string
	for _, f := range vm["fixed_ips"].([]any) {
		if ip := f.(map[string]any)["ip_address"].(string); !strings.Contains(ip, ":") {
			v4 = ip
		}
	}
	if v4 == "" || !strings.Contains(out, "offerip = "+v4+",") || !strings.Contains(out, `output("`+netID(vm)+`")`) {
		t.Fatalf("DHCP request not answered with %s:\n%s", v4, out)
	}

	// Subnet changes follow; disabling DHCP removes the options.
	e.update("subnet", netID(s), map[string]any{"dns_nameservers": []string{"9.9.9.9", "1.1.1.1"}})
	netEventually(t, 10*time.Second, "new DNS servers", func() bool {
		return strings.Contains(e.nbctl("dhcp-options-get-options", uuid), "dns_server={9.9.9.9, 1.1.1.1}")
	})
	e.update("subnet", netID(s), map[string]any{"enable_dhcp": false})
	netEventually(t, 10*time.Second, "the options to go", func() bool {
		return e.nbctl("--bare", "--columns=_uuid", "find", "DHCP_Options", find) == "" &&
			e.nbctl("get", "Logical_Switch_Port", netID(vm), "dhcpv4_options") == "[]"
	})
}
