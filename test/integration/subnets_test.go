package integration

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// ---- generic result helpers (subnets, ports, security groups) ----

// structResult is a gophercloud single-resource result.
type structResult interface {
	ExtractIntoStructPtr(to any, label string) error
}

// decodeAs checks err and decodes the result's body[key] into a T.
func decodeAs[T any](t *testing.T, err error, r structResult, key, what string) T {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var v T
	if err := r.ExtractIntoStructPtr(&v, key); err != nil {
		t.Fatalf("%s: decoding %q: %v", what, key, err)
	}
	return v
}

// listAs lists all pages of p and decodes body[key] of each into []T.
func listAs[T any](t *testing.T, p pagination.Pager, key string) []T {
	t.Helper()
	pages, err := p.AllPages(ctx(t))
	if err != nil {
		t.Fatalf("listing %s: %v", key, err)
	}
	var out []T
	sp, ok := pages.(interface {
		ExtractIntoSlicePtr(to any, label string) error
	})
	if !ok {
		t.Fatalf("page type %T cannot extract", pages)
	}
	if err := sp.ExtractIntoSlicePtr(&out, key); err != nil {
		t.Fatalf("decoding %s: %v", key, err)
	}
	return out
}

// ToSubnetListQuery lets query (clients_test.go) filter subnets.
func (q query) ToSubnetListQuery() (string, error) { return q.ToNetworkListQuery() }

// ToPortListQuery lets query filter ports.
func (q query) ToPortListQuery() (string, error) { return q.ToNetworkListQuery() }

// ---- subnets ----

// subnetView is a subnet as the API shows it.
type subnetView struct {
	ID              string                   `json:"id"`
	Name            string                   `json:"name"`
	Description     string                   `json:"description"`
	NetworkID       string                   `json:"network_id"`
	ProjectID       string                   `json:"project_id"`
	TenantID        string                   `json:"tenant_id"`
	IPVersion       int                      `json:"ip_version"`
	CIDR            string                   `json:"cidr"`
	GatewayIP       *string                  `json:"gateway_ip"`
	AllocationPools []subnets.AllocationPool `json:"allocation_pools"`
	DNSNameservers  []string                 `json:"dns_nameservers"`
	HostRoutes      []subnets.HostRoute      `json:"host_routes"`
	EnableDHCP      bool                     `json:"enable_dhcp"`
	IPv6RAMode      *string                  `json:"ipv6_ra_mode"`
	IPv6AddressMode *string                  `json:"ipv6_address_mode"`
	RevisionNumber  int                      `json:"revision_number"`
}

// subnetBody is a CreateOptsBuilder sending an arbitrary subnet body.
type subnetBody map[string]any

func (b subnetBody) ToSubnetCreateMap() (map[string]any, error) {
	return map[string]any{"subnet": map[string]any(b)}, nil
}

// subnetUpdate is the attributes of a subnet update.
type subnetUpdate map[string]any

// attrsUpdate is an UpdateOptsBuilder (subnets, ports) sending Attrs under
// Key; gophercloud's Update needs a struct for its header options.
type attrsUpdate struct {
	Key   string
	Attrs map[string]any
}

func (b attrsUpdate) body() (map[string]any, error) { return map[string]any{b.Key: b.Attrs}, nil }

func (b attrsUpdate) ToSubnetUpdateMap() (map[string]any, error) { return b.body() }

func (b attrsUpdate) ToPortUpdateMap() (map[string]any, error) { return b.body() }

// createSubnet creates a subnet and fails t on error.
func createSubnet(t *testing.T, c *gophercloud.ServiceClient, opts subnets.CreateOptsBuilder) subnetView {
	t.Helper()
	r := subnets.Create(ctx(t), c, opts)
	if r.Err == nil {
		if _, err := r.Extract(); err != nil {
			t.Fatalf("gophercloud Extract of subnet: %v", err)
		}
	}
	return decodeAs[subnetView](t, r.Err, r, "subnet", "creating subnet")
}

// createSubnetErr creates a subnet expected to fail and returns the error.
func createSubnetErr(t *testing.T, c *gophercloud.ServiceClient, opts subnets.CreateOptsBuilder) error {
	t.Helper()
	r := subnets.Create(ctx(t), c, opts)
	if r.Err == nil {
		s, _ := r.Extract()
		t.Fatalf("subnet create succeeded (%+v), want an error", s)
	}
	return r.Err
}

// v4Subnet creates an IPv4 subnet with Neutron's defaults.
func v4Subnet(t *testing.T, c *gophercloud.ServiceClient, netID, cidr string) subnetView {
	t.Helper()
	return createSubnet(t, c, subnets.CreateOpts{NetworkID: netID, CIDR: cidr, IPVersion: gophercloud.IPv4})
}

func getSubnet(t *testing.T, c *gophercloud.ServiceClient, id string) subnetView {
	t.Helper()
	r := subnets.Get(ctx(t), c, id)
	return decodeAs[subnetView](t, r.Err, r, "subnet", "showing subnet "+id)
}

func listSubnets(t *testing.T, c *gophercloud.ServiceClient, opts subnets.ListOptsBuilder) []subnetView {
	t.Helper()
	return listAs[subnetView](t, subnets.List(c, opts), "subnets")
}

func subnetIDs(s []subnetView) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.ID
	}
	return out
}

func pools(p ...string) []subnets.AllocationPool {
	var out []subnets.AllocationPool
	for i := 0; i+1 < len(p); i += 2 {
		out = append(out, subnets.AllocationPool{Start: p[i], End: p[i+1]})
	}
	return out
}

func strp(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestSubnetCreateDefaults: Neutron's defaults for an IPv4 subnet: the
// cidr is normalised (db_base_plugin_v2.py:846-849), the gateway is the
// first host (ipam_backend_mixin.py _gateway_ip_str), the allocation pool
// is the rest of the usable range (ipam/utils.py generate_pools),
// enable_dhcp defaults to true; gateway_ip null gives a pool over the
// whole usable range.
func TestSubnetCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n")

	s := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.0.5/24", IPVersion: gophercloud.IPv4, Name: "s"})
	if s.CIDR != "10.0.0.0/24" {
		t.Errorf("cidr %q, want 10.0.0.0/24", s.CIDR)
	}
	if strp(s.GatewayIP) != "10.0.0.1" {
		t.Errorf("gateway_ip %s, want 10.0.0.1", strp(s.GatewayIP))
	}
	if !slices.Equal(s.AllocationPools, pools("10.0.0.2", "10.0.0.254")) {
		t.Errorf("allocation_pools %v", s.AllocationPools)
	}
	if !s.EnableDHCP || s.IPVersion != 4 || s.Name != "s" || s.NetworkID != n.ID {
		t.Errorf("subnet %+v", s)
	}
	if s.ProjectID != "projP" || s.TenantID != "projP" {
		t.Errorf("owner %s/%s", s.ProjectID, s.TenantID)
	}
	if s.IPv6RAMode != nil || s.IPv6AddressMode != nil {
		t.Errorf("IPv6 modes on an IPv4 subnet: %s %s", strp(s.IPv6RAMode), strp(s.IPv6AddressMode))
	}
	if s.DNSNameservers == nil || len(s.DNSNameservers) != 0 || s.HostRoutes == nil || len(s.HostRoutes) != 0 {
		t.Errorf("dns_nameservers %v host_routes %v, want empty lists", s.DNSNameservers, s.HostRoutes)
	}
	// The raw body has the attributes as lists and null, not absent.
	raw := e.do("GET", "/v2.0/subnets/"+s.ID, nil, projectHeaders("projP")).expect(t, http.StatusOK).object(t)["subnet"].(map[string]any)
	for _, k := range []string{"dns_nameservers", "host_routes", "allocation_pools", "service_types", "tags"} {
		if _, ok := raw[k].([]any); !ok {
			t.Errorf("%s = %#v, want a list", k, raw[k])
		}
	}
	for _, k := range []string{"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id"} {
		if v, ok := raw[k]; !ok || v != nil {
			t.Errorf("%s = %#v (present %v), want null", k, v, ok)
		}
	}
	// The network lists it.
	if got := getNet(t, p, n.ID); !slices.Equal(got.Subnets, []string{s.ID}) {
		t.Errorf("network subnets %v, want [%s]", got.Subnets, s.ID)
	}
	if got := getSubnet(t, p, s.ID); got.CIDR != s.CIDR || strp(got.GatewayIP) != "10.0.0.1" {
		t.Errorf("show %+v", got)
	}

	// No gateway: the pool covers the whole usable range.
	ng := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.1.0/24", IPVersion: gophercloud.IPv4, GatewayIP: ptr("")})
	if ng.GatewayIP != nil {
		t.Errorf("gateway_ip %s, want null", strp(ng.GatewayIP))
	}
	if !slices.Equal(ng.AllocationPools, pools("10.0.1.1", "10.0.1.254")) {
		t.Errorf("pools without gateway %v", ng.AllocationPools)
	}
	// An explicit gateway is cut out of the default pool.
	gw := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.2.0/24", IPVersion: gophercloud.IPv4, GatewayIP: ptr("10.0.2.254")})
	if strp(gw.GatewayIP) != "10.0.2.254" || !slices.Equal(gw.AllocationPools, pools("10.0.2.1", "10.0.2.253")) {
		t.Errorf("gateway .254: %s %v", strp(gw.GatewayIP), gw.AllocationPools)
	}
	gw = createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.3.0/24", IPVersion: gophercloud.IPv4, GatewayIP: ptr("10.0.3.100")})
	if !slices.Equal(gw.AllocationPools, pools("10.0.3.1", "10.0.3.99", "10.0.3.101", "10.0.3.254")) {
		t.Errorf("gateway .100: %v", gw.AllocationPools)
	}
	// enable_dhcp false is kept.
	nd := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.4.0/24", IPVersion: gophercloud.IPv4, EnableDHCP: ptr(false)})
	if nd.EnableDHCP {
		t.Errorf("enable_dhcp false not kept")
	}

	// Bad requests.
	for _, tc := range []struct {
		name string
		body subnetBody
		code int
	}{
		{"no cidr", subnetBody{"network_id": n.ID, "ip_version": 4}, http.StatusBadRequest},
		{"bad cidr", subnetBody{"network_id": n.ID, "ip_version": 4, "cidr": "10.0.5.0/33"}, http.StatusBadRequest},
		{"version mismatch", subnetBody{"network_id": n.ID, "ip_version": 6, "cidr": "10.0.5.0/24"}, http.StatusBadRequest},
		{"bad version", subnetBody{"network_id": n.ID, "ip_version": 5, "cidr": "10.0.5.0/24"}, http.StatusBadRequest},
		{"gateway of other version", subnetBody{"network_id": n.ID, "ip_version": 4, "cidr": "10.0.5.0/24", "gateway_ip": "2001:db8::1"}, http.StatusBadRequest},
		{"gateway is broadcast", subnetBody{"network_id": n.ID, "ip_version": 4, "cidr": "10.0.5.0/24", "gateway_ip": "10.0.5.255"}, http.StatusBadRequest},
		{"no network_id", subnetBody{"ip_version": 4, "cidr": "10.0.5.0/24"}, http.StatusBadRequest},
	} {
		expectGCError(t, createSubnetErr(t, p, tc.body), tc.code, "")
	}
	expectGCError(t, createSubnetErr(t, p, subnetBody{"network_id": "00000000-0000-0000-0000-000000000000", "ip_version": 4, "cidr": "10.0.5.0/24"}),
		http.StatusNotFound, "NetworkNotFound")
	if got := listSubnets(t, p, nil); len(got) != 5 {
		t.Errorf("%d subnets after refused creates, want 5", len(got))
	}
}

// TestSubnetAllocationPools: explicit pools are kept, and validated as
// Neutron does (ipam_backend_mixin.py validate_allocation_pools,
// validate_gw_out_of_pools): outside the usable range 400
// OutOfBoundsAllocationPool, start after end 400 InvalidAllocationPool,
// overlapping 409 OverlappingAllocationPools, containing the gateway 409
// GatewayConflictWithAllocationPools.
func TestSubnetAllocationPools(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n")
	mk := func(cidr string, gw *string, ps []subnets.AllocationPool) error {
		r := subnets.Create(ctx(t), p, subnets.CreateOpts{NetworkID: n.ID, CIDR: cidr, IPVersion: gophercloud.IPv4, GatewayIP: gw, AllocationPools: ps})
		return r.Err
	}

	s := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.1.0.0/24", IPVersion: gophercloud.IPv4,
		AllocationPools: pools("10.1.0.10", "10.1.0.20", "10.1.0.100", "10.1.0.110")})
	if !slices.Equal(s.AllocationPools, pools("10.1.0.10", "10.1.0.20", "10.1.0.100", "10.1.0.110")) {
		t.Fatalf("pools %v", s.AllocationPools)
	}
	if strp(s.GatewayIP) != "10.1.0.1" {
		t.Errorf("gateway %s", strp(s.GatewayIP))
	}

	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.2.10", "10.1.2.20")), http.StatusBadRequest, "OutOfBoundsAllocationPool")
	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.1.0", "10.1.1.20")), http.StatusBadRequest, "OutOfBoundsAllocationPool")
	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.1.200", "10.1.1.255")), http.StatusBadRequest, "OutOfBoundsAllocationPool")
	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.1.20", "10.1.1.10")), http.StatusBadRequest, "InvalidAllocationPool")
	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.1.10", "10.1.1.30", "10.1.1.20", "10.1.1.40")), http.StatusConflict, "OverlappingAllocationPools")
	ne := expectGCError(t, mk("10.1.1.0/24", ptr("10.1.1.5"), pools("10.1.1.2", "10.1.1.9")), http.StatusConflict, "GatewayConflictWithAllocationPools")
	if ne.Message != "Gateway ip 10.1.1.5 conflicts with allocation pool 10.1.1.2-10.1.1.9." {
		t.Errorf("message %q", ne.Message)
	}
	// The default gateway (.1) counts too.
	expectGCError(t, mk("10.1.1.0/24", nil, pools("10.1.1.1", "10.1.1.9")), http.StatusConflict, "GatewayConflictWithAllocationPools")
	// Without a gateway a pool may start at the first host.
	s2 := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.1.1.0/24", IPVersion: gophercloud.IPv4, GatewayIP: ptr(""),
		AllocationPools: pools("10.1.1.1", "10.1.1.9")})
	if s2.GatewayIP != nil || !slices.Equal(s2.AllocationPools, pools("10.1.1.1", "10.1.1.9")) {
		t.Errorf("subnet without gateway: %s %v", strp(s2.GatewayIP), s2.AllocationPools)
	}
	if got := listSubnets(t, p, nil); len(got) != 2 {
		t.Errorf("%d subnets, want 2", len(got))
	}
}

// TestSubnetIPv6: an IPv6 SLAAC subnet on a /64; the default gateway is
// the subnet-router anycast (network) address (Neutron 21:
// ipam_backend_mixin.py _gateway_ip_str) and the pool runs from ::1 to the
// last address; mode validation (db_base_plugin_v2.py
// _validate_ipv6_attributes).
func TestSubnetIPv6(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n6")

	s := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "2001:db8:1::/64", IPVersion: gophercloud.IPv6,
		IPv6RAMode: "slaac", IPv6AddressMode: "slaac"})
	if s.IPVersion != 6 || s.CIDR != "2001:db8:1::/64" || !s.EnableDHCP {
		t.Errorf("subnet %+v", s)
	}
	if strp(s.IPv6RAMode) != "slaac" || strp(s.IPv6AddressMode) != "slaac" {
		t.Errorf("modes %s %s", strp(s.IPv6RAMode), strp(s.IPv6AddressMode))
	}
	if strp(s.GatewayIP) != "2001:db8:1::" {
		t.Errorf("gateway %s, want 2001:db8:1::", strp(s.GatewayIP))
	}
	if !slices.Equal(s.AllocationPools, pools("2001:db8:1::1", "2001:db8:1:0:ffff:ffff:ffff:ffff")) {
		t.Errorf("pools %v", s.AllocationPools)
	}
	// Without modes, a normalised cidr and an explicit gateway.
	s2 := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "2001:DB8:2::5/64", IPVersion: gophercloud.IPv6, GatewayIP: ptr("2001:db8:2::1")})
	if s2.CIDR != "2001:db8:2::/64" || strp(s2.GatewayIP) != "2001:db8:2::1" || s2.IPv6RAMode != nil || s2.IPv6AddressMode != nil {
		t.Errorf("subnet %+v gateway %s", s2, strp(s2.GatewayIP))
	}
	if !slices.Equal(s2.AllocationPools, pools("2001:db8:2::2", "2001:db8:2:0:ffff:ffff:ffff:ffff")) {
		t.Errorf("pools %v", s2.AllocationPools)
	}

	for _, body := range []subnetBody{
		// SLAAC needs a /64.
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:3::/80", "ipv6_address_mode": "slaac"},
		// Both modes set must agree.
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:3::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"},
		// Unknown mode.
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:3::/64", "ipv6_address_mode": "magic"},
		// IPv6 modes on IPv4.
		{"network_id": n.ID, "ip_version": 4, "cidr": "10.6.0.0/24", "ipv6_ra_mode": "slaac"},
		// An IPv4 nameserver on IPv6.
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:3::/64", "dns_nameservers": []string{"8.8.8.8"}},
	} {
		expectGCError(t, createSubnetErr(t, p, body), http.StatusBadRequest, "")
	}
}

// TestSubnetDNSAndHostRoutes: dns_nameservers and host_routes are stored,
// and validated (neutron_lib/api/validators: validate_nameservers,
// validate_hostroutes; db_base_plugin_v2.py _validate_subnet: at most
// max_dns_nameservers=5, version match).
func TestSubnetDNSAndHostRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n")

	s := createSubnet(t, p, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.2.0.0/24", IPVersion: gophercloud.IPv4,
		DNSNameservers: []string{"8.8.8.8", "1.1.1.1"},
		HostRoutes:     []subnets.HostRoute{{DestinationCIDR: "192.168.0.0/16", NextHop: "10.2.0.254"}}})
	if !slices.Equal(s.DNSNameservers, []string{"8.8.8.8", "1.1.1.1"}) {
		t.Errorf("dns_nameservers %v", s.DNSNameservers)
	}
	if !slices.Equal(s.HostRoutes, []subnets.HostRoute{{DestinationCIDR: "192.168.0.0/16", NextHop: "10.2.0.254"}}) {
		t.Errorf("host_routes %v", s.HostRoutes)
	}

	base := func(extra map[string]any) subnetBody {
		b := subnetBody{"network_id": n.ID, "ip_version": 4, "cidr": "10.2.1.0/24"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for name, tc := range map[string]struct {
		extra map[string]any
		typ   string
	}{
		"bad nameserver":       {map[string]any{"dns_nameservers": []string{"not-an-ip"}}, ""},
		"duplicate nameserver": {map[string]any{"dns_nameservers": []string{"8.8.8.8", "8.8.8.8"}}, ""},
		"too many nameservers": {map[string]any{"dns_nameservers": []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}}, "DNSNameServersExhausted"},
		"v6 nameserver on v4":  {map[string]any{"dns_nameservers": []string{"2001:db8::53"}}, "InvalidInput"},
		"route host bits":      {map[string]any{"host_routes": []map[string]string{{"destination": "192.168.1.1/16", "nexthop": "10.2.1.1"}}}, ""},
		"route bad nexthop":    {map[string]any{"host_routes": []map[string]string{{"destination": "192.168.0.0/16", "nexthop": "nowhere"}}}, ""},
		"route bad dest":       {map[string]any{"host_routes": []map[string]string{{"destination": "nowhere", "nexthop": "10.2.1.1"}}}, ""},
		"route v6 on v4":       {map[string]any{"host_routes": []map[string]string{{"destination": "2001:db8::/64", "nexthop": "2001:db8::1"}}}, "InvalidInput"},
		"duplicate route": {map[string]any{"host_routes": []map[string]string{
			{"destination": "192.168.0.0/16", "nexthop": "10.2.1.1"}, {"destination": "192.168.0.0/16", "nexthop": "10.2.1.1"}}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			expectGCError(t, createSubnetErr(t, p, base(tc.extra)), http.StatusBadRequest, tc.typ)
		})
	}
	if got := listSubnets(t, p, nil); len(got) != 1 {
		t.Errorf("%d subnets, want 1", len(got))
	}
}

// TestSubnetOverlap: a network's subnets may not overlap (400 InvalidInput,
// db_base_plugin_v2.py _validate_subnet_cidr). In spinel the subnets of
// all routed networks share one address space, so they may not overlap
// across routed networks either; overlay (geneve) networks are separate
// address spaces.
func TestSubnetOverlap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n1 := createNamed(t, p, "r1")
	n2 := createNamed(t, p, "r2")
	v4Subnet(t, p, n1.ID, "10.3.0.0/24")

	ne := expectGCError(t, createSubnetErr(t, p, subnets.CreateOpts{NetworkID: n1.ID, CIDR: "10.3.0.128/25", IPVersion: gophercloud.IPv4}),
		http.StatusBadRequest, "InvalidInput")
	if want := "Invalid input for operation: Requested subnet with cidr: 10.3.0.128/25 for network: " + n1.ID + " overlaps with another subnet."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	expectGCError(t, createSubnetErr(t, p, subnets.CreateOpts{NetworkID: n1.ID, CIDR: "10.3.0.0/16", IPVersion: gophercloud.IPv4}),
		http.StatusBadRequest, "InvalidInput")
	// Another routed network, even of another project.
	expectGCError(t, createSubnetErr(t, p, subnets.CreateOpts{NetworkID: n2.ID, CIDR: "10.3.0.0/24", IPVersion: gophercloud.IPv4}),
		http.StatusBadRequest, "InvalidInput")
	q := e.project("projQ")
	nq := createNamed(t, q, "rq")
	expectGCError(t, createSubnetErr(t, q, subnets.CreateOpts{NetworkID: nq.ID, CIDR: "10.3.0.64/26", IPVersion: gophercloud.IPv4}),
		http.StatusBadRequest, "InvalidInput")
	// Adjacent ranges are fine.
	v4Subnet(t, p, n1.ID, "10.3.1.0/24")
	v4Subnet(t, p, n2.ID, "10.3.2.0/24")

	// Two geneve networks may use the same range, also one a routed
	// network uses.
	g1 := mustProvider(t, e.admin, "g1", "geneve", "", nil)
	g2 := mustProvider(t, e.admin, "g2", "geneve", "", nil)
	a := v4Subnet(t, e.admin, g1.ID, "10.3.0.0/24")
	b := v4Subnet(t, e.admin, g2.ID, "10.3.0.0/24")
	if a.CIDR != b.CIDR || a.ID == b.ID {
		t.Errorf("geneve subnets %+v %+v", a, b)
	}
	// But not within one geneve network.
	expectGCError(t, createSubnetErr(t, e.admin, subnets.CreateOpts{NetworkID: g1.ID, CIDR: "10.3.0.0/25", IPVersion: gophercloud.IPv4}),
		http.StatusBadRequest, "InvalidInput")
	// IPv4 and IPv6 never overlap.
	createSubnet(t, p, subnets.CreateOpts{NetworkID: n1.ID, CIDR: "2001:db8:3::/64", IPVersion: gophercloud.IPv6})
}

// TestSubnetUpdate: name, gateway, pools and nameservers change; the
// gateway is checked against the pools whenever either changes
// (db_base_plugin_v2.py update_subnet -> validate_gw_out_of_pools).
func TestSubnetUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n")
	s := v4Subnet(t, p, n.ID, "10.4.0.0/24")
	upd := func(body subnetUpdate) (subnetView, error) {
		r := subnets.Update(ctx(t), p, s.ID, attrsUpdate{Key: "subnet", Attrs: body})
		if r.Err != nil {
			return subnetView{}, r.Err
		}
		return decodeAs[subnetView](t, r.Err, r, "subnet", "updating subnet"), nil
	}
	mustUpd := func(body subnetUpdate) subnetView {
		t.Helper()
		u, err := upd(body)
		if err != nil {
			t.Fatalf("update %v: %v", body, err)
		}
		return u
	}

	u := mustUpd(subnetUpdate{"name": "renamed", "description": "d"})
	if u.Name != "renamed" || u.Description != "d" || u.RevisionNumber <= s.RevisionNumber {
		t.Errorf("after rename %+v", u)
	}
	// The new gateway lies in the current pool.
	_, err := upd(subnetUpdate{"gateway_ip": "10.4.0.100"})
	expectGCError(t, err, http.StatusConflict, "GatewayConflictWithAllocationPools")
	// New pools, then the gateway may move outside them.
	u = mustUpd(subnetUpdate{"allocation_pools": []map[string]string{{"start": "10.4.0.10", "end": "10.4.0.20"}}})
	if !slices.Equal(u.AllocationPools, pools("10.4.0.10", "10.4.0.20")) || strp(u.GatewayIP) != "10.4.0.1" {
		t.Errorf("after pools: %v %s", u.AllocationPools, strp(u.GatewayIP))
	}
	u = mustUpd(subnetUpdate{"gateway_ip": "10.4.0.254"})
	if strp(u.GatewayIP) != "10.4.0.254" || !slices.Equal(u.AllocationPools, pools("10.4.0.10", "10.4.0.20")) {
		t.Errorf("after gateway: %v %s", u.AllocationPools, strp(u.GatewayIP))
	}
	// Pools and gateway validated together.
	_, err = upd(subnetUpdate{"allocation_pools": []map[string]string{{"start": "10.4.0.200", "end": "10.4.0.254"}}})
	expectGCError(t, err, http.StatusConflict, "GatewayConflictWithAllocationPools")
	_, err = upd(subnetUpdate{"allocation_pools": []map[string]string{{"start": "10.4.1.1", "end": "10.4.1.9"}}})
	expectGCError(t, err, http.StatusBadRequest, "OutOfBoundsAllocationPool")
	_, err = upd(subnetUpdate{"gateway_ip": "10.4.0.255"})
	expectGCError(t, err, http.StatusBadRequest, "")
	u = mustUpd(subnetUpdate{"gateway_ip": "10.4.0.15", "allocation_pools": []map[string]string{{"start": "10.4.0.30", "end": "10.4.0.40"}}})
	if strp(u.GatewayIP) != "10.4.0.15" || !slices.Equal(u.AllocationPools, pools("10.4.0.30", "10.4.0.40")) {
		t.Errorf("after both: %v %s", u.AllocationPools, strp(u.GatewayIP))
	}
	// No gateway.
	r := subnets.Update(ctx(t), p, s.ID, subnets.UpdateOpts{GatewayIP: ptr("")})
	u = decodeAs[subnetView](t, r.Err, r, "subnet", "removing gateway")
	if u.GatewayIP != nil {
		t.Errorf("gateway %s after setting null", strp(u.GatewayIP))
	}
	// Nameservers and host routes.
	u = mustUpd(subnetUpdate{"dns_nameservers": []string{"9.9.9.9"}, "host_routes": []map[string]string{{"destination": "10.9.0.0/16", "nexthop": "10.4.0.5"}}})
	if !slices.Equal(u.DNSNameservers, []string{"9.9.9.9"}) || len(u.HostRoutes) != 1 {
		t.Errorf("dns %v routes %v", u.DNSNameservers, u.HostRoutes)
	}
	_, err = upd(subnetUpdate{"dns_nameservers": []string{"nope"}})
	expectGCError(t, err, http.StatusBadRequest, "")
	u = mustUpd(subnetUpdate{"dns_nameservers": []string{}})
	if len(u.DNSNameservers) != 0 {
		t.Errorf("dns after clearing %v", u.DNSNameservers)
	}
	// Read-only attributes.
	for _, body := range []subnetUpdate{{"cidr": "10.4.0.0/23"}, {"ip_version": 6}, {"network_id": n.ID}} {
		_, err = upd(body)
		expectGCError(t, err, http.StatusBadRequest, "")
	}
	got := getSubnet(t, p, s.ID)
	if got.Name != "renamed" || got.CIDR != "10.4.0.0/24" || got.GatewayIP != nil || !slices.Equal(got.DNSNameservers, []string{}) {
		t.Errorf("final subnet %+v", got)
	}
}

// TestSubnetDelete: 409 SubnetInUse while a port holds an address on it
// (db_base_plugin_v2.py delete_subnet -> _subnet_check_ip_allocations),
// 204 once the port is gone, then 404 SubnetNotFound.
func TestSubnetDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n")
	s := v4Subnet(t, p, n.ID, "10.5.0.0/24")
	port := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})

	ne := expectGCError(t, subnets.Delete(ctx(t), p, s.ID).ExtractErr(), http.StatusConflict, "SubnetInUse")
	if want := "Unable to complete operation on subnet " + s.ID + ": One or more ports have an IP allocation from this subnet."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	getSubnet(t, p, s.ID)
	if err := ports.Delete(ctx(t), p, port.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := subnets.Delete(ctx(t), p, s.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting unused subnet: %v", err)
	}
	e.do("GET", "/v2.0/subnets/"+s.ID, nil, projectHeaders("projP")).expectError(t, http.StatusNotFound, "SubnetNotFound")
	expectGCError(t, subnets.Delete(ctx(t), p, s.ID).ExtractErr(), http.StatusNotFound, "SubnetNotFound")
	if got := getNet(t, p, n.ID); len(got.Subnets) != 0 {
		t.Errorf("network still lists %v", got.Subnets)
	}
	// The range is free again.
	v4Subnet(t, p, n.ID, "10.5.0.0/24")
}

// TestSubnetListFilters: network_id, ip_version and cidr filters.
func TestSubnetListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n1 := createNamed(t, p, "n1")
	n2 := createNamed(t, p, "n2")
	a := v4Subnet(t, p, n1.ID, "10.6.0.0/24")
	b := createSubnet(t, p, subnets.CreateOpts{NetworkID: n1.ID, CIDR: "2001:db8:6::/64", IPVersion: gophercloud.IPv6, Name: "six"})
	c := v4Subnet(t, p, n2.ID, "10.6.1.0/24")

	check := func(name string, opts subnets.ListOptsBuilder, want ...string) {
		t.Helper()
		if got := subnetIDs(listSubnets(t, p, opts)); !sameSet(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("all", nil, a.ID, b.ID, c.ID)
	check("network_id", subnets.ListOpts{NetworkID: n1.ID}, a.ID, b.ID)
	check("ip_version 6", subnets.ListOpts{IPVersion: 6}, b.ID)
	check("ip_version 4", subnets.ListOpts{IPVersion: 4}, a.ID, c.ID)
	check("cidr", subnets.ListOpts{CIDR: "10.6.1.0/24"}, c.ID)
	check("network and version", subnets.ListOpts{NetworkID: n1.ID, IPVersion: 4}, a.ID)
	check("name", subnets.ListOpts{Name: "six"}, b.ID)
	check("gateway_ip", subnets.ListOpts{GatewayIP: "10.6.0.1"}, a.ID)
	check("two network_ids", query{"network_id": {n1.ID, n2.ID}, "ip_version": {"4"}}, a.ID, c.ID)
	check("no match", subnets.ListOpts{CIDR: "10.99.0.0/24"})
}

// TestSubnetProjectIsolation: another project neither sees nor changes a
// subnet on a private network (404), sees subnets of shared networks
// (get_subnet allows 'rule:shared') but may not change them (403).
func TestSubnetProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.project("projA"), e.project("projB")
	hB := projectHeaders("projB")
	private := createNamed(t, a, "private")
	sp := v4Subnet(t, a, private.ID, "10.7.0.0/24")
	shared := createNet(t, e.admin, networks.CreateOpts{Name: "shared", ProjectID: "projA", Shared: ptr(true)})
	ss := v4Subnet(t, a, shared.ID, "10.7.1.0/24")
	own := createNamed(t, b, "own")
	so := v4Subnet(t, b, own.ID, "10.7.2.0/24")

	if got := subnetIDs(listSubnets(t, b, nil)); !sameSet(got, []string{ss.ID, so.ID}) {
		t.Errorf("B lists %v, want shared and own", got)
	}
	if got := subnetIDs(listSubnets(t, a, nil)); !sameSet(got, []string{sp.ID, ss.ID}) {
		t.Errorf("A lists %v", got)
	}
	e.do("GET", "/v2.0/subnets/"+sp.ID, nil, hB).expectError(t, http.StatusNotFound, "SubnetNotFound")
	e.do("PUT", "/v2.0/subnets/"+sp.ID, map[string]any{"subnet": map[string]any{"name": "x"}}, hB).expectError(t, http.StatusNotFound, "SubnetNotFound")
	e.do("DELETE", "/v2.0/subnets/"+sp.ID, nil, hB).expectError(t, http.StatusNotFound, "SubnetNotFound")
	if got := getSubnet(t, b, ss.ID); got.ProjectID != "projA" || got.CIDR != "10.7.1.0/24" {
		t.Errorf("B shows shared subnet %+v", got)
	}
	e.do("PUT", "/v2.0/subnets/"+ss.ID, map[string]any{"subnet": map[string]any{"name": "x"}}, hB).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("DELETE", "/v2.0/subnets/"+ss.ID, nil, hB).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	// B cannot create a subnet on A's private network: it does not exist
	// for B (pecan_wsgi/hooks/ownership_validation.py get_network).
	expectGCError(t, createSubnetErr(t, b, subnets.CreateOpts{NetworkID: private.ID, CIDR: "10.7.3.0/24", IPVersion: gophercloud.IPv4}),
		http.StatusNotFound, "NetworkNotFound")
	// The admin sees everything.
	if got := listSubnets(t, e.admin, nil); len(got) != 3 {
		t.Errorf("admin lists %d subnets", len(got))
	}
	if got := getSubnet(t, e.admin, sp.ID); got.ID != sp.ID {
		t.Errorf("admin show %+v", got)
	}
}

// TestSubnetOnOthersSharedNetwork_Neutron: in Neutron 21 a member of
// project B may create a subnet (owned by B) on project A's shared
// network. The OwnershipValidationHook skips shared networks, and the
// create_subnet policy admits a member creating in its own project
// whether or not it owns the network.
//
// Neutron: neutron/pecan_wsgi/hooks/ownership_validation.py:44-46 ("do not
// perform the check on shared networks"); neutron/conf/policies/subnet.py:
// 40-54 (create_subnet: ADMIN or PROJECT_MEMBER or RULE_NET_OWNER, where
// PROJECT_MEMBER is 'role:member and project_id:%(project_id)s',
// neutron/conf/policies/base.py:44, and project_id is the new subnet's,
// i.e. B's). With enforce_new_defaults off the deprecated
// admin_or_network_owner rule is only OR-ed in, so the result is the same.
// spinel answers 403 PolicyNotAuthorized. (Later Neutron releases may
// have tightened this policy; this pins Neutron 21.)
func TestSubnetOnOthersSharedNetwork_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.project("projB")
	shared := createNet(t, e.admin, networks.CreateOpts{Name: "shared", ProjectID: "projA", Shared: ptr(true)})
	r := subnets.Create(ctx(t), b, subnets.CreateOpts{NetworkID: shared.ID, CIDR: "10.8.0.0/24", IPVersion: gophercloud.IPv4})
	s := decodeAs[subnetView](t, r.Err, r, "subnet", "B creates a subnet on A's shared network")
	if s.ProjectID != "projB" || s.NetworkID != shared.ID {
		t.Errorf("subnet %+v", s)
	}
}

// TestSubnetIPv6ModesWithoutDHCP_Neutron: ipv6_ra_mode or
// ipv6_address_mode with enable_dhcp false is 400 InvalidInput ("ipv6_ra_mode
// or ipv6_address_mode cannot be set when enable_dhcp is set to False");
// spinel creates the subnet.
//
// Neutron: neutron/db/db_base_plugin_v2.py:314-322 and 350-354
// (_validate_ipv6_attributes -> _validate_ipv6_dhcp, run from
// _validate_subnet on create, :693-694).
func TestSubnetIPv6ModesWithoutDHCP_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n := createNamed(t, p, "n6")
	for _, body := range []subnetBody{
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:9::/64", "ipv6_address_mode": "slaac", "enable_dhcp": false},
		{"network_id": n.ID, "ip_version": 6, "cidr": "2001:db8:9::/64", "ipv6_ra_mode": "slaac", "enable_dhcp": false},
	} {
		expectGCError(t, createSubnetErr(t, p, body), http.StatusBadRequest, "InvalidInput")
	}
}
