package integration

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/quotas"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// neutronDefaultQuotas are Neutron's quota_* defaults
// (neutron/conf/quota.py).
var neutronDefaultQuotas = map[string]int{
	"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
	"security_group": 10, "security_group_rule": 100,
}

// TestQuotas: defaults; who may read and change quotas; networks up to
// the quota and then 409 OverQuota; usage in the details; reset.
func TestQuotas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := e.project("p1"), e.project("p2")

	// Defaults, from /default and for a project never configured.
	var def struct {
		Quota map[string]int `json:"quota"`
	}
	e.adminDo("GET", "/v2.0/quotas/p1/default", nil).expect(t, http.StatusOK).into(t, &def)
	for k, v := range neutronDefaultQuotas {
		if def.Quota[k] != v {
			t.Errorf("default quota %s = %d, want %d", k, def.Quota[k], v)
		}
	}
	q, err := quotas.Get(ctx(t), e.admin, "p1").Extract()
	if err != nil {
		t.Fatalf("admin get quota: %v", err)
	}
	if q.Network != 100 || q.Subnet != 100 || q.Port != 500 || q.Router != 10 || q.FloatingIP != 50 ||
		q.SecurityGroup != 10 || q.SecurityGroupRule != 100 {
		t.Fatalf("quota of a fresh project: %+v", q)
	}
	// A member reads its own quota, but not another project's
	// (neutron/extensions/quotasv2.py:122-125, get_quota is admin-only).
	if q, err := quotas.Get(ctx(t), p1, "p1").Extract(); err != nil || q.Network != 100 {
		t.Fatalf("member get own quota: %+v %v", q, err)
	}
	_, err = quotas.Get(ctx(t), p1, "p2").Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	// The project the caller acts in.
	var tenant struct {
		Tenant map[string]string `json:"tenant"`
	}
	e.do("GET", "/v2.0/quotas/tenant", nil, projectHeaders("p1")).expect(t, http.StatusOK).into(t, &tenant)
	if tenant.Tenant["tenant_id"] != "p1" {
		t.Errorf("quotas/tenant: %v", tenant)
	}

	// Only admins change quotas (update_quota/delete_quota are admin-only,
	// quotasv2.py:127-132).
	_, err = quotas.Update(ctx(t), p1, "p1", quotas.UpdateOpts{Network: ptr(1000)}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	err = quotas.Delete(ctx(t), p1, "p1").ExtractErr()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("GET", "/v2.0/quotas", nil, projectHeaders("p1")).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")

	q, err = quotas.Update(ctx(t), e.admin, "p1", quotas.UpdateOpts{Network: ptr(3)}).Extract()
	if err != nil {
		t.Fatalf("admin update quota: %v", err)
	}
	if q.Network != 3 || q.Subnet != 100 || q.Port != 500 {
		t.Fatalf("quota after update: %+v", q)
	}
	if q, _ := quotas.Get(ctx(t), p1, "p1").Extract(); q == nil || q.Network != 3 {
		t.Fatalf("member sees quota %+v after update", q)
	}
	// The admin's list of configured projects has p1.
	var all struct {
		Quotas []map[string]any `json:"quotas"`
	}
	e.adminDo("GET", "/v2.0/quotas", nil).expect(t, http.StatusOK).into(t, &all)
	found := false
	for _, x := range all.Quotas {
		if x["project_id"] == "p1" && x["network"] == float64(3) {
			found = true
		}
	}
	if !found {
		t.Fatalf("quota list lacks p1 with network 3: %v", all.Quotas)
	}

	// Up to the quota, then 409 OverQuota.
	var mine []netView
	for i := range 3 {
		mine = append(mine, createNamed(t, p1, fmt.Sprintf("q%d", i)))
	}
	r := networks.Create(ctx(t), p1, networks.CreateOpts{Name: "one too many"})
	ne := expectGCError(t, r.Err, http.StatusConflict, "OverQuota")
	// neutron_lib.exceptions.OverQuota: "Quota exceeded for resources: %(overs)s."
	if ne.Message != "Quota exceeded for resources: ['network']." {
		t.Errorf("OverQuota message %q", ne.Message)
	}
	// An admin creating in p1's name is held to p1's quota too.
	r = networks.Create(ctx(t), e.admin, networks.CreateOpts{Name: "by admin", ProjectID: "p1"})
	expectGCError(t, r.Err, http.StatusConflict, "OverQuota")
	// Bulk create over quota fails as a whole.
	e.do("POST", "/v2.0/networks", map[string]any{"networks": []any{map[string]any{"name": "b1"}}}, projectHeaders("p1")).
		expectError(t, http.StatusConflict, "OverQuota")
	// Other projects are not affected.
	createNamed(t, p2, "p2-net")

	// Details show the usage.
	d, err := quotas.GetDetail(ctx(t), p1, "p1").Extract()
	if err != nil {
		t.Fatalf("quota details: %v", err)
	}
	if d.Network.Limit != 3 || d.Network.Used != 3 || d.Network.Reserved != 0 {
		t.Fatalf("network quota details %+v, want limit 3 used 3 reserved 0", d.Network)
	}
	if d.Subnet.Limit != 100 || d.Subnet.Used != 0 {
		t.Fatalf("subnet quota details %+v", d.Subnet)
	}
	if d2, err := quotas.GetDetail(ctx(t), e.admin, "p2").Extract(); err != nil || d2.Network.Used != 1 || d2.Network.Limit != 100 {
		t.Fatalf("p2 details %+v %v", d2, err)
	}
	// Another project's details are for admins only (quotasv2_detail.py:54-60).
	_, err = quotas.GetDetail(ctx(t), p2, "p1").Extract()
	expectGCError(t, err, http.StatusForbidden, "")

	// Deleting a network frees its slot.
	if err := networks.Delete(ctx(t), p1, mine[0].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if d, _ := quotas.GetDetail(ctx(t), p1, "p1").Extract(); d == nil || d.Network.Used != 2 {
		t.Fatalf("details after delete: %+v", d)
	}
	mine[0] = createNamed(t, p1, "q0-again")
	r = networks.Create(ctx(t), p1, networks.CreateOpts{Name: "full again"})
	expectGCError(t, r.Err, http.StatusConflict, "OverQuota")

	// A limit below the usage is accepted (no check_limit); creates fail.
	if q, err := quotas.Update(ctx(t), e.admin, "p1", quotas.UpdateOpts{Network: ptr(1)}).Extract(); err != nil || q.Network != 1 {
		t.Fatalf("lowering quota below usage: %+v %v", q, err)
	}
	r = networks.Create(ctx(t), p1, networks.CreateOpts{Name: "still full"})
	expectGCError(t, r.Err, http.StatusConflict, "OverQuota")

	// Deleting the quota resets the project to the defaults.
	if err := quotas.Delete(ctx(t), e.admin, "p1").ExtractErr(); err != nil {
		t.Fatalf("delete quota: %v", err)
	}
	if q, err := quotas.Get(ctx(t), e.admin, "p1").Extract(); err != nil || q.Network != 100 {
		t.Fatalf("quota after reset: %+v %v", q, err)
	}
	createNamed(t, p1, "after reset")
	if d, _ := quotas.GetDetail(ctx(t), p1, "p1").Extract(); d == nil || d.Network.Used != 4 || d.Network.Limit != 100 {
		t.Fatalf("details after reset: %+v", d)
	}

	// -1 is unlimited; 0 forbids.
	if _, err := quotas.Update(ctx(t), e.admin, "p2", quotas.UpdateOpts{Network: ptr(0)}).Extract(); err != nil {
		t.Fatal(err)
	}
	r = networks.Create(ctx(t), p2, networks.CreateOpts{Name: "zero"})
	expectGCError(t, r.Err, http.StatusConflict, "OverQuota")
	if _, err := quotas.Update(ctx(t), e.admin, "p2", quotas.UpdateOpts{Network: ptr(-1)}).Extract(); err != nil {
		t.Fatal(err)
	}
	createNamed(t, p2, "unlimited")

	// Invalid updates are 400 (quotasv2.py:66-75: convert_to_int, range -1..).
	for _, body := range []string{
		`{"quota": {"network": -2}}`,
		`{"quota": {"network": "many"}}`,
		`{"quota": {"no_such_resource": 1}}`,
		`{"network": 5}`,
		`{"quota": `,
	} {
		e.adminDo("PUT", "/v2.0/quotas/p1", rawBody(body)).expectError(t, http.StatusBadRequest, "")
	}
}
