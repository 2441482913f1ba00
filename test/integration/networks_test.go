package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// TestNetworkCreateDefaults checks every attribute of a network created
// with an empty body, as the admin sees it.
func TestNetworkCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := time.Now().UTC().Add(-2 * time.Second)

	r := e.adminDo("POST", "/v2.0/networks", map[string]any{"network": map[string]any{}}).expect(t, http.StatusCreated)
	body := r.object(t)
	n, ok := body["network"].(map[string]any)
	if !ok || len(body) != 1 {
		t.Fatalf("create body is not {\"network\": {...}}: %s", r.Body)
	}
	want := map[string]any{
		"name":                      "",
		"description":               "",
		"admin_state_up":            true,
		"status":                    "ACTIVE",
		"shared":                    false,
		"mtu":                       float64(1500),
		"port_security_enabled":     true,
		"router:external":           false,
		"provider:network_type":     "routed",
		"provider:physical_network": nil,
		"provider:segmentation_id":  nil,
		"l2_adjacency":              false,
		"revision_number":           float64(1),
		"project_id":                "admin",
		"tenant_id":                 "admin",
		"availability_zone_hints":   []any{},
	}
	for k, v := range want {
		got, ok := n[k]
		if !ok {
			t.Errorf("attribute %q missing", k)
			continue
		}
		if !jsonEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	for _, k := range []string{"tags", "subnets"} {
		l, ok := n[k].([]any)
		if !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, n[k])
		}
	}
	id, _ := n["id"].(string)
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("id %q is not a UUID", id)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := n[k].(string)
		ts, err := time.Parse("2006-01-02T15:04:05Z", s)
		if err != nil {
			t.Errorf("%s = %q is not Neutron's YYYY-MM-DDTHH:MM:SSZ: %v", k, s, err)
			continue
		}
		if ts.Before(before) || ts.After(time.Now().UTC().Add(2*time.Second)) {
			t.Errorf("%s = %s is not now", k, s)
		}
	}

	// The same through gophercloud, and show returns what create returned.
	gc := createNet(t, e.admin, networks.CreateOpts{})
	if !gc.AdminStateUp || gc.Status != "ACTIVE" || gc.Shared || gc.MTU != 1500 || !gc.PortSecurityEnabled ||
		gc.RouterExternal || gc.NetworkType == nil || *gc.NetworkType != "routed" || gc.L2Adjacency ||
		gc.RevisionNumber != 1 || gc.Tags == nil || len(gc.Tags) != 0 || gc.Subnets == nil || len(gc.Subnets) != 0 {
		t.Errorf("gophercloud create: unexpected defaults %+v", gc)
	}
	shown := e.getNetRaw(t, id, nil)
	if !jsonEqual(shown, n) {
		t.Errorf("show differs from create:\n show:   %v\n create: %v", shown, n)
	}
}

// jsonEqual compares decoded JSON values.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestNetworkCreateShowUpdate covers create with attributes, show, and
// update (name, description, admin_state_up, mtu) with the revision number
// increasing on each update.
func TestNetworkCreateShowUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNet(t, e.admin, networks.CreateOpts{Name: "net1", Description: "first", AdminStateUp: ptr(false)})
	if n.Name != "net1" || n.Description != "first" || n.AdminStateUp {
		t.Fatalf("create ignored attributes: %+v", n)
	}

	got := getNet(t, e.admin, n.ID)
	if got.ID != n.ID || got.Name != "net1" || got.Description != "first" || got.AdminStateUp || got.RevisionNumber != n.RevisionNumber {
		t.Fatalf("show: %+v, created %+v", got, n)
	}

	r := networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{Name: ptr("renamed")})
	if r.Err != nil {
		t.Fatalf("update: %v", r.Err)
	}
	u1 := extractNet(t, r)
	if u1.Name != "renamed" || u1.Description != "first" || u1.AdminStateUp {
		t.Fatalf("update changed the wrong attributes: %+v", u1)
	}
	if u1.RevisionNumber <= n.RevisionNumber {
		t.Fatalf("revision_number %d after update, was %d", u1.RevisionNumber, n.RevisionNumber)
	}
	if u1.CreatedAt != n.CreatedAt {
		t.Errorf("created_at changed on update: %s -> %s", n.CreatedAt, u1.CreatedAt)
	}

	r = networks.Update(ctx(t), e.admin, n.ID, networks.UpdateOpts{AdminStateUp: ptr(true), Description: ptr("")})
	if r.Err != nil {
		t.Fatalf("update: %v", r.Err)
	}
	u2 := extractNet(t, r)
	if !u2.AdminStateUp || u2.Description != "" || u2.Name != "renamed" {
		t.Fatalf("second update: %+v", u2)
	}
	if u2.RevisionNumber <= u1.RevisionNumber {
		t.Fatalf("revision_number %d after second update, was %d", u2.RevisionNumber, u1.RevisionNumber)
	}

	// mtu is writable (net-mtu-writable) up to the physical network's MTU.
	r = networks.Update(ctx(t), e.admin, n.ID, updateBody(map[string]any{"mtu": 1400}))
	if r.Err != nil {
		t.Fatalf("update mtu: %v", r.Err)
	}
	if u3 := extractNet(t, r); u3.MTU != 1400 {
		t.Fatalf("mtu %d after update to 1400", u3.MTU)
	}
	r = networks.Update(ctx(t), e.admin, n.ID, updateBody(map[string]any{"mtu": 9000}))
	expectGCError(t, r.Err, http.StatusBadRequest, "")

	shown := getNet(t, e.admin, n.ID)
	if shown.Name != "renamed" || !shown.AdminStateUp || shown.MTU != 1400 {
		t.Fatalf("show after updates: %+v", shown)
	}

	// Show of an unknown id is NetworkNotFound.
	e.adminDo("GET", "/v2.0/networks/00000000-0000-0000-0000-000000000000", nil).
		expectError(t, http.StatusNotFound, "NetworkNotFound")
	// Update of an unknown id as well.
	e.adminDo("PUT", "/v2.0/networks/00000000-0000-0000-0000-000000000000", map[string]any{"network": map[string]any{"name": "x"}}).
		expectError(t, http.StatusNotFound, "NetworkNotFound")
}

// TestNetworkDelete deletes a network (204, empty body) and then finds it
// gone: show, update and a second delete are 404 NetworkNotFound with
// Neutron's exact fault body.
func TestNetworkDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "doomed")
	keep := createNamed(t, e.admin, "kept")

	r := e.adminDo("DELETE", "/v2.0/networks/"+n.ID, nil).expect(t, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}

	for _, req := range []struct {
		method string
		body   any
	}{
		{"GET", nil},
		{"PUT", map[string]any{"network": map[string]any{"name": "x"}}},
		{"DELETE", nil},
	} {
		ne := e.adminDo(req.method, "/v2.0/networks/"+n.ID, req.body).expectError(t, http.StatusNotFound, "NetworkNotFound")
		// neutron_lib.exceptions.NetworkNotFound: "Network %(net_id)s could not be found."
		if want := "Network " + n.ID + " could not be found."; ne.Message != want {
			t.Errorf("%s: message %q, want %q", req.method, ne.Message, want)
		}
		if ne.Detail != "" {
			t.Errorf("%s: detail %q, want empty", req.method, ne.Detail)
		}
	}

	// gophercloud sees the same.
	err := networks.Delete(ctx(t), e.admin, n.ID).ExtractErr()
	expectGCError(t, err, http.StatusNotFound, "NetworkNotFound")

	// The network is gone from the list; the other one is not.
	got := ids(listNets(t, e.admin, nil))
	if slices.Contains(got, n.ID) || !slices.Contains(got, keep.ID) {
		t.Fatalf("list after delete: %v (deleted %s, kept %s)", got, n.ID, keep.ID)
	}
	if err := networks.Delete(ctx(t), e.admin, keep.ID).ExtractErr(); err != nil {
		t.Fatalf("gophercloud delete: %v", err)
	}
	if got := listNets(t, e.admin, nil); len(got) != 0 {
		t.Fatalf("networks left after deleting all: %v", ids(got))
	}
}
