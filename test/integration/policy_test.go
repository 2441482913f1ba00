package integration

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// TestIfMatch: If-Match: revision_number=N on PUT and DELETE is 412
// when the revision differs and succeeds when it matches
// (revision-if-match; neutron/services/revisions/revision_plugin.py:303-331).
func TestIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "rev")
	rev := n.RevisionNumber

	// gophercloud sends If-Match from UpdateOpts.RevisionNumber.
	r := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Name: ptr("stale"), RevisionNumber: ptr(rev + 5)})
	ne := expectGCError(t, r.Err, http.StatusPreconditionFailed, "RevisionNumberConstraintFailed")
	if !strings.Contains(ne.Message, strconv.Itoa(rev+5)) || !strings.Contains(ne.Message, strconv.Itoa(rev)) {
		t.Errorf("412 message %q does not name the expected and current revisions", ne.Message)
	}
	if got := getNet(t, e.admin, n.ID); got.Name != "rev" || got.RevisionNumber != rev {
		t.Fatalf("failed conditional update changed the network: %+v", got)
	}

	r = networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Name: ptr("fresh"), RevisionNumber: ptr(rev)})
	if r.Err != nil {
		t.Fatalf("update with matching revision: %v", r.Err)
	}
	u := extractNet(t, r)
	if u.Name != "fresh" || u.RevisionNumber <= rev {
		t.Fatalf("conditional update result: %+v", u)
	}

	// The old revision no longer matches.
	e.do("PUT", "/v2.0/networks/"+n.ID, map[string]any{"network": map[string]any{"name": "again"}},
		map[string]string{"If-Match": "revision_number=" + strconv.Itoa(rev)}).
		expectError(t, http.StatusPreconditionFailed, "RevisionNumberConstraintFailed")

	// DELETE: mismatch is 412 and the network stays; a match deletes.
	del := func(revision int) *response {
		return e.do("DELETE", "/v2.0/networks/"+n.ID, nil, map[string]string{"If-Match": "revision_number=" + strconv.Itoa(revision)})
	}
	del(rev).expectError(t, http.StatusPreconditionFailed, "RevisionNumberConstraintFailed")
	getNet(t, e.admin, n.ID)
	// Through gophercloud's request options as well.
	_, err := e.admin.Delete(ctx(t), e.admin.ServiceURL("networks", n.ID), &gophercloud.RequestOpts{
		MoreHeaders: map[string]string{"If-Match": "revision_number=" + strconv.Itoa(u.RevisionNumber+1)},
	})
	expectGCError(t, err, http.StatusPreconditionFailed, "RevisionNumberConstraintFailed")
	del(u.RevisionNumber).expect(t, http.StatusNoContent)
	e.adminDo("GET", "/v2.0/networks/"+n.ID, nil).expectError(t, http.StatusNotFound, "NetworkNotFound")
}

// TestProjectIsolation: a project neither lists nor shows, updates,
// deletes or tags another project's private network; Neutron answers 404
// NetworkNotFound, as if it did not exist: the PolicyHook first fetches
// the resource through the plugin's get_network, which raises
// NetworkNotFound for an invisible network (neutron/pecan_wsgi/hooks/
// policy_enforcement.py:42-66, 117-119).
func TestProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.project("projA"), e.project("projB")
	na := createNamed(t, a, "a-net")
	nb := createNamed(t, b, "b-net")
	if na.ProjectID != "projA" || na.TenantID != "projA" || nb.ProjectID != "projB" {
		t.Fatalf("owners: %s/%s %s", na.ProjectID, na.TenantID, nb.ProjectID)
	}

	if got := ids(listNets(t, a, nil)); !slices.Equal(got, []string{na.ID}) {
		t.Fatalf("A lists %v, want only %s", got, na.ID)
	}
	if got := ids(listNets(t, b, nil)); !slices.Equal(got, []string{nb.ID}) {
		t.Fatalf("B lists %v, want only %s", got, nb.ID)
	}
	// Filters do not reach other projects' networks either.
	if got := listNets(t, a, networks.ListOpts{ID: nb.ID}); len(got) != 0 {
		t.Fatalf("A lists B's network by id: %v", ids(got))
	}
	if got := listNets(t, a, networks.ListOpts{ProjectID: "projB"}); len(got) != 0 {
		t.Fatalf("A lists B's networks by project_id: %v", ids(got))
	}
	if got := listNets(t, e.admin, nil); !sameSet(ids(got), []string{na.ID, nb.ID}) {
		t.Fatalf("admin lists %v", ids(got))
	}

	hA := projectHeaders("projA")
	e.do("GET", "/v2.0/networks/"+nb.ID, nil, hA).expectError(t, http.StatusNotFound, "NetworkNotFound")
	e.do("PUT", "/v2.0/networks/"+nb.ID, map[string]any{"network": map[string]any{"name": "mine"}}, hA).
		expectError(t, http.StatusNotFound, "NetworkNotFound")
	e.do("DELETE", "/v2.0/networks/"+nb.ID, nil, hA).expectError(t, http.StatusNotFound, "NetworkNotFound")
	_, err := networks.Get(ctx(t), a, nb.ID).Extract()
	expectGCError(t, err, http.StatusNotFound, "NetworkNotFound")
	_, err = networks.Update(ctx(t), a, nb.ID, networks.UpdateOpts{Name: ptr("mine")}).Extract()
	expectGCError(t, err, http.StatusNotFound, "NetworkNotFound")
	expectGCError(t, networks.Delete(ctx(t), a, nb.ID).ExtractErr(), http.StatusNotFound, "NetworkNotFound")
	// Tags too.
	_, err = attributestags.List(ctx(t), a, "networks", nb.ID).Extract()
	expectGCError(t, err, http.StatusNotFound, "")
	expectGCError(t, attributestags.Add(ctx(t), a, "networks", nb.ID, "x").ExtractErr(), http.StatusNotFound, "")
	expectGCError(t, attributestags.DeleteAll(ctx(t), a, "networks", nb.ID).ExtractErr(), http.StatusNotFound, "")

	// B's network is untouched.
	if got := getNet(t, b, nb.ID); got.Name != "b-net" || got.RevisionNumber != nb.RevisionNumber {
		t.Fatalf("B's network after A's attempts: %+v", got)
	}

	// A member cannot create in another project's name (the status is
	// checked in TestNonAdminOtherProject_Neutron).
	if _, err = networks.Create(ctx(t), a, networks.CreateOpts{Name: "for b", ProjectID: "projB"}).Extract(); err == nil {
		t.Fatal("member created a network for another project")
	}
	if got := listNets(t, e.admin, networks.ListOpts{ProjectID: "projB"}); len(got) != 1 {
		t.Fatalf("projB has %d networks", len(got))
	}
	// Naming its own project is fine.
	if n := createNet(t, a, networks.CreateOpts{Name: "explicit", ProjectID: "projA"}); n.ProjectID != "projA" {
		t.Fatalf("explicit own project: %+v", n)
	}
}

// TestSharedNetworkPolicy: shared and external networks of project A are
// visible to project B, but B may not change or delete them: Neutron
// answers 403 PolicyNotAuthorized when the caller may see the resource
// but not act on it, 404 only if it may not even "get" it
// (neutron/pecan_wsgi/hooks/policy_enforcement.py:132-152; legacy
// controller: neutron/api/v2/base.py:583-599, 670-686).
func TestSharedNetworkPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.project("projB")
	shared := createNet(t, e.admin, networks.CreateOpts{Name: "shared", ProjectID: "projA", Shared: ptr(true)})
	ext := createNet(t, e.admin, external.CreateOptsExt{
		CreateOptsBuilder: networks.CreateOpts{Name: "ext", ProjectID: "projA"}, External: ptr(true)})
	private := createNet(t, e.admin, networks.CreateOpts{Name: "private", ProjectID: "projA"})
	own := createNamed(t, b, "own")

	if got := ids(listNets(t, b, nil)); !sameSet(got, []string{shared.ID, ext.ID, own.ID}) {
		t.Fatalf("B lists %v, want shared, external and own", got)
	}
	if got := listNets(t, b, networks.ListOpts{Shared: ptr(true)}); !slices.Equal(ids(got), []string{shared.ID}) {
		t.Fatalf("B lists shared=true: %v", ids(got))
	}
	if s := getNet(t, b, shared.ID); !s.Shared || s.ProjectID != "projA" {
		t.Fatalf("B shows shared network: %+v", s)
	}
	if s := getNet(t, b, ext.ID); !s.RouterExternal {
		t.Fatalf("B shows external network: %+v", s)
	}
	e.do("GET", "/v2.0/networks/"+private.ID, nil, projectHeaders("projB")).expectError(t, http.StatusNotFound, "NetworkNotFound")

	for _, n := range []netView{shared, ext} {
		_, err := networks.Update(ctx(t), b, n.ID, networks.UpdateOpts{Name: ptr("taken")}).Extract()
		expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
		expectGCError(t, networks.Delete(ctx(t), b, n.ID).ExtractErr(), http.StatusForbidden, "PolicyNotAuthorized")
		if got := getNet(t, e.admin, n.ID); got.Name != n.Name {
			t.Fatalf("%s changed by another project: %+v", n.Name, got)
		}
	}

	// The owner, a member, may rename its shared network but not unshare it:
	// update_network:shared is admin-only (neutron/conf/policies/network.py).
	a := e.project("projA")
	if _, err := networks.Update(ctx(t), a, shared.ID, networks.UpdateOpts{Name: ptr("renamed")}).Extract(); err != nil {
		t.Fatalf("owner renames shared network: %v", err)
	}
	_, err := networks.Update(ctx(t), a, shared.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	// The admin may.
	if u, err := networks.Update(ctx(t), e.admin, shared.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract(); err != nil || u.Shared {
		t.Fatalf("admin unshares: %+v %v", u, err)
	}
	// Now B no longer sees it at all: 404.
	e.do("GET", "/v2.0/networks/"+shared.ID, nil, projectHeaders("projB")).expectError(t, http.StatusNotFound, "NetworkNotFound")
	e.do("DELETE", "/v2.0/networks/"+shared.ID, nil, projectHeaders("projB")).expectError(t, http.StatusNotFound, "NetworkNotFound")
	// And the owner deletes it.
	if err := networks.Delete(ctx(t), a, shared.ID).ExtractErr(); err != nil {
		t.Fatalf("owner deletes: %v", err)
	}
}

// TestNonAdminAttributes: admin-only attributes (provider:*, shared,
// router:external) are 403 for members on create and update, and members
// do not see provider:* at all (neutron/conf/policies/network.py:
// create_network:shared, create_network:router:external,
// create_network:provider:*, get_network:provider:* are admin-only).
func TestNonAdminAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")

	for _, body := range []map[string]any{
		{"provider:network_type": "geneve"},
		{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 10},
		{"provider:physical_network": "physnet1"},
		{"provider:segmentation_id": 10},
		{"shared": true},
		{"router:external": true},
	} {
		r := e.do("POST", "/v2.0/networks", map[string]any{"network": body}, hP)
		r.expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	}
	_, err := networks.Create(ctx(t), p, networks.CreateOpts{Name: "s", Shared: ptr(true)}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	if got := listNets(t, e.admin, nil); len(got) != 0 {
		t.Fatalf("refused creates left networks: %v", ids(got))
	}

	n := createNamed(t, p, "mine")
	for _, body := range []map[string]any{{"shared": true}, {"router:external": true}} {
		e.do("PUT", "/v2.0/networks/"+n.ID, map[string]any{"network": body}, hP).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	}

	// Members do not see provider attributes, in show or list, even when
	// asking for them with fields=.
	hidden := []string{"provider:network_type", "provider:physical_network", "provider:segmentation_id"}
	shown := e.getNetRaw(t, n.ID, hP)
	for _, k := range hidden {
		if _, ok := shown[k]; ok {
			t.Errorf("member sees %s in show: %v", k, shown)
		}
	}
	for _, k := range []string{"id", "name", "mtu", "shared", "router:external", "status", "admin_state_up", "port_security_enabled", "tags", "revision_number"} {
		if _, ok := shown[k]; !ok {
			t.Errorf("member does not see %s", k)
		}
	}
	var list struct {
		Networks []map[string]any `json:"networks"`
	}
	e.do("GET", "/v2.0/networks", nil, hP).expect(t, http.StatusOK).into(t, &list)
	if len(list.Networks) != 1 {
		t.Fatalf("member lists %d networks", len(list.Networks))
	}
	for _, k := range hidden {
		if _, ok := list.Networks[0][k]; ok {
			t.Errorf("member sees %s in list", k)
		}
	}
	list.Networks = nil
	e.do("GET", "/v2.0/networks?fields=provider:network_type&fields=name", nil, hP).expect(t, http.StatusOK).into(t, &list)
	if len(list.Networks) != 1 {
		t.Fatalf("member lists %d networks with fields", len(list.Networks))
	}
	if _, ok := list.Networks[0]["provider:network_type"]; ok {
		t.Errorf("member sees provider:network_type through fields=")
	}
	// The create response hides them too.
	r := e.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "other"}}, hP).expect(t, http.StatusCreated)
	created := r.object(t)["network"].(map[string]any)
	for _, k := range hidden {
		if _, ok := created[k]; ok {
			t.Errorf("member sees %s in create response", k)
		}
	}
	// The admin sees them on the member's network.
	adm := e.getNetRaw(t, n.ID, nil)
	if adm["provider:network_type"] != "routed" {
		t.Errorf("admin view of member network: %v", adm)
	}

	// A reader may look but not write: Neutron's secure-RBAC defaults
	// (create/update/delete_network need ADMIN or PROJECT_MEMBER,
	// neutron/conf/policies/network.py:46-58), in force with
	// [oslo_policy] enforce_new_defaults.
	rd := e.project("projP", "reader")
	if got := listNets(t, rd, nil); len(got) != 2 {
		t.Fatalf("reader lists %d networks", len(got))
	}
	_, err = networks.Create(ctx(t), rd, networks.CreateOpts{Name: "r"}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	_, err = networks.Update(ctx(t), rd, n.ID, networks.UpdateOpts{Name: ptr("r")}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	expectGCError(t, networks.Delete(ctx(t), rd, n.ID).ExtractErr(), http.StatusForbidden, "PolicyNotAuthorized")

	// An admin role in X-Roles makes a project-scoped caller an admin.
	adminP := e.project("projP", "admin", "member")
	g := createNet(t, adminP, providerOpts{CreateOptsBuilder: networks.CreateOpts{Name: "g"}, NetworkType: "geneve"})
	if g.NetworkType == nil || *g.NetworkType != "geneve" || g.ProjectID != "projP" {
		t.Fatalf("project admin's provider network: %+v", g)
	}
}

// TestNonAdminDefaultValuedAdminAttributes_Neutron: Neutron enforces an
// attribute's policy on create only if the attribute is explicitly set to
// something other than its default, so a member may send shared=false or
// router:external=false (clients often do) and gets 201.
//
// Neutron: neutron/policy.py:127-139 (_is_attribute_explicitly_set:
// "if result and 'default' in resource[attribute_name]: return
// target[attribute_name] != resource[attribute_name]['default']"), used by
// _build_match_rule at :214-221; defaults: neutron_lib/api/definitions/
// network.py:65-68 (shared default False), external_net.py:34-37
// (router:external default False).
func TestNonAdminDefaultValuedAdminAttributes_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, err := networks.Create(ctx(t), p, networks.CreateOpts{Name: "s", Shared: ptr(false)}).Extract()
	if err != nil {
		t.Fatalf("member create with shared=false: %v", err)
	}
	if n.Shared {
		t.Fatalf("shared network created")
	}
	_, err = networks.Create(ctx(t), p, external.CreateOptsExt{
		CreateOptsBuilder: networks.CreateOpts{Name: "e"}, External: ptr(false)}).Extract()
	if err != nil {
		t.Fatalf("member create with router:external=false: %v", err)
	}
}

// TestNonAdminOtherProject_Neutron: a member naming another project in
// project_id or tenant_id gets 400 HTTPBadRequest from the body checks,
// which run before any policy check.
//
// Neutron: neutron_lib/api/attributes.py:25-32 (_validate_privileges:
// "Specifying 'project_id' or 'tenant_id' other than the authenticated
// project in request requires admin or advsvc privileges" ->
// HTTPBadRequest), called from populate_project_id (:256-257) in
// neutron/api/v2/base.py:764 (prepare_request_body), which the
// BodyValidationHook (priority 120) runs before the PolicyHook (priority
// 140): neutron/pecan_wsgi/hooks/body_validation.py:31,58-66,
// policy_enforcement.py:75 and neutron/pecan_wsgi/app.py:31-40.
func TestNonAdminOtherProject_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.project("projA")
	for _, opts := range []networks.CreateOpts{
		{Name: "for b", ProjectID: "projB"},
		{Name: "for b", TenantID: "projB"},
	} {
		_, err := networks.Create(ctx(t), a, opts).Extract()
		ne := expectGCError(t, err, http.StatusBadRequest, "HTTPBadRequest")
		if !strings.Contains(ne.Message, "other than the authenticated project") {
			t.Errorf("message %q", ne.Message)
		}
	}
}
