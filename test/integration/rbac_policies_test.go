package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/rbacpolicies"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// Tests of RBAC policies for networks (/v2.0/rbac-policies). Neutron:
// neutron/db/rbac_db_mixin.py (CRUD), neutron/db/db_base_plugin_v2.py
// (access_as_shared: owner checks, ports in use, shared=true as the
// wildcard entry), neutron/db/external_net_db.py (access_as_external),
// neutron/extensions/rbac.py (errors), neutron/conf/policies/rbac.py.

func createRBAC(t *testing.T, c *gophercloud.ServiceClient, action rbacpolicies.PolicyAction, netID, target string) *rbacpolicies.RBACPolicy {
	t.Helper()
	p, err := rbacpolicies.Create(ctx(t), c, rbacpolicies.CreateOpts{Action: action, ObjectType: "network", ObjectID: netID, TargetTenant: target}).Extract()
	if err != nil {
		t.Fatalf("creating rbac policy %s %s for %s: %v", action, netID, target, err)
	}
	return p
}

func listRBAC(t *testing.T, c *gophercloud.ServiceClient, opts rbacpolicies.ListOpts) []rbacpolicies.RBACPolicy {
	t.Helper()
	pages, err := rbacpolicies.List(c, opts).AllPages(ctx(t))
	if err != nil {
		t.Fatalf("listing rbac policies: %v", err)
	}
	out, err := rbacpolicies.ExtractRBACPolicies(pages)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRBACShareWithProject: a project shares its network with one other
// project: that project sees it (shared=true in its view), may attach
// ports to it and lists its subnet; a third project sees nothing. The
// entry may not be removed, nor moved to another project, while the
// target has ports there (409 RbacPolicyInUse).
func TestRBACShareWithProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, c := e.project("projA"), e.project("projB"), e.project("projC")
	hB, hC := projectHeaders("projB"), projectHeaders("projC")
	n, s := netWithSubnet(t, a, "a-net", "10.70.0.0/24")

	p := createRBAC(t, a, rbacpolicies.ActionAccessShared, n.ID, "projB")
	if p.ProjectID != "projA" || p.TenantID != "projA" || p.ObjectType != "network" || p.ObjectID != n.ID || p.TargetTenant != "projB" || p.Action != rbacpolicies.ActionAccessShared {
		t.Fatalf("created policy %+v", p)
	}
	raw := e.do("GET", "/v2.0/rbac-policies/"+p.ID, nil, projectHeaders("projA")).expect(t, http.StatusOK).object(t)["rbac_policy"].(map[string]any)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	if want := []string{"action", "id", "object_id", "object_type", "project_id", "target_tenant", "tenant_id"}; !slices.Equal(sorted(keys), want) {
		t.Errorf("policy attributes %v, want %v", sorted(keys), want)
	}

	// B sees the network, shared in its view; A, its owner, does not see
	// it as shared (it is not shared with everyone); C sees nothing.
	if got := getNet(t, b, n.ID); !got.Shared || got.ProjectID != "projA" {
		t.Errorf("B's view %+v", got)
	}
	if got := ids(listNets(t, b, networks.ListOpts{Shared: ptr(true)})); !slices.Equal(got, []string{n.ID}) {
		t.Errorf("B lists shared=true: %v", got)
	}
	if got := getNet(t, a, n.ID); got.Shared {
		t.Errorf("A's view %+v", got)
	}
	if got := getNet(t, e.admin, n.ID); got.Shared {
		t.Errorf("admin's view %+v", got)
	}
	e.do("GET", "/v2.0/networks/"+n.ID, nil, hC).expectError(t, http.StatusNotFound, "NetworkNotFound")
	if got := listNets(t, c, nil); len(got) != 0 {
		t.Errorf("C lists %v", ids(got))
	}
	if got := subnetIDs(listSubnets(t, b, nil)); !slices.Equal(got, []string{s.ID}) {
		t.Errorf("B lists subnets %v", got)
	}
	e.do("GET", "/v2.0/subnets/"+s.ID, nil, hC).expectError(t, http.StatusNotFound, "SubnetNotFound")

	// B may attach a port (and pick its subnet, rule:shared); C may not.
	pb := createPort(t, b, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "")}})
	if pb.ProjectID != "projB" || len(pb.FixedIPs) != 1 {
		t.Errorf("B's port %+v", pb)
	}
	expectGCError(t, createPortErr(t, c, ports.CreateOpts{NetworkID: n.ID}), http.StatusNotFound, "NetworkNotFound")
	// B may add a subnet of its own to the network, C may not.
	bs := createSubnet(t, b, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.70.1.0/24", IPVersion: gophercloud.IPv4})
	if bs.ProjectID != "projB" || bs.NetworkID != n.ID {
		t.Errorf("B's subnet %+v", bs)
	}
	if err := subnets.Delete(ctx(t), b, bs.ID).ExtractErr(); err != nil {
		t.Fatalf("B deletes its subnet: %v", err)
	}
	expectGCError(t, createSubnetErr(t, c, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.70.2.0/24", IPVersion: gophercloud.IPv4}), http.StatusNotFound, "NetworkNotFound")
	// Choosing an address is for the network's owner.
	expectGCError(t, createPortErr(t, b, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []map[string]string{fixed(s.ID, "10.70.0.77")}}),
		http.StatusForbidden, "PolicyNotAuthorized")
	// B may not change A's network.
	_, err := networks.Update(ctx(t), b, n.ID, networks.UpdateOpts{Name: ptr("mine")}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")

	// Entries are visible to their project (and admins) only.
	if got := listRBAC(t, a, rbacpolicies.ListOpts{}); len(got) != 1 || got[0].ID != p.ID {
		t.Errorf("A lists %+v", got)
	}
	if got := listRBAC(t, b, rbacpolicies.ListOpts{}); len(got) != 0 {
		t.Errorf("B lists %+v", got)
	}
	if got := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: n.ID}); len(got) != 1 {
		t.Errorf("admin lists %+v", got)
	}
	e.do("GET", "/v2.0/rbac-policies/"+p.ID, nil, hB).expectError(t, http.StatusNotFound, "RbacPolicyNotFound")
	e.do("DELETE", "/v2.0/rbac-policies/"+p.ID, nil, hB).expectError(t, http.StatusNotFound, "RbacPolicyNotFound")

	// Only the owner (or an admin) shares a network; B sees it but does
	// not own it, C does not see it.
	_, err = rbacpolicies.Create(ctx(t), b, rbacpolicies.CreateOpts{Action: rbacpolicies.ActionAccessShared, ObjectType: "network", ObjectID: n.ID, TargetTenant: "projC"}).Extract()
	ne := expectGCError(t, err, http.StatusBadRequest, "InvalidInput")
	if !strings.Contains(ne.Message, "Only admins can manipulate policies on networks they do not own") {
		t.Errorf("message %q", ne.Message)
	}
	_, err = rbacpolicies.Create(ctx(t), c, rbacpolicies.CreateOpts{Action: rbacpolicies.ActionAccessShared, ObjectType: "network", ObjectID: n.ID, TargetTenant: "projC"}).Extract()
	ne = expectGCError(t, err, http.StatusBadRequest, "InvalidInput")
	if !strings.Contains(ne.Message, "could not be found") {
		t.Errorf("message %q", ne.Message)
	}
	// The same entry twice is a conflict.
	_, err = rbacpolicies.Create(ctx(t), a, rbacpolicies.CreateOpts{Action: rbacpolicies.ActionAccessShared, ObjectType: "network", ObjectID: n.ID, TargetTenant: "projB"}).Extract()
	expectGCError(t, err, http.StatusConflict, "DuplicateRbacPolicy")

	// In use: B has a port on the network.
	ne = expectGCError(t, rbacpolicies.Delete(ctx(t), a, p.ID).ExtractErr(), http.StatusConflict, "RbacPolicyInUse")
	if want := "RBAC policy on object " + n.ID + " cannot be removed because other objects depend on it.\nDetails: Unable to reconfigure sharing settings for network " + n.ID + ". Multiple tenants are using it."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
	_, err = rbacpolicies.Update(ctx(t), a, p.ID, rbacpolicies.UpdateOpts{TargetTenant: "projC"}).Extract()
	expectGCError(t, err, http.StatusConflict, "RbacPolicyInUse")
	if got := getNet(t, b, n.ID); got.ID != n.ID {
		t.Fatalf("B lost the network after refused changes")
	}

	// Without B's port the entry moves to C, then goes.
	if err := ports.Delete(ctx(t), b, pb.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	up, err := rbacpolicies.Update(ctx(t), a, p.ID, rbacpolicies.UpdateOpts{TargetTenant: "projC"}).Extract()
	if err != nil || up.TargetTenant != "projC" {
		t.Fatalf("moving the entry: %+v %v", up, err)
	}
	e.do("GET", "/v2.0/networks/"+n.ID, nil, hB).expectError(t, http.StatusNotFound, "NetworkNotFound")
	if got := getNet(t, c, n.ID); !got.Shared {
		t.Errorf("C's view %+v", got)
	}
	// The old target is free for a new entry.
	p2 := createRBAC(t, a, rbacpolicies.ActionAccessShared, n.ID, "projB")
	if err := rbacpolicies.Delete(ctx(t), a, up.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting: %v", err)
	}
	e.do("GET", "/v2.0/networks/"+n.ID, nil, hC).expectError(t, http.StatusNotFound, "NetworkNotFound")
	getNet(t, b, n.ID)

	// Each change to an entry is a change to its network's revision.
	before := getNet(t, a, n.ID).RevisionNumber
	if err := rbacpolicies.Delete(ctx(t), a, p2.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if after := getNet(t, a, n.ID).RevisionNumber; after <= before {
		t.Errorf("revision %d -> %d", before, after)
	}
	// Deleting the network deletes its entries.
	createRBAC(t, a, rbacpolicies.ActionAccessShared, n.ID, "projB")
	if err := networks.Delete(ctx(t), a, n.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting the network: %v", err)
	}
	if got := listRBAC(t, e.admin, rbacpolicies.ListOpts{}); len(got) != 0 {
		t.Errorf("entries outlive their network: %+v", got)
	}
}

// TestRBACValidation: the body is validated as Neutron does; only admins
// share with every project.
func TestRBACValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.project("projA")
	hA := projectHeaders("projA")
	n := createNamed(t, a, "n")
	post := func(body map[string]any) *response {
		return e.do("POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": body}, hA)
	}
	base := func(kv ...any) map[string]any {
		m := map[string]any{"object_type": "network", "object_id": n.ID, "action": "access_as_shared", "target_tenant": "projB"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	ne := post(base("action", "access_as_everything")).expectError(t, http.StatusBadRequest, "InvalidActionForType")
	if want := "Invalid action 'access_as_everything' for object type 'network'. Valid actions: ('access_as_shared', 'access_as_external')"; ne.Message != want {
		t.Errorf("message %q", ne.Message)
	}
	ne = post(base("object_type", "qos_policy")).expectError(t, http.StatusBadRequest, "InvalidInput")
	if !strings.Contains(ne.Message, "'qos_policy' is not a valid RBAC object type") {
		t.Errorf("message %q", ne.Message)
	}
	post(base("object_id", "not-a-uuid")).expectError(t, http.StatusBadRequest, "")
	post(base("target_tenant", nil)).expectError(t, http.StatusBadRequest, "")
	post(base("colour", "blue")).expectError(t, http.StatusBadRequest, "")
	post(base("project_id", "projZ")).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	// Object types are case-insensitive.
	if got := post(base("object_type", " Network ")).expect(t, http.StatusCreated).object(t)["rbac_policy"].(map[string]any); got["object_type"] != "network" {
		t.Errorf("object_type %v", got["object_type"])
	}
	// Only admins use the wildcard.
	post(base("target_tenant", "*")).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	// Only target_tenant may change.
	var list struct {
		Policies []map[string]any `json:"rbac_policies"`
	}
	e.do("GET", "/v2.0/rbac-policies", nil, hA).expect(t, http.StatusOK).into(t, &list)
	if len(list.Policies) != 1 {
		t.Fatalf("policies %v", list.Policies)
	}
	id := list.Policies[0]["id"].(string)
	e.do("PUT", "/v2.0/rbac-policies/"+id, map[string]any{"rbac_policy": map[string]any{"action": "access_as_external"}}, hA).expectError(t, http.StatusBadRequest, "")
	e.do("PUT", "/v2.0/rbac-policies/"+id, map[string]any{"rbac_policy": map[string]any{"target_tenant": "*"}}, hA).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("GET", "/v2.0/rbac-policies/00000000-0000-0000-0000-000000000000", nil, hA).expectError(t, http.StatusNotFound, "RbacPolicyNotFound")
	// The extension is listed.
	e.do("GET", "/v2.0/extensions/rbac-policies", nil, hA).expect(t, http.StatusOK)
}

// TestRBACSharedAttribute: shared=true on a network is the wildcard
// access_as_shared entry: creating or updating the network creates or
// deletes it, and creating or deleting it through the API changes the
// network's shared. Unsharing needs every project with ports or subnets
// there to keep access (409 InvalidSharedSetting).
func TestRBACSharedAttribute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.project("projB")
	n := createNet(t, e.admin, networks.CreateOpts{Name: "pub", ProjectID: "projA", Shared: ptr(true)})
	wild := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: n.ID})
	if len(wild) != 1 || wild[0].TargetTenant != "*" || wild[0].Action != rbacpolicies.ActionAccessShared || wild[0].ProjectID != "projA" {
		t.Fatalf("entries of a shared network: %+v", wild)
	}
	if got := listRBAC(t, e.project("projA"), rbacpolicies.ListOpts{}); len(got) != 1 {
		t.Errorf("the owner's entries: %+v", got)
	}
	// Unshared by the admin: the entry goes and others lose sight of it.
	if u, err := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract(); err != nil || u.Shared {
		t.Fatalf("unsharing: %+v %v", u, err)
	}
	if got := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: n.ID}); len(got) != 0 {
		t.Errorf("entries after unsharing: %+v", got)
	}
	e.do("GET", "/v2.0/networks/"+n.ID, nil, projectHeaders("projB")).expectError(t, http.StatusNotFound, "NetworkNotFound")
	// The wildcard entry made through the API shares it.
	w := createRBAC(t, e.admin, rbacpolicies.ActionAccessShared, n.ID, "*")
	if got := getNet(t, e.admin, n.ID); !got.Shared {
		t.Errorf("network after a wildcard entry: %+v", got)
	}
	createSubnet(t, e.admin, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.71.0.0/24", IPVersion: gophercloud.IPv4, ProjectID: "projA"})
	createPort(t, b, ports.CreateOpts{NetworkID: n.ID})
	// B's port depends on the wildcard.
	_, err := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract()
	ne := expectGCError(t, err, http.StatusConflict, "InvalidSharedSetting")
	if want := "Unable to reconfigure sharing settings for network pub. Multiple tenants are using it."; ne.Message != want {
		t.Errorf("message %q", ne.Message)
	}
	expectGCError(t, rbacpolicies.Delete(ctx(t), e.admin, w.ID).ExtractErr(), http.StatusConflict, "RbacPolicyInUse")
	// With an entry of its own, B keeps access and the wildcard may go.
	createRBAC(t, e.admin, rbacpolicies.ActionAccessShared, n.ID, "projB")
	if err := rbacpolicies.Delete(ctx(t), e.admin, w.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting the wildcard: %v", err)
	}
	if got := getNet(t, e.admin, n.ID); got.Shared {
		t.Errorf("network after deleting the wildcard: %+v", got)
	}
	if got := getNet(t, b, n.ID); !got.Shared {
		t.Errorf("B's view after deleting the wildcard: %+v", got)
	}
	if _, err := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Shared: ptr(true)}).Extract(); err != nil {
		t.Fatal(err)
	}
	if u, err := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract(); err != nil || u.Shared {
		t.Fatalf("unsharing with B's entry: %+v %v", u, err)
	}
}

// TestRBACExternal: access_as_external lets one project (not another)
// see a network and use it as an external network: a router gateway and
// floating IPs. An admin's entry on a network that is not external makes
// it external; the entry may not go while the project's router uses it.
func TestRBACExternal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x, y := e.project("projX"), e.project("projY")
	ext := createNamed(t, e.admin, "provider")
	extSub := v4Subnet(t, e.admin, ext.ID, "203.0.113.0/24")
	if ext.RouterExternal {
		t.Fatal("network external from the start")
	}
	p := createRBAC(t, e.admin, rbacpolicies.ActionAccessExternal, ext.ID, "projX")
	if got := getNet(t, e.admin, ext.ID); !got.RouterExternal {
		t.Fatalf("network not external after access_as_external: %+v", got)
	}
	// No wildcard entry was added: the network is X's to use only.
	if got := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: ext.ID}); len(got) != 1 {
		t.Errorf("entries %+v", got)
	}
	if got := getNet(t, x, ext.ID); !got.RouterExternal || got.Shared {
		t.Errorf("X's view %+v", got)
	}
	e.do("GET", "/v2.0/networks/"+ext.ID, nil, projectHeaders("projY")).expectError(t, http.StatusNotFound, "NetworkNotFound")
	if got := ids(listNets(t, x, networks.ListOpts{})); !slices.Equal(got, []string{ext.ID}) {
		t.Errorf("X lists %v", got)
	}
	if got := listNets(t, x, external.ListOptsExt{ListOptsBuilder: networks.ListOpts{}, External: ptr(true)}); len(got) != 1 {
		t.Errorf("X lists router:external=true: %v", ids(got))
	}

	// X: a router with its gateway there, and a floating IP.
	n, s := netWithSubnet(t, x, "inside", "10.72.0.0/24")
	r, err := routers.Create(ctx(t), x, routers.CreateOpts{Name: "gw", GatewayInfo: &routers.GatewayInfo{NetworkID: ext.ID}}).Extract()
	if err != nil || r.GatewayInfo.NetworkID != ext.ID || len(r.GatewayInfo.ExternalFixedIPs) != 1 {
		t.Fatalf("X's router: %+v %v", r, err)
	}
	if _, err := routers.AddInterface(ctx(t), x, r.ID, routers.AddInterfaceOpts{SubnetID: s.ID}).Extract(); err != nil {
		t.Fatal(err)
	}
	vm := createPort(t, x, ports.CreateOpts{NetworkID: n.ID})
	fip, err := floatingips.Create(ctx(t), x, floatingips.CreateOpts{FloatingNetworkID: ext.ID, PortID: vm.ID}).Extract()
	if err != nil || fip.RouterID != r.ID || !strings.HasPrefix(fip.FloatingIP, "203.0.113.") {
		t.Fatalf("X's floating IP: %+v %v", fip, err)
	}
	// Y: neither.
	_, err = routers.Create(ctx(t), y, routers.CreateOpts{Name: "gw", GatewayInfo: &routers.GatewayInfo{NetworkID: ext.ID}}).Extract()
	expectGCError(t, err, http.StatusNotFound, "NetworkNotFound")
	_, err = floatingips.Create(ctx(t), y, floatingips.CreateOpts{FloatingNetworkID: ext.ID}).Extract()
	expectGCError(t, err, http.StatusNotFound, "NetworkNotFound")
	// Nor may X attach ports or subnets to it: external is not shared.
	ne := expectGCError(t, createPortErr(t, x, ports.CreateOpts{NetworkID: ext.ID}), http.StatusForbidden, "HTTPForbidden")
	if want := "Tenant projX not allowed to create port on this network"; ne.Message != want {
		t.Errorf("message %q", ne.Message)
	}
	expectGCError(t, createSubnetErr(t, x, subnets.CreateOpts{NetworkID: ext.ID, CIDR: "10.72.9.0/24", IPVersion: gophercloud.IPv4}), http.StatusForbidden, "HTTPForbidden")
	// The external subnet is not X's to see (subnets follow sharing).
	e.do("GET", "/v2.0/subnets/"+extSub.ID, nil, projectHeaders("projX")).expectError(t, http.StatusNotFound, "SubnetNotFound")

	// X's router depends on the entry.
	ne = expectGCError(t, rbacpolicies.Delete(ctx(t), e.admin, p.ID).ExtractErr(), http.StatusConflict, "RbacPolicyInUse")
	if !strings.Contains(ne.Message, "There are routers attached to this network that depend on this policy for access.") {
		t.Errorf("message %q", ne.Message)
	}
	_, err = rbacpolicies.Update(ctx(t), e.admin, p.ID, rbacpolicies.UpdateOpts{TargetTenant: "projY"}).Extract()
	expectGCError(t, err, http.StatusConflict, "RbacPolicyInUse")
	// A wildcard entry covers X too; then X's own may go.
	w := createRBAC(t, e.admin, rbacpolicies.ActionAccessExternal, ext.ID, "*")
	if err := rbacpolicies.Delete(ctx(t), e.admin, p.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting X's entry under a wildcard: %v", err)
	}
	getNet(t, y, ext.ID)
	// The wildcard is what X's router depends on now.
	expectGCError(t, rbacpolicies.Delete(ctx(t), e.admin, w.ID).ExtractErr(), http.StatusConflict, "RbacPolicyInUse")
	// Without the router's gateway and the floating IP, the last entry
	// goes and the network stops being external.
	if err := floatingips.Delete(ctx(t), x, fip.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := routers.Update(ctx(t), x, r.ID, routers.UpdateOpts{GatewayInfo: &routers.GatewayInfo{}}).Extract(); err != nil {
		t.Fatalf("clearing the gateway: %v", err)
	}
	if err := rbacpolicies.Delete(ctx(t), e.admin, w.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting the last entry: %v", err)
	}
	if got := getNet(t, e.admin, ext.ID); got.RouterExternal {
		t.Errorf("network still external: %+v", got)
	}
	e.do("GET", "/v2.0/networks/"+ext.ID, nil, projectHeaders("projX")).expectError(t, http.StatusNotFound, "NetworkNotFound")
}

// TestRBACRouterExternalAttribute: router:external=true is the wildcard
// access_as_external entry; router:external=false removes every
// access_as_external entry, and is refused while routers have their
// gateway on the network (409 ExternalNetworkInUse).
func TestRBACRouterExternalAttribute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ext := createNet(t, e.admin, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{Name: "pub"}, External: ptr(true)})
	v4Subnet(t, e.admin, ext.ID, "203.0.114.0/24")
	got := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: ext.ID})
	if len(got) != 1 || got[0].Action != rbacpolicies.ActionAccessExternal || got[0].TargetTenant != "*" {
		t.Fatalf("entries of an external network: %+v", got)
	}
	createRBAC(t, e.admin, rbacpolicies.ActionAccessExternal, ext.ID, "projX")
	r, err := routers.Create(ctx(t), e.project("projY"), routers.CreateOpts{Name: "gw", GatewayInfo: &routers.GatewayInfo{NetworkID: ext.ID}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	_, err = networks.Update(ctx(t), e.admin, ext.ID, external.UpdateOptsExt{UpdateOptsBuilder: networks.UpdateOpts{}, External: ptr(false)}).Extract()
	expectGCError(t, err, http.StatusConflict, "ExternalNetworkInUse")
	if err := routers.Delete(ctx(t), e.project("projY"), r.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := networks.Update(ctx(t), e.admin, ext.ID, external.UpdateOptsExt{UpdateOptsBuilder: networks.UpdateOpts{}, External: ptr(false)}).Extract(); err != nil {
		t.Fatal(err)
	}
	if got := listRBAC(t, e.admin, rbacpolicies.ListOpts{ObjectID: ext.ID}); len(got) != 0 {
		t.Errorf("entries after router:external=false: %+v", got)
	}
}
