package integration

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsbinding"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsecurity"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// portView is a port as the API shows it (binding:* only to admins).
type portView struct {
	ID                  string              `json:"id"`
	Name                string              `json:"name"`
	NetworkID           string              `json:"network_id"`
	ProjectID           string              `json:"project_id"`
	TenantID            string              `json:"tenant_id"`
	MACAddress          string              `json:"mac_address"`
	Status              string              `json:"status"`
	AdminStateUp        bool                `json:"admin_state_up"`
	DeviceID            string              `json:"device_id"`
	DeviceOwner         string              `json:"device_owner"`
	FixedIPs            []ports.IP          `json:"fixed_ips"`
	SecurityGroups      []string            `json:"security_groups"`
	AllowedAddressPairs []ports.AddressPair `json:"allowed_address_pairs"`
	PortSecurityEnabled bool                `json:"port_security_enabled"`
	HostID              string              `json:"binding:host_id"`
	VIFType             string              `json:"binding:vif_type"`
	VNICType            string              `json:"binding:vnic_type"`
	RevisionNumber      int                 `json:"revision_number"`
}

// portBody is a CreateOptsBuilder sending an arbitrary port body.
type portBody map[string]any

func (b portBody) ToPortCreateMap() (map[string]any, error) {
	return map[string]any{"port": map[string]any(b)}, nil
}

// portAttrs is an UpdateOptsBuilder sending an arbitrary port body.
func portAttrs(attrs map[string]any) attrsUpdate { return attrsUpdate{Key: "port", Attrs: attrs} }

func createPort(t *testing.T, c *gophercloud.ServiceClient, opts ports.CreateOptsBuilder) portView {
	t.Helper()
	r := ports.Create(ctx(t), c, opts)
	if r.Err == nil {
		if _, err := r.Extract(); err != nil {
			t.Fatalf("gophercloud Extract of port: %v", err)
		}
	}
	return decodeAs[portView](t, r.Err, r, "port", "creating port")
}

// createPortErr creates a port expected to fail and returns the error.
func createPortErr(t *testing.T, c *gophercloud.ServiceClient, opts ports.CreateOptsBuilder) error {
	t.Helper()
	r := ports.Create(ctx(t), c, opts)
	if r.Err == nil {
		p, _ := r.Extract()
		t.Fatalf("port create succeeded (%+v), want an error", p)
	}
	return r.Err
}

func getPort(t *testing.T, c *gophercloud.ServiceClient, id string) portView {
	t.Helper()
	r := ports.Get(ctx(t), c, id)
	return decodeAs[portView](t, r.Err, r, "port", "showing port "+id)
}

func updatePort(t *testing.T, c *gophercloud.ServiceClient, id string, opts ports.UpdateOptsBuilder) (portView, error) {
	t.Helper()
	r := ports.Update(ctx(t), c, id, opts)
	if r.Err != nil {
		return portView{}, r.Err
	}
	return decodeAs[portView](t, r.Err, r, "port", "updating port"), nil
}

func listPorts(t *testing.T, c *gophercloud.ServiceClient, opts ports.ListOptsBuilder) []portView {
	t.Helper()
	return listAs[portView](t, ports.List(c, opts), "ports")
}

func portIDs(ps []portView) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// netWithSubnet creates a network and an IPv4 subnet on it.
func netWithSubnet(t *testing.T, c *gophercloud.ServiceClient, name, cidr string) (netView, subnetView) {
	t.Helper()
	n := createNamed(t, c, name)
	return n, v4Subnet(t, c, n.ID, cidr)
}

// fixed returns a fixed_ips request entry.
func fixed(subnetID, ip string) map[string]string {
	m := map[string]string{}
	if subnetID != "" {
		m["subnet_id"] = subnetID
	}
	if ip != "" {
		m["ip_address"] = ip
	}
	return m
}

// eui64 is the SLAAC address of mac in a /64 (RFC 4291 appendix A).
func eui64(t *testing.T, prefix, mac string) string {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		t.Fatalf("bad MAC %q", mac)
	}
	b := netip.MustParsePrefix(prefix).Masked().Addr().As16()
	copy(b[8:], []byte{hw[0] ^ 0x02, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]})
	return netip.AddrFrom16(b).String()
}

func inPrefix(t *testing.T, ip, prefix string) bool {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	return err == nil && netip.MustParsePrefix(prefix).Contains(a)
}

// rawPort shows a port through raw HTTP.
func (e *env) rawPort(t *testing.T, id string, headers map[string]string) map[string]any {
	t.Helper()
	m := e.do("GET", "/v2.0/ports/"+id, nil, headers).expect(t, http.StatusOK).object(t)
	p, ok := m["port"].(map[string]any)
	if !ok {
		t.Fatalf("show body is not {\"port\": {...}}: %v", m)
	}
	return p
}

var bindingHidden = []string{"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"}

// TestPortCreateDefaults: a port created with only network_id is DOWN and
// up, has a MAC with the base_mac prefix fa:16:3e, one IPv4 address, the
// project's default security group (which the project then lists),
// port_security_enabled from the network, binding:vnic_type "normal" and
// (admins only) binding:vif_type "unbound"
// (neutron/conf/policies/port.py get_port:binding:* are admin-only).
func TestPortCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")
	n, s := netWithSubnet(t, p, "n", "10.20.0.0/24")

	port := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, Name: "p1"})
	if port.Status != "DOWN" || !port.AdminStateUp || port.Name != "p1" || port.NetworkID != n.ID {
		t.Errorf("port %+v", port)
	}
	if port.ProjectID != "projP" || port.TenantID != "projP" {
		t.Errorf("owner %s/%s", port.ProjectID, port.TenantID)
	}
	if hw, err := net.ParseMAC(port.MACAddress); err != nil || !strings.HasPrefix(port.MACAddress, "fa:16:3e:") || hw[0]&1 != 0 {
		t.Errorf("mac_address %q", port.MACAddress)
	}
	if len(port.FixedIPs) != 1 || port.FixedIPs[0].SubnetID != s.ID || !inPrefix(t, port.FixedIPs[0].IPAddress, "10.20.0.0/24") ||
		port.FixedIPs[0].IPAddress == "10.20.0.1" || port.FixedIPs[0].IPAddress == "10.20.0.0" {
		t.Errorf("fixed_ips %v", port.FixedIPs)
	}
	if port.DeviceOwner != "" || port.DeviceID != "" {
		t.Errorf("device %q/%q", port.DeviceOwner, port.DeviceID)
	}
	if !port.PortSecurityEnabled || len(port.SecurityGroups) != 1 {
		t.Fatalf("port security %v groups %v", port.PortSecurityEnabled, port.SecurityGroups)
	}
	if port.AllowedAddressPairs == nil || len(port.AllowedAddressPairs) != 0 {
		t.Errorf("allowed_address_pairs %v, want []", port.AllowedAddressPairs)
	}
	// The group is the project's default one, and the project lists it.
	sgs := listAs[groups.SecGroup](t, groups.List(p, groups.ListOpts{}), "security_groups")
	if len(sgs) != 1 || sgs[0].Name != "default" || sgs[0].ID != port.SecurityGroups[0] || sgs[0].ProjectID != "projP" {
		t.Fatalf("P's security groups %+v, want the port's default group %s", sgs, port.SecurityGroups[0])
	}
	// A second port shares it.
	port2 := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	if !slices.Equal(port2.SecurityGroups, port.SecurityGroups) || port2.MACAddress == port.MACAddress ||
		port2.FixedIPs[0].IPAddress == port.FixedIPs[0].IPAddress {
		t.Errorf("second port %+v", port2)
	}

	// binding:* as the member sees it: only vnic_type.
	raw := e.rawPort(t, port.ID, hP)
	for _, k := range bindingHidden {
		if _, ok := raw[k]; ok {
			t.Errorf("member sees %s", k)
		}
	}
	if raw["binding:vnic_type"] != "normal" {
		t.Errorf("member sees binding:vnic_type %v", raw["binding:vnic_type"])
	}
	// And as the admin.
	raw = e.rawPort(t, port.ID, nil)
	if raw["binding:vif_type"] != "unbound" || raw["binding:vnic_type"] != "normal" || raw["binding:host_id"] != "" {
		t.Errorf("admin binding view: %v %v %v", raw["binding:vif_type"], raw["binding:vnic_type"], raw["binding:host_id"])
	}
	for _, k := range []string{"binding:profile", "binding:vif_details"} {
		if _, ok := raw[k].(map[string]any); !ok {
			t.Errorf("admin %s = %#v, want an object", k, raw[k])
		}
	}

	// A network without port security gives ports without it, and
	// without security groups.
	r := networks.Create(ctx(t), p, portsecurity.NetworkCreateOptsExt{
		CreateOptsBuilder: networks.CreateOpts{Name: "nopsec"}, PortSecurityEnabled: ptr(false)})
	nps := extractNet(t, r)
	v4Subnet(t, p, nps.ID, "10.20.1.0/24")
	q := createPort(t, p, ports.CreateOpts{NetworkID: nps.ID})
	if q.PortSecurityEnabled || len(q.SecurityGroups) != 0 || q.SecurityGroups == nil {
		t.Errorf("port on network without port security: %v %v", q.PortSecurityEnabled, q.SecurityGroups)
	}
	// The port's own setting wins.
	q = createPort(t, p, portsecurity.PortCreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: nps.ID}, PortSecurityEnabled: ptr(true)})
	if !q.PortSecurityEnabled || !slices.Equal(q.SecurityGroups, port.SecurityGroups) {
		t.Errorf("port with port security on such a network: %v %v", q.PortSecurityEnabled, q.SecurityGroups)
	}
	q = createPort(t, p, portsecurity.PortCreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: n.ID}, PortSecurityEnabled: ptr(false)})
	if q.PortSecurityEnabled || len(q.SecurityGroups) != 0 {
		t.Errorf("port without port security: %v %v", q.PortSecurityEnabled, q.SecurityGroups)
	}
	// Explicit empty security groups.
	q = createPort(t, p, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{}})
	if !q.PortSecurityEnabled || len(q.SecurityGroups) != 0 {
		t.Errorf("port with security_groups []: %v %v", q.PortSecurityEnabled, q.SecurityGroups)
	}

	// A network without subnets gives a port without addresses.
	bare := createNamed(t, p, "bare")
	if b := createPort(t, p, ports.CreateOpts{NetworkID: bare.ID}); b.FixedIPs == nil || len(b.FixedIPs) != 0 {
		t.Errorf("port on a network without subnets: fixed_ips %v", b.FixedIPs)
	}
	// An unknown network.
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: "00000000-0000-0000-0000-000000000000"}), http.StatusNotFound, "NetworkNotFound")
	// admin_state_up false, device_owner and device_id are kept.
	d := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, AdminStateUp: ptr(false), DeviceOwner: "compute:nova", DeviceID: "vm-1"})
	if d.AdminStateUp || d.DeviceOwner != "compute:nova" || d.DeviceID != "vm-1" {
		t.Errorf("port %+v", d)
	}
}

// TestPortFixedIPs: explicit addresses, by address, by subnet, or both
// (neutron/db/ipam_backend_mixin.py _get_subnet_for_fixed_ip): a taken
// address is 409 IpAddressAlreadyAllocated, an address on none of the
// network's subnets 400 InvalidIpForNetwork, an address outside the given
// subnet 400 InvalidIpForSubnet.
func TestPortFixedIPs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "n")
	s1 := v4Subnet(t, e.admin, n.ID, "10.21.0.0/24")
	s2 := v4Subnet(t, e.admin, n.ID, "10.21.1.0/24")

	auto := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID})
	if len(auto.FixedIPs) != 1 {
		t.Errorf("automatic port has %v, want one IPv4 address", auto.FixedIPs)
	}

	a := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", "10.21.0.50")}})
	if !slices.Equal(a.FixedIPs, []ports.IP{{SubnetID: s1.ID, IPAddress: "10.21.0.50"}}) {
		t.Errorf("fixed_ips %v", a.FixedIPs)
	}
	ne := expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", "10.21.0.50")}}),
		http.StatusConflict, "IpAddressAlreadyAllocated")
	if want := "IP address 10.21.0.50 already allocated in subnet " + s1.ID; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s1.ID, "10.21.0.50")}}),
		http.StatusConflict, "IpAddressAlreadyAllocated")
	ne = expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", "192.168.9.9")}}),
		http.StatusBadRequest, "InvalidIpForNetwork")
	if ne.Message != "IP address 192.168.9.9 is not a valid IP for any of the subnets on the specified network." {
		t.Errorf("message %q", ne.Message)
	}
	ne = expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s2.ID, "10.21.0.60")}}),
		http.StatusBadRequest, "InvalidIpForSubnet")
	if ne.Message != "IP address 10.21.0.60 is not a valid IP for the specified subnet." {
		t.Errorf("message %q", ne.Message)
	}
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s1.ID, "10.21.0.255")}}),
		http.StatusBadRequest, "InvalidIpForSubnet")
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s1.ID, "10.21.0.0")}}),
		http.StatusBadRequest, "InvalidIpForSubnet")
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", "not-an-ip")}}),
		http.StatusBadRequest, "")

	// By subnet.
	b := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s2.ID, "")}})
	if len(b.FixedIPs) != 1 || b.FixedIPs[0].SubnetID != s2.ID || !inPrefix(t, b.FixedIPs[0].IPAddress, "10.21.1.0/24") {
		t.Errorf("fixed_ips by subnet %v", b.FixedIPs)
	}
	// Both.
	c := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s2.ID, "10.21.1.77")}})
	if !slices.Equal(c.FixedIPs, []ports.IP{{SubnetID: s2.ID, IPAddress: "10.21.1.77"}}) {
		t.Errorf("fixed_ips %v", c.FixedIPs)
	}
	// Several: one from each subnet; an address outside the pool but in
	// the subnet is allowed.
	d := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s1.ID, ""), fixed(s2.ID, "10.21.1.254")}})
	if len(d.FixedIPs) != 2 || d.FixedIPs[0].SubnetID != s1.ID || d.FixedIPs[1].IPAddress != "10.21.1.254" {
		t.Errorf("fixed_ips %v", d.FixedIPs)
	}
	// An empty list: no address.
	if none := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{}}); len(none.FixedIPs) != 0 {
		t.Errorf("fixed_ips [] gave %v", none.FixedIPs)
	}
	// A subnet of another network.
	_, so := netWithSubnet(t, e.admin, "other", "10.21.9.0/24")
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(so.ID, "")}}),
		http.StatusBadRequest, "InvalidInput")
	if got := listPorts(t, e.admin, ports.ListOpts{NetworkID: n.ID}); len(got) != 6 {
		t.Errorf("%d ports on the network, want 6", len(got))
	}
}

// TestPortNetworkAddressWithoutSubnet_Neutron: an address given without a
// subnet_id that is the network (or broadcast) address of a subnet is
// valid for no subnet, so Neutron answers 400 InvalidIpForNetwork;
// spinel picks the subnet containing it and answers InvalidIpForSubnet.
//
// Neutron: neutron/db/ipam_backend_mixin.py:440-445 (without subnet_id,
// each subnet is tried with ipam_utils.check_subnet_ip, which refuses the
// network and broadcast addresses, neutron/ipam/utils.py:20 check_subnet_ip;
// none matching raises InvalidIpForNetwork).
func TestPortNetworkAddressWithoutSubnet_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n, _ := netWithSubnet(t, e.admin, "n", "10.23.0.0/24")
	for _, ip := range []string{"10.23.0.0", "10.23.0.255"} {
		t.Run(ip, func(t *testing.T) {
			expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", ip)}}),
				http.StatusBadRequest, "InvalidIpForNetwork")
		})
	}
}

// TestPortUnknownSubnet_Neutron: a fixed_ips subnet_id that does not
// exist at all is 404 SubnetNotFound in Neutron (only an existing subnet
// of another network is 400 InvalidInput); spinel answers 400 InvalidInput
// for both.
//
// Neutron: neutron/db/ipam_backend_mixin.py:417-421 ("Call this method to
// keep original status code in case subnet is not found":
// _get_subnet_object raises SubnetNotFound).
func TestPortUnknownSubnet_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n, _ := netWithSubnet(t, e.admin, "n", "10.24.0.0/24")
	expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID,
		FixedIPs: []map[string]string{fixed("00000000-0000-0000-0000-000000000000", "")}}), http.StatusNotFound, "SubnetNotFound")
}

// TestPortSLAAC: on a network with an IPv4 and an IPv6 SLAAC subnet a port
// gets an IPv4 address and its EUI-64 address
// (neutron/db/ipam_pluggable_backend.py _get_auto_address_ips).
func TestPortSLAAC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "dual")
	s4 := v4Subnet(t, e.admin, n.ID, "10.25.0.0/24")
	s6 := createSubnet(t, e.admin, subnets.CreateOpts{NetworkID: n.ID, CIDR: "2001:db8:25::/64", IPVersion: gophercloud.IPv6,
		IPv6RAMode: "slaac", IPv6AddressMode: "slaac"})

	p := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, MACAddress: "fa:16:3e:12:34:56"})
	want6 := ports.IP{SubnetID: s6.ID, IPAddress: "2001:db8:25:0:f816:3eff:fe12:3456"}
	if len(p.FixedIPs) != 2 || !slices.Contains(p.FixedIPs, want6) || !slices.ContainsFunc(p.FixedIPs, func(f ports.IP) bool { return f.SubnetID == s4.ID }) {
		t.Errorf("fixed_ips %v, want an IPv4 address and %v", p.FixedIPs, want6)
	}
	q := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID})
	if !slices.Contains(q.FixedIPs, ports.IP{SubnetID: s6.ID, IPAddress: eui64(t, "2001:db8:25::/64", q.MACAddress)}) {
		t.Errorf("fixed_ips %v, want the EUI-64 address of %s", q.FixedIPs, q.MACAddress)
	}
	// Only the SLAAC subnet asked for by id.
	r := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s6.ID, "")}})
	if !slices.Equal(r.FixedIPs, []ports.IP{{SubnetID: s6.ID, IPAddress: eui64(t, "2001:db8:25::/64", r.MACAddress)}}) {
		t.Errorf("fixed_ips %v", r.FixedIPs)
	}
	// An IPv6-only SLAAC network.
	n6 := createNamed(t, e.admin, "v6only")
	s66 := createSubnet(t, e.admin, subnets.CreateOpts{NetworkID: n6.ID, CIDR: "2001:db8:26::/64", IPVersion: gophercloud.IPv6,
		IPv6AddressMode: "slaac"})
	o := createPort(t, e.admin, ports.CreateOpts{NetworkID: n6.ID})
	if !slices.Equal(o.FixedIPs, []ports.IP{{SubnetID: s66.ID, IPAddress: eui64(t, "2001:db8:26::/64", o.MACAddress)}}) {
		t.Errorf("fixed_ips %v", o.FixedIPs)
	}
}

// TestPortSLAACWithExplicitIPv4_Neutron: a port that asks for an IPv4
// address still gets the EUI-64 address of every SLAAC subnet of the
// network, and an explicit address on a SLAAC subnet is refused (400
// AllocationOnAutoAddressSubnet). spinel gives only the IPv4 address and
// accepts the explicit IPv6 one.
//
// Neutron: neutron/db/ipam_pluggable_backend.py:270-284
// (ips.extend(self._get_auto_address_ips(...)) also when fixed_ips is
// given) and :321-327 (AllocationOnAutoAddressSubnet for an ip_address on
// an auto-address subnet of a non-router port;
// neutron/ipam/exceptions.py:56, an InvalidInput).
func TestPortSLAACWithExplicitIPv4_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "dual")
	s4 := v4Subnet(t, e.admin, n.ID, "10.27.0.0/24")
	s6 := createSubnet(t, e.admin, subnets.CreateOpts{NetworkID: n.ID, CIDR: "2001:db8:27::/64", IPVersion: gophercloud.IPv6,
		IPv6RAMode: "slaac", IPv6AddressMode: "slaac"})
	t.Run("implicit SLAAC address", func(t *testing.T) {
		p := createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s4.ID, "10.27.0.10")}})
		want := []ports.IP{{SubnetID: s4.ID, IPAddress: "10.27.0.10"}, {SubnetID: s6.ID, IPAddress: eui64(t, "2001:db8:27::/64", p.MACAddress)}}
		if !sameSet(ipStrings(p.FixedIPs), ipStrings(want)) {
			t.Errorf("fixed_ips %v, want %v", p.FixedIPs, want)
		}
	})
	t.Run("explicit address on SLAAC subnet", func(t *testing.T) {
		expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s6.ID, "2001:db8:27::1234")}}),
			http.StatusBadRequest, "AllocationOnAutoAddressSubnet")
	})
}

func ipStrings(f []ports.IP) []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = x.SubnetID + "/" + x.IPAddress
	}
	return out
}

// TestPortIPExhaustion: a /29 has five allocatable addresses (gateway .1,
// pool .2-.6); the sixth port is 409 IpAddressGenerationFailure; deleting a
// port frees its address.
func TestPortIPExhaustion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, s := netWithSubnet(t, p, "small", "10.28.0.0/29")
	if !slices.Equal(s.AllocationPools, pools("10.28.0.2", "10.28.0.6")) {
		t.Fatalf("pools %v", s.AllocationPools)
	}
	var got []portView
	seen := map[string]bool{}
	for range 5 {
		pt := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
		ip := pt.FixedIPs[0].IPAddress
		if seen[ip] || !inPrefix(t, ip, "10.28.0.0/29") || ip == "10.28.0.1" || ip == "10.28.0.7" || ip == "10.28.0.0" {
			t.Fatalf("port got %s (seen %v)", ip, seen)
		}
		seen[ip] = true
		got = append(got, pt)
	}
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: n.ID}), http.StatusConflict, "IpAddressGenerationFailure")
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "")}}),
		http.StatusConflict, "IpAddressGenerationFailure")
	// An address outside the pool (here the gateway's, which no router
	// holds) may still be asked for explicitly.
	createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "10.28.0.1")}})
	if err := ports.Delete(ctx(t), p, got[2].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	again := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	if again.FixedIPs[0].IPAddress != got[2].FixedIPs[0].IPAddress {
		t.Errorf("new port got %s, want the freed %s", again.FixedIPs[0].IPAddress, got[2].FixedIPs[0].IPAddress)
	}
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: n.ID}), http.StatusConflict, "IpAddressGenerationFailure")
}

// TestPortMACAddress: an admin may choose the MAC; it is unique per
// network (409 MacAddressInUse) but may repeat on another network. A
// member may not set it on a network it does not own
// (create_port:mac_address: ADVSVC, NET_OWNER or ADMIN).
func TestPortMACAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n1, _ := netWithSubnet(t, e.admin, "n1", "10.29.0.0/24")
	n2, _ := netWithSubnet(t, e.admin, "n2", "10.29.1.0/24")

	a := createPort(t, e.admin, ports.CreateOpts{NetworkID: n1.ID, MACAddress: "fa:16:3e:aa:bb:cc"})
	if a.MACAddress != "fa:16:3e:aa:bb:cc" {
		t.Errorf("mac %q", a.MACAddress)
	}
	ne := expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n1.ID, MACAddress: "fa:16:3e:aa:bb:cc"}),
		http.StatusConflict, "MacAddressInUse")
	if want := "Unable to complete operation for network " + n1.ID + ". The mac address fa:16:3e:aa:bb:cc is in use."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	if b := createPort(t, e.admin, ports.CreateOpts{NetworkID: n2.ID, MACAddress: "fa:16:3e:aa:bb:cc"}); b.MACAddress != "fa:16:3e:aa:bb:cc" {
		t.Errorf("mac on other network %q", b.MACAddress)
	}
	for _, bad := range []string{"not-a-mac", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "fa:16:3e:aa:bb"} {
		expectGCError(t, createPortErr(t, e.admin, ports.CreateOpts{NetworkID: n1.ID, MACAddress: bad}), http.StatusBadRequest, "")
	}
	// Updating to a MAC in use on the network.
	c := createPort(t, e.admin, ports.CreateOpts{NetworkID: n1.ID})
	_, err := updatePort(t, e.admin, c.ID, ports.UpdateOpts{MACAddress: ptr("fa:16:3e:aa:bb:cc")})
	expectGCError(t, err, http.StatusConflict, "MacAddressInUse")
	u, err := updatePort(t, e.admin, c.ID, ports.UpdateOpts{MACAddress: ptr("fa:16:3e:aa:bb:cd")})
	if err != nil || u.MACAddress != "fa:16:3e:aa:bb:cd" {
		t.Fatalf("update mac: %+v %v", u, err)
	}
	// The old MAC is free again.
	createPort(t, e.admin, ports.CreateOpts{NetworkID: n1.ID, MACAddress: c.MACAddress})

	// A member on a shared network it does not own.
	shared := createNet(t, e.admin, networks.CreateOpts{Name: "shared", Shared: ptr(true)})
	v4Subnet(t, e.admin, shared.ID, "10.29.2.0/24")
	b := e.project("projB")
	expectGCError(t, createPortErr(t, b, ports.CreateOpts{NetworkID: shared.ID, MACAddress: "fa:16:3e:00:00:01"}),
		http.StatusForbidden, "PolicyNotAuthorized")
}

// TestPortMACByNetworkOwner_Neutron: a member may set mac_address on a
// port of a network its project owns; spinel allows it to admins only.
//
// Neutron: neutron/conf/policies/port.py:86-102 (create_port:mac_address:
// RULE_ADVSVC or RULE_NET_OWNER or ADMIN; network_owner is
// 'tenant_id:%(network:tenant_id)s', neutron/conf/policies/base.py:91-94).
func TestPortMACByNetworkOwner_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, _ := netWithSubnet(t, p, "mine", "10.30.0.0/24")
	r := ports.Create(ctx(t), p, ports.CreateOpts{NetworkID: n.ID, MACAddress: "fa:16:3e:01:02:03"})
	pt := decodeAs[portView](t, r.Err, r, "port", "network owner sets mac_address")
	if pt.MACAddress != "fa:16:3e:01:02:03" {
		t.Errorf("mac %q", pt.MACAddress)
	}
}

// TestPortMulticastMAC_Neutron: Neutron's MAC validator refuses only
// malformed addresses, 00:00:00:00:00:00 and ff:ff:ff:ff:ff:ff, so a
// multicast MAC (group bit set) is accepted for a port; spinel answers
// 400.
//
// Neutron: neutron_lib/api/validators/__init__.py:398-420
// (validate_mac_address: netaddr.valid_mac, then not in
// INVALID_MAC_ADDRESSES), neutron_lib/constants.py:100.
func TestPortMulticastMAC_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n, _ := netWithSubnet(t, e.admin, "n", "10.41.0.0/24")
	r := ports.Create(ctx(t), e.admin, ports.CreateOpts{NetworkID: n.ID, MACAddress: "01:00:5e:00:00:01"})
	if pt := decodeAs[portView](t, r.Err, r, "port", "port with a multicast MAC"); pt.MACAddress != "01:00:5e:00:00:01" {
		t.Errorf("mac %q", pt.MACAddress)
	}
}

// TestPortUpdateFixedIPs: changing fixed_ips frees the old address, which
// another port may then take; a taken address is 409.
func TestPortUpdateFixedIPs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, s := netWithSubnet(t, p, "n", "10.31.0.0/24")
	a := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.10")}})
	b := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.20")}})

	u, err := updatePort(t, p, a.ID, ports.UpdateOpts{FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.11")}})
	if err != nil {
		t.Fatalf("update fixed_ips: %v", err)
	}
	if !slices.Equal(u.FixedIPs, []ports.IP{{SubnetID: s.ID, IPAddress: "10.31.0.11"}}) || u.RevisionNumber <= a.RevisionNumber {
		t.Errorf("after update %v rev %d", u.FixedIPs, u.RevisionNumber)
	}
	c := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.10")}})
	if c.FixedIPs[0].IPAddress != "10.31.0.10" {
		t.Errorf("freed address not reusable: %v", c.FixedIPs)
	}
	_, err = updatePort(t, p, a.ID, ports.UpdateOpts{FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.20")}})
	expectGCError(t, err, http.StatusConflict, "IpAddressAlreadyAllocated")
	_, err = updatePort(t, p, a.ID, ports.UpdateOpts{FixedIPs: []map[string]string{fixed("", "172.16.0.1")}})
	expectGCError(t, err, http.StatusBadRequest, "InvalidIpForNetwork")
	if got := getPort(t, p, a.ID); !slices.Equal(got.FixedIPs, []ports.IP{{SubnetID: s.ID, IPAddress: "10.31.0.11"}}) {
		t.Errorf("failed updates changed the port: %v", got.FixedIPs)
	}
	// Keeping the address and adding one.
	u, err = updatePort(t, p, a.ID, ports.UpdateOpts{FixedIPs: []map[string]string{fixed(s.ID, "10.31.0.11"), fixed(s.ID, "10.31.0.12")}})
	if err != nil || len(u.FixedIPs) != 2 {
		t.Fatalf("adding an address: %v %v", u.FixedIPs, err)
	}
	// Removing all.
	u, err = updatePort(t, p, a.ID, ports.UpdateOpts{FixedIPs: []map[string]string{}})
	if err != nil || len(u.FixedIPs) != 0 {
		t.Fatalf("removing addresses: %v %v", u.FixedIPs, err)
	}
	for _, ip := range []string{"10.31.0.11", "10.31.0.12"} {
		createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, ip)}})
	}
	// Other attributes.
	u, err = updatePort(t, p, b.ID, ports.UpdateOpts{Name: ptr("renamed"), AdminStateUp: ptr(false), DeviceOwner: ptr("compute:nova"), DeviceID: ptr("vm")})
	if err != nil || u.Name != "renamed" || u.AdminStateUp || u.DeviceOwner != "compute:nova" || u.DeviceID != "vm" {
		t.Fatalf("update: %+v %v", u, err)
	}
	// network_id cannot change.
	e.do("PUT", "/v2.0/ports/"+b.ID, map[string]any{"port": map[string]any{"network_id": n.ID}}, projectHeaders("projP")).expectError(t, http.StatusBadRequest, "")
}

// TestPortAllowedAddressPairs: pairs are stored, a pair without a MAC gets
// the port's; malformed pairs are 400; pairs need port security (409
// AddressPairAndPortSecurityRequired,
// neutron_lib/exceptions/allowedaddresspairs.py:23).
func TestPortAllowedAddressPairs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, _ := netWithSubnet(t, p, "n", "10.32.0.0/24")

	a := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, AllowedAddressPairs: []ports.AddressPair{
		{IPAddress: "10.32.0.100"}, {IPAddress: "10.32.1.0/24", MACAddress: "fa:16:3e:00:00:01"}}})
	want := []ports.AddressPair{{IPAddress: "10.32.0.100", MACAddress: a.MACAddress}, {IPAddress: "10.32.1.0/24", MACAddress: "fa:16:3e:00:00:01"}}
	if !slices.Equal(a.AllowedAddressPairs, want) {
		t.Errorf("pairs %v, want %v", a.AllowedAddressPairs, want)
	}
	for name, pairs := range map[string][]map[string]string{
		"no ip":     {{"mac_address": "fa:16:3e:00:00:02"}},
		"bad ip":    {{"ip_address": "nope"}},
		"bad mac":   {{"ip_address": "10.32.0.5", "mac_address": "nope"}},
		"duplicate": {{"ip_address": "10.32.0.5"}, {"ip_address": "10.32.0.5"}},
	} {
		t.Run(name, func(t *testing.T) {
			expectGCError(t, createPortErr(t, p, portBody{"network_id": n.ID, "allowed_address_pairs": pairs}), http.StatusBadRequest, "")
		})
	}
	// Without port security.
	ne := expectGCError(t, createPortErr(t, p, portBody{"network_id": n.ID, "port_security_enabled": false,
		"allowed_address_pairs": []map[string]string{{"ip_address": "10.32.0.5"}}}), http.StatusConflict, "AddressPairAndPortSecurityRequired")
	if ne.Message != "Port Security must be enabled in order to have allowed address pairs on a port." {
		t.Errorf("message %q", ne.Message)
	}
	// Disabling port security on a port with pairs (and removing its
	// groups) is refused as well.
	_, err := updatePort(t, p, a.ID, portAttrs(map[string]any{"port_security_enabled": false, "security_groups": []string{}}))
	expectGCError(t, err, http.StatusConflict, "AddressPairAndPortSecurityRequired")
	// Clearing pairs and groups together with port security works.
	u, err := updatePort(t, p, a.ID, portAttrs(map[string]any{"port_security_enabled": false, "security_groups": []string{}, "allowed_address_pairs": []any{}}))
	if err != nil || u.PortSecurityEnabled || len(u.AllowedAddressPairs) != 0 || len(u.SecurityGroups) != 0 {
		t.Fatalf("disabling port security: %+v %v", u, err)
	}
	// Adding pairs to a port without port security.
	_, err = updatePort(t, p, a.ID, portAttrs(map[string]any{"allowed_address_pairs": []map[string]string{{"ip_address": "10.32.0.7"}}}))
	expectGCError(t, err, http.StatusConflict, "AddressPairAndPortSecurityRequired")
	// Updating pairs of a port with port security.
	b := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	u, err = updatePort(t, p, b.ID, ports.UpdateOpts{AllowedAddressPairs: &[]ports.AddressPair{{IPAddress: "10.32.0.9"}}})
	if err != nil || !slices.Equal(u.AllowedAddressPairs, []ports.AddressPair{{IPAddress: "10.32.0.9", MACAddress: b.MACAddress}}) {
		t.Fatalf("update pairs: %v %v", u.AllowedAddressPairs, err)
	}
}

// TestPortAddressPairErrorTypes_Neutron: Neutron's allowed_address_pairs
// validator raises its own exception types: a pair without ip_address is
// 400 AllowedAddressPairsMissingIP, a repeated pair 400
// DuplicateAddressPairInRequest. spinel answers HTTPBadRequest for both.
//
// Neutron: neutron_lib/api/validators/allowedaddresspairs.py:57-66;
// neutron_lib/exceptions/allowedaddresspairs.py:19-30 (both InvalidInput;
// the fault type is the class name, neutron/api/api_common.py:522).
func TestPortAddressPairErrorTypes_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n, _ := netWithSubnet(t, e.admin, "n", "10.33.0.0/24")
	t.Run("missing ip", func(t *testing.T) {
		expectGCError(t, createPortErr(t, e.admin, portBody{"network_id": n.ID, "allowed_address_pairs": []map[string]string{{"mac_address": "fa:16:3e:00:00:02"}}}),
			http.StatusBadRequest, "AllowedAddressPairsMissingIP")
	})
	t.Run("duplicate", func(t *testing.T) {
		expectGCError(t, createPortErr(t, e.admin, portBody{"network_id": n.ID, "allowed_address_pairs": []map[string]string{{"ip_address": "10.33.0.5"}, {"ip_address": "10.33.0.5"}}}),
			http.StatusBadRequest, "DuplicateAddressPairInRequest")
	})
}

// TestPortSecurityWithGroups_Neutron: creating a port with
// port_security_enabled=false and security groups is 400
// PortSecurityAndIPRequiredForSecurityGroups (an InvalidInput), and
// disabling port security on a port that has groups, without removing
// them, is 409 PortSecurityPortHasSecurityGroup. spinel answers 409
// PortSecurityAndIPRequiredForSecurityGroups to both.
//
// Neutron: neutron/plugins/ml2/plugin.py:1491-1494 (create) and
// :1808-1824 (update: groups in the request raise
// PortSecurityAndIPRequiredForSecurityGroups, groups already bound raise
// PortSecurityPortHasSecurityGroup);
// neutron_lib/exceptions/port_security.py:19-26 (InUse -> 409,
// InvalidInput -> 400).
func TestPortSecurityWithGroups_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, _ := netWithSubnet(t, p, "n", "10.34.0.0/24")
	sg := createSG(t, p, "web")
	t.Run("create", func(t *testing.T) {
		expectGCError(t, createPortErr(t, p, portBody{"network_id": n.ID, "port_security_enabled": false, "security_groups": []string{sg.ID}}),
			http.StatusBadRequest, "PortSecurityAndIPRequiredForSecurityGroups")
	})
	a := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	t.Run("update keeping groups", func(t *testing.T) {
		_, err := updatePort(t, p, a.ID, portAttrs(map[string]any{"port_security_enabled": false}))
		expectGCError(t, err, http.StatusConflict, "PortSecurityPortHasSecurityGroup")
	})
	t.Run("update giving groups", func(t *testing.T) {
		_, err := updatePort(t, p, a.ID, portAttrs(map[string]any{"port_security_enabled": false, "security_groups": []string{sg.ID}}))
		expectGCError(t, err, http.StatusBadRequest, "PortSecurityAndIPRequiredForSecurityGroups")
	})
}

// TestPortSecurityGroups: a port may name its project's groups; unknown
// ones are 404; groups can be replaced and removed.
func TestPortSecurityGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, _ := netWithSubnet(t, p, "n", "10.35.0.0/24")
	web := createSG(t, p, "web")
	db := createSG(t, p, "db")
	a := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{web.ID, db.ID}})
	if !sameSet(a.SecurityGroups, []string{web.ID, db.ID}) {
		t.Errorf("security_groups %v", a.SecurityGroups)
	}
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{"00000000-0000-0000-0000-000000000000"}}),
		http.StatusNotFound, "SecurityGroupNotFound")
	u, err := updatePort(t, p, a.ID, ports.UpdateOpts{SecurityGroups: &[]string{db.ID}})
	if err != nil || !slices.Equal(u.SecurityGroups, []string{db.ID}) {
		t.Fatalf("replacing groups: %v %v", u.SecurityGroups, err)
	}
	u, err = updatePort(t, p, a.ID, ports.UpdateOpts{SecurityGroups: &[]string{}})
	if err != nil || len(u.SecurityGroups) != 0 {
		t.Fatalf("removing groups: %v %v", u.SecurityGroups, err)
	}
	// With no groups port security can be turned off.
	u, err = updatePort(t, p, a.ID, portsecurity.PortUpdateOptsExt{UpdateOptsBuilder: ports.UpdateOpts{}, PortSecurityEnabled: ptr(false)})
	if err != nil || u.PortSecurityEnabled {
		t.Fatalf("disabling port security: %+v %v", u, err)
	}
	// A group of another project is not found.
	other := createSG(t, e.project("projQ"), "theirs")
	expectGCError(t, createPortErr(t, p, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{other.ID}}),
		http.StatusNotFound, "SecurityGroupNotFound")
}

// TestPortBinding: binding:host_id is admin-only; with no agent serving
// the host the port fails to bind (binding:vif_type "binding_failed");
// members do not see binding:host_id, vif_type, vif_details or profile.
func TestPortBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")
	n, _ := netWithSubnet(t, p, "n", "10.36.0.0/24")

	a := createPort(t, e.admin, portsbinding.CreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: n.ID, ProjectID: "projP"}, HostID: "compute-1"})
	if a.HostID != "compute-1" || a.VIFType != "binding_failed" || a.VNICType != "normal" || a.Status != "DOWN" {
		t.Errorf("bound port: host %q vif %q vnic %q status %q", a.HostID, a.VIFType, a.VNICType, a.Status)
	}
	raw := e.rawPort(t, a.ID, hP)
	for _, k := range bindingHidden {
		if _, ok := raw[k]; ok {
			t.Errorf("member sees %s", k)
		}
	}
	// Also in lists and with fields=.
	var list struct {
		Ports []map[string]any `json:"ports"`
	}
	e.do("GET", "/v2.0/ports?fields=id&fields=binding:host_id&fields=binding:vif_type", nil, hP).expect(t, http.StatusOK).into(t, &list)
	if len(list.Ports) != 1 {
		t.Fatalf("member lists %d ports", len(list.Ports))
	}
	for _, k := range bindingHidden {
		if _, ok := list.Ports[0][k]; ok {
			t.Errorf("member sees %s in list", k)
		}
	}
	// Members may not bind.
	expectGCError(t, createPortErr(t, p, portsbinding.CreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: n.ID}, HostID: "compute-1"}),
		http.StatusForbidden, "PolicyNotAuthorized")
	b := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	_, err := updatePort(t, p, b.ID, portsbinding.UpdateOptsExt{UpdateOptsBuilder: ports.UpdateOpts{}, HostID: ptr("compute-2")})
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	// The admin binds and unbinds by update.
	u, err := updatePort(t, e.admin, b.ID, portsbinding.UpdateOptsExt{UpdateOptsBuilder: ports.UpdateOpts{}, HostID: ptr("compute-2")})
	if err != nil || u.HostID != "compute-2" || u.VIFType != "binding_failed" {
		t.Fatalf("binding by update: %+v %v", u, err)
	}
	u, err = updatePort(t, e.admin, b.ID, portsbinding.UpdateOptsExt{UpdateOptsBuilder: ports.UpdateOpts{}, HostID: ptr("")})
	if err != nil || u.HostID != "" || u.VIFType != "unbound" {
		t.Fatalf("unbinding: %+v %v", u, err)
	}
	// A member may choose the vnic type; unknown types are 400.
	c := createPort(t, p, portsbinding.CreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: n.ID}, VNICType: "direct"})
	if c.VNICType != "direct" {
		t.Errorf("vnic_type %q", c.VNICType)
	}
	expectGCError(t, createPortErr(t, p, portsbinding.CreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: n.ID}, VNICType: "warp"}),
		http.StatusBadRequest, "")
	// The binding filter works for admins.
	if got := listPorts(t, e.admin, query{"binding:host_id": {"compute-1"}}); !slices.Equal(portIDs(got), []string{a.ID}) {
		t.Errorf("admin filter binding:host_id: %v", portIDs(got))
	}
}

// TestPortListFilters: device_owner, device_id, mac_address, network_id
// and fixed_ips (ip_address=, subnet_id=, ip_address_substr=) filters.
func TestPortListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n1, s1 := netWithSubnet(t, p, "n1", "10.37.0.0/24")
	n2, s2 := netWithSubnet(t, p, "n2", "10.37.1.0/24")
	a := createPort(t, p, ports.CreateOpts{NetworkID: n1.ID, DeviceOwner: "compute:nova", DeviceID: "vm-a", FixedIPs: []map[string]string{fixed(s1.ID, "10.37.0.10")}})
	b := createPort(t, p, ports.CreateOpts{NetworkID: n1.ID, DeviceOwner: "compute:nova", DeviceID: "vm-b", FixedIPs: []map[string]string{fixed(s1.ID, "10.37.0.110")}})
	c := createPort(t, p, ports.CreateOpts{NetworkID: n2.ID, DeviceOwner: "network:router_interface", DeviceID: "r1", FixedIPs: []map[string]string{fixed(s2.ID, "10.37.1.10")}})

	check := func(name string, opts ports.ListOptsBuilder, want ...string) {
		t.Helper()
		if got := portIDs(listPorts(t, p, opts)); !sameSet(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("all", nil, a.ID, b.ID, c.ID)
	check("network_id", ports.ListOpts{NetworkID: n1.ID}, a.ID, b.ID)
	check("device_owner", ports.ListOpts{DeviceOwner: "compute:nova"}, a.ID, b.ID)
	check("device_owner router", ports.ListOpts{DeviceOwner: "network:router_interface"}, c.ID)
	check("device_id", ports.ListOpts{DeviceID: "vm-b"}, b.ID)
	check("device_owner and device_id", ports.ListOpts{DeviceOwner: "compute:nova", DeviceID: "r1"})
	check("mac_address", ports.ListOpts{MACAddress: c.MACAddress}, c.ID)
	check("fixed_ips ip_address", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.37.0.110"}}}, b.ID)
	check("fixed_ips subnet_id", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{SubnetID: s1.ID}}}, a.ID, b.ID)
	check("fixed_ips ip_address and subnet_id", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.37.1.10", SubnetID: s2.ID}}}, c.ID)
	check("fixed_ips ip_address of another subnet", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.37.1.10", SubnetID: s1.ID}}})
	check("fixed_ips ip_address_substr", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddressSubstr: "10.37"}}}, a.ID, b.ID, c.ID)
	check("fixed_ips ip_address_substr narrow", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddressSubstr: ".110"}}}, b.ID)
	check("fixed_ips ip_address_substr end", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddressSubstr: "1.10"}}}, c.ID)
	check("fixed_ips two addresses", query{"fixed_ips": {"ip_address=10.37.0.10", "ip_address=10.37.1.10"}}, a.ID, c.ID)
	check("fixed_ips no match", ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.37.0.99"}}})
	e.do("GET", "/v2.0/ports?fixed_ips=bogus", nil, projectHeaders("projP")).expectError(t, http.StatusBadRequest, "")
}

// TestPortDelete: 204, then 404 PortNotFound; a network with ports cannot
// be deleted (409 NetworkInUse); deleting a network removes its subnets.
func TestPortDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")
	n, s := netWithSubnet(t, p, "n", "10.38.0.0/24")
	a := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})

	ne := expectGCError(t, networks.Delete(ctx(t), p, n.ID).ExtractErr(), http.StatusConflict, "NetworkInUse")
	if want := "Unable to complete operation on network " + n.ID + ". There are one or more ports still in use on the network."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	e.do("DELETE", "/v2.0/ports/"+a.ID, nil, hP).expect(t, http.StatusNoContent)
	ne = e.do("GET", "/v2.0/ports/"+a.ID, nil, hP).expectError(t, http.StatusNotFound, "PortNotFound")
	if ne.Message != "Port "+a.ID+" could not be found." {
		t.Errorf("message %q", ne.Message)
	}
	e.do("DELETE", "/v2.0/ports/"+a.ID, nil, hP).expectError(t, http.StatusNotFound, "PortNotFound")
	e.do("PUT", "/v2.0/ports/"+a.ID, map[string]any{"port": map[string]any{"name": "x"}}, hP).expectError(t, http.StatusNotFound, "PortNotFound")

	// A DHCP port does not keep the network alive.
	createPort(t, e.admin, ports.CreateOpts{NetworkID: n.ID, DeviceOwner: "network:dhcp", ProjectID: "projP"})
	if err := networks.Delete(ctx(t), p, n.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting network: %v", err)
	}
	e.do("GET", "/v2.0/subnets/"+s.ID, nil, hP).expectError(t, http.StatusNotFound, "SubnetNotFound")
	if got := listSubnets(t, e.admin, nil); len(got) != 0 {
		t.Errorf("subnets left: %v", subnetIDs(got))
	}
	if got := listPorts(t, e.admin, nil); len(got) != 0 {
		t.Errorf("ports left: %v", portIDs(got))
	}
	// Its address range can be used again.
	netWithSubnet(t, p, "again", "10.38.0.0/24")
}

// TestPortProjectIsolation: another project neither sees nor changes a
// port (404); a port of project B on A's shared network is visible to A,
// the network owner, but B does not see A's ports. Network owners see
// others' ports through Neutron 21's deprecated get_port rule
// (rule:admin_owner_or_network_owner, OR-ed in while [oslo_policy]
// enforce_new_defaults is off, the default); the new rule alone (ADMIN,
// ADVSVC or PROJECT_READER) would hide them
// (neutron/conf/policies/port.py:277-294).
func TestPortProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.project("projA"), e.project("projB")
	hB := projectHeaders("projB")
	n, _ := netWithSubnet(t, a, "private", "10.39.0.0/24")
	pa := createPort(t, a, ports.CreateOpts{NetworkID: n.ID})

	if got := listPorts(t, b, nil); len(got) != 0 {
		t.Errorf("B lists %v", portIDs(got))
	}
	e.do("GET", "/v2.0/ports/"+pa.ID, nil, hB).expectError(t, http.StatusNotFound, "PortNotFound")
	e.do("PUT", "/v2.0/ports/"+pa.ID, map[string]any{"port": map[string]any{"name": "x"}}, hB).expectError(t, http.StatusNotFound, "PortNotFound")
	e.do("DELETE", "/v2.0/ports/"+pa.ID, nil, hB).expectError(t, http.StatusNotFound, "PortNotFound")
	// B cannot create a port on A's private network.
	expectGCError(t, createPortErr(t, b, ports.CreateOpts{NetworkID: n.ID}), http.StatusNotFound, "NetworkNotFound")

	// A shared network of A.
	shared := createNet(t, e.admin, networks.CreateOpts{Name: "shared", ProjectID: "projA", Shared: ptr(true)})
	ss := v4Subnet(t, a, shared.ID, "10.39.1.0/24")
	pb := createPort(t, b, ports.CreateOpts{NetworkID: shared.ID})
	if pb.ProjectID != "projB" || len(pb.FixedIPs) != 1 || pb.FixedIPs[0].SubnetID != ss.ID {
		t.Errorf("B's port on the shared network %+v", pb)
	}
	// Its default group is B's.
	bsgs := listAs[groups.SecGroup](t, groups.List(b, groups.ListOpts{}), "security_groups")
	if len(bsgs) != 1 || !slices.Equal(pb.SecurityGroups, []string{bsgs[0].ID}) {
		t.Errorf("B's port groups %v, B's groups %+v", pb.SecurityGroups, bsgs)
	}
	pa2 := createPort(t, a, ports.CreateOpts{NetworkID: shared.ID})
	if got := portIDs(listPorts(t, b, nil)); !slices.Equal(got, []string{pb.ID}) {
		t.Errorf("B lists %v, want only its own port", got)
	}
	e.do("GET", "/v2.0/ports/"+pa2.ID, nil, hB).expectError(t, http.StatusNotFound, "PortNotFound")
	if got := portIDs(listPorts(t, a, nil)); !sameSet(got, []string{pa.ID, pa2.ID, pb.ID}) {
		t.Errorf("A lists %v, want its ports and B's port on its network", got)
	}
	if got := getPort(t, a, pb.ID); got.ProjectID != "projB" {
		t.Errorf("A shows B's port %+v", got)
	}
	if got := listPorts(t, e.admin, nil); len(got) != 3 {
		t.Errorf("admin lists %d ports", len(got))
	}
}

// TestPortBulkCreate: {"ports": [...]} creates all ports, in order; if one
// item is invalid none is created.
func TestPortBulkCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")
	n, s := netWithSubnet(t, p, "n", "10.40.0.0/24")

	var out struct {
		Ports []portView `json:"ports"`
	}
	e.do("POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": n.ID, "name": "b0"},
		map[string]any{"network_id": n.ID, "name": "b1", "fixed_ips": []any{fixed(s.ID, "10.40.0.50")}},
		map[string]any{"network_id": n.ID, "name": "b2"},
	}}, hP).expect(t, http.StatusCreated).into(t, &out)
	if len(out.Ports) != 3 {
		t.Fatalf("bulk created %d ports", len(out.Ports))
	}
	for i, pt := range out.Ports {
		if pt.Name != []string{"b0", "b1", "b2"}[i] || pt.ProjectID != "projP" || len(pt.FixedIPs) != 1 || pt.Status != "DOWN" {
			t.Errorf("bulk port %d: %+v", i, pt)
		}
	}
	if out.Ports[1].FixedIPs[0].IPAddress != "10.40.0.50" {
		t.Errorf("bulk port fixed_ips %v", out.Ports[1].FixedIPs)
	}
	if got := listPorts(t, p, nil); len(got) != 3 {
		t.Fatalf("%d ports after bulk create", len(got))
	}

	// One bad item: nothing is created.
	for name, items := range map[string][]any{
		"taken address": {
			map[string]any{"network_id": n.ID, "name": "c0"},
			map[string]any{"network_id": n.ID, "name": "c1", "fixed_ips": []any{fixed("", "10.40.0.50")}},
		},
		"address elsewhere": {
			map[string]any{"network_id": n.ID, "name": "c0"},
			map[string]any{"network_id": n.ID, "name": "c1"},
			map[string]any{"network_id": n.ID, "name": "c2", "fixed_ips": []any{fixed("", "192.168.0.1")}},
		},
		"unknown network": {
			map[string]any{"network_id": n.ID, "name": "c0"},
			map[string]any{"network_id": "00000000-0000-0000-0000-000000000000", "name": "c1"},
		},
		"same address twice": {
			map[string]any{"network_id": n.ID, "name": "c0", "fixed_ips": []any{fixed("", "10.40.0.60")}},
			map[string]any{"network_id": n.ID, "name": "c1", "fixed_ips": []any{fixed("", "10.40.0.60")}},
		},
	} {
		r := e.do("POST", "/v2.0/ports", map[string]any{"ports": items}, hP)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s: bulk create with a bad item: %s", name, r)
		}
		parseNeutronError(t, r.Body)
		if got := listPorts(t, p, nil); len(got) != 3 {
			t.Errorf("%s: %d ports after failed bulk create, want 3", name, len(got))
		}
	}
	// The freed addresses and MACs of the rolled-back ports are usable.
	createPort(t, p, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed("", "10.40.0.60")}})
}
