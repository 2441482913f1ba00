package integration

// Flavors, service profiles, their association and the service provider
// list (Neutron's "flavors" and "service-type" extensions;
// /work/shared/reference/l3-flavors.md sections 2 and 3;
// neutron/db/flavors_db.py, neutron_lib/api/definitions/flavors.py,
// neutron_lib/exceptions/flavors.py). gophercloud has no client for these
// resources, so they are driven through raw HTTP and through the real
// openstack CLI (openstacksdk).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/server"
)

// flvUser is a non-admin caller (member and reader roles).
var flvUser = projectHeaders("flv-user")

type flvFlavor struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Description     string   `json:"description"`
	ServiceType     string   `json:"service_type"`
	Enabled         bool     `json:"enabled"`
	ServiceProfiles []string `json:"service_profiles"`
}

type flvProfile struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Driver      string   `json:"driver"`
	Metainfo    string   `json:"metainfo"`
	Enabled     bool     `json:"enabled"`
	Flavors     []string `json:"flavors"`
}

// flvKeys checks that obj has exactly the given keys.
func flvKeys(t *testing.T, obj map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range obj {
		got = append(got, k)
	}
	if !sameSet(got, keys) {
		t.Fatalf("attributes %v, want exactly %v", sorted(got), sorted(keys))
	}
}

// flvOne decodes {"<key>": {...}} into v and returns the inner object.
func flvOne(t *testing.T, r *response, key string, v any) map[string]any {
	t.Helper()
	m := r.object(t)
	inner, ok := m[key].(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("%s: body is not {%q: {...}}", r, key)
	}
	if v != nil {
		b, _ := json.Marshal(inner)
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return inner
}

func (e *env) flvCreateFlavor(t *testing.T, body map[string]any) flvFlavor {
	t.Helper()
	var f flvFlavor
	flvOne(t, e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": body}).expect(t, http.StatusCreated), "flavor", &f)
	return f
}

func (e *env) flvCreateProfile(t *testing.T, body map[string]any) flvProfile {
	t.Helper()
	var p flvProfile
	flvOne(t, e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": body}).expect(t, http.StatusCreated), "service_profile", &p)
	return p
}

func (e *env) flvGetFlavor(t *testing.T, id string, headers map[string]string) flvFlavor {
	t.Helper()
	var f flvFlavor
	flvOne(t, e.do("GET", "/v2.0/flavors/"+id, nil, headers).expect(t, http.StatusOK), "flavor", &f)
	return f
}

func (e *env) flvGetProfile(t *testing.T, id string) flvProfile {
	t.Helper()
	var p flvProfile
	flvOne(t, e.adminDo("GET", "/v2.0/service_profiles/"+id, nil).expect(t, http.StatusOK), "service_profile", &p)
	return p
}

func (e *env) flvBind(fid, pid string, headers map[string]string) *response {
	return e.do("POST", "/v2.0/flavors/"+fid+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": pid}}, headers)
}

// flvList lists a collection and returns the ids in order.
func (e *env) flvList(t *testing.T, path, key string, headers map[string]string) []string {
	t.Helper()
	var body map[string][]map[string]any
	e.do("GET", path, nil, headers).expect(t, http.StatusOK).into(t, &body)
	items, ok := body[key]
	if !ok {
		t.Fatalf("GET %s: no %q in the body", path, key)
	}
	out := []string{}
	for _, it := range items {
		id, _ := it["id"].(string)
		out = append(out, id)
	}
	return out
}

// TestFlavorCRUD: flavors are created, shown, listed, updated and deleted
// by admins with the attributes and defaults of the API definition.
func TestFlavorCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"name": "gold", "service_type": "L3_ROUTER_NAT"}}).expect(t, http.StatusCreated)
	var f flvFlavor
	raw := flvOne(t, r, "flavor", &f)
	// Exactly these attributes, no project.
	flvKeys(t, raw, "id", "name", "description", "service_type", "enabled", "service_profiles")
	if f.Name != "gold" || f.Description != "" || f.ServiceType != l3.ServiceType || !f.Enabled || f.ServiceProfiles == nil || len(f.ServiceProfiles) != 0 {
		t.Fatalf("created flavor: %+v", f)
	}
	if got := e.flvGetFlavor(t, f.ID, nil); got.Name != "gold" || !got.Enabled {
		t.Fatalf("shown flavor: %+v", got)
	}

	// FLAVORS is a service type too (tempest's test_create_update_delete_flavor);
	// tenant_id is accepted and dropped; service_profiles is accepted and
	// ignored (bindings are made through the sub-resource only); a null
	// description is the empty one.
	other := e.flvCreateFlavor(t, map[string]any{"name": "fl", "service_type": "FLAVORS", "enabled": false, "description": nil,
		"tenant_id": "admin", "service_profiles": []string{"9b0a5a55-7d55-4bbb-9b8d-4f3ffcf9dc47"}})
	if other.ServiceType != "FLAVORS" || other.Enabled || other.Description != "" || len(other.ServiceProfiles) != 0 {
		t.Fatalf("second flavor: %+v", other)
	}

	// Validation.
	e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"name": "x"}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	ne := e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": "VPN"}}).expectError(t, http.StatusBadRequest, "InvalidServiceType")
	if !strings.Contains(ne.Message, "VPN") {
		t.Errorf("InvalidServiceType message %q does not name the type", ne.Message)
	}
	e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": "L3_ROUTER_NAT", "bogus": 1}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": "L3_ROUTER_NAT", "name": strings.Repeat("n", 256)}}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": "L3_ROUTER_NAT", "service_profiles": []string{"not-a-uuid"}}}).expectError(t, http.StatusBadRequest, "")

	// List, filters (id=33 is an empty list, not a 400: tempest relies on it), fields.
	if got := e.flvList(t, "/v2.0/flavors", "flavors", nil); !sameSet(got, []string{f.ID, other.ID}) {
		t.Fatalf("list: %v", got)
	}
	if got := e.flvList(t, "/v2.0/flavors?name=gold", "flavors", nil); !slices.Equal(got, []string{f.ID}) {
		t.Fatalf("name filter: %v", got)
	}
	if got := e.flvList(t, "/v2.0/flavors?service_type=FLAVORS", "flavors", nil); !slices.Equal(got, []string{other.ID}) {
		t.Fatalf("service_type filter: %v", got)
	}
	if got := e.flvList(t, "/v2.0/flavors?enabled=false", "flavors", nil); !slices.Equal(got, []string{other.ID}) {
		t.Fatalf("enabled filter: %v", got)
	}
	if got := e.flvList(t, "/v2.0/flavors?id=33", "flavors", nil); len(got) != 0 {
		t.Fatalf("id=33 filter: %v", got)
	}
	var fl map[string][]map[string]any
	e.adminDo("GET", "/v2.0/flavors?fields=name&name=gold", nil).expect(t, http.StatusOK).into(t, &fl)
	if len(fl["flavors"]) != 1 || len(fl["flavors"][0]) != 1 || fl["flavors"][0]["name"] != "gold" {
		t.Fatalf("fields=name: %v", fl)
	}

	// Update: name, description, enabled; service_type is immutable;
	// service_profiles is ignored.
	var u flvFlavor
	flvOne(t, e.adminDo("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{
		"name": "platinum", "description": "best", "enabled": false, "service_profiles": []string{"9b0a5a55-7d55-4bbb-9b8d-4f3ffcf9dc47"}}}).expect(t, http.StatusOK), "flavor", &u)
	if u.Name != "platinum" || u.Description != "best" || u.Enabled || len(u.ServiceProfiles) != 0 || u.ServiceType != l3.ServiceType {
		t.Fatalf("updated flavor: %+v", u)
	}
	ne = e.adminDo("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{"service_type": "FLAVORS"}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	if !strings.Contains(ne.Message, "service_type") {
		t.Errorf("read-only message %q", ne.Message)
	}
	e.adminDo("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{"id": f.ID}}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{"tenant_id": "x"}}).expectError(t, http.StatusBadRequest, "")
	if got := e.flvGetFlavor(t, f.ID, nil); got.ServiceType != l3.ServiceType || got.Name != "platinum" {
		t.Fatalf("after refused updates: %+v", got)
	}
	e.adminDo("PUT", "/v2.0/flavors/00000000-0000-0000-0000-000000000000", map[string]any{"flavor": map[string]any{"name": "x"}}).expectError(t, http.StatusNotFound, "FlavorNotFound")

	// Delete.
	e.adminDo("DELETE", "/v2.0/flavors/"+f.ID, nil).expect(t, http.StatusNoContent)
	ne = e.adminDo("GET", "/v2.0/flavors/"+f.ID, nil).expectError(t, http.StatusNotFound, "FlavorNotFound")
	if ne.Message != "Flavor "+f.ID+" could not be found." {
		t.Errorf("FlavorNotFound message %q", ne.Message)
	}
	e.adminDo("DELETE", "/v2.0/flavors/"+f.ID, nil).expectError(t, http.StatusNotFound, "FlavorNotFound")
	if got := e.flvList(t, "/v2.0/flavors", "flavors", nil); !slices.Equal(got, []string{other.ID}) {
		t.Fatalf("list after delete: %v", got)
	}
}

// TestFlavorPolicy: flavors are readable by every user, writable by
// admins only (403 PolicyNotAuthorized; 404 for a flavor that does not exist).
func TestFlavorPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.flvCreateFlavor(t, map[string]any{"name": "pub", "service_type": "L3_ROUTER_NAT"})

	e.do("POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": "L3_ROUTER_NAT"}}, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	for _, h := range []map[string]string{flvUser, projectHeaders("flv-reader", "reader")} {
		if got := e.flvList(t, "/v2.0/flavors", "flavors", h); !slices.Equal(got, []string{f.ID}) {
			t.Fatalf("user list: %v", got)
		}
		if got := e.flvGetFlavor(t, f.ID, h); got.Name != "pub" {
			t.Fatalf("user show: %+v", got)
		}
	}
	e.do("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{"name": "mine"}}, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("DELETE", "/v2.0/flavors/"+f.ID, nil, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("DELETE", "/v2.0/flavors/00000000-0000-0000-0000-000000000000", nil, flvUser).expectError(t, http.StatusNotFound, "FlavorNotFound")
	if got := e.flvGetFlavor(t, f.ID, nil); got.Name != "pub" {
		t.Fatalf("flavor changed by a refused request: %+v", got)
	}
}

// TestServiceProfileCRUD: profiles need the exact driver of a configured
// provider (404 ServiceProfileDriverNotFound) or, without a driver,
// metainfo (400 ServiceProfileEmpty).
func TestServiceProfileCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "routed", "description": "d"}}).expect(t, http.StatusCreated)
	var p flvProfile
	raw := flvOne(t, r, "service_profile", &p)
	flvKeys(t, raw, "id", "description", "driver", "metainfo", "enabled", "flavors")
	if p.Driver != "routed" || p.Description != "d" || p.Metainfo != "" || !p.Enabled || p.Flavors == nil || len(p.Flavors) != 0 {
		t.Fatalf("created profile: %+v", p)
	}
	// Metainfo alone will do (tempest's test_create_update_delete_service_profile).
	m := e.flvCreateProfile(t, map[string]any{"metainfo": `{"data": "value"}`, "enabled": false, "tenant_id": "admin"})
	if m.Driver != "" || m.Metainfo != `{"data": "value"}` || m.Enabled {
		t.Fatalf("metainfo profile: %+v", m)
	}

	// The driver must match a provider's driver exactly (the reference's
	// substring match is a bug).
	for _, d := range []string{"nope", "route", "routed2", "xrouted", "Routed"} {
		ne := e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": d}}).expectError(t, http.StatusNotFound, "ServiceProfileDriverNotFound")
		if ne.Message != "Service Profile driver "+d+" could not be found." {
			t.Errorf("driver not found message %q", ne.Message)
		}
	}
	for _, body := range []map[string]any{{}, {"driver": ""}, {"driver": "", "metainfo": ""}, {"description": "only"}} {
		ne := e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": body}).expectError(t, http.StatusBadRequest, "ServiceProfileEmpty")
		if ne.Message != "Service Profile needs either a driver or metainfo." {
			t.Errorf("ServiceProfileEmpty message %q", ne.Message)
		}
	}
	e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "routed", "flavors": []string{}}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	e.adminDo("POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "routed", "bogus": true}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")

	// List (id=33: empty), show, filters.
	if got := e.flvList(t, "/v2.0/service_profiles", "service_profiles", nil); !sameSet(got, []string{p.ID, m.ID}) {
		t.Fatalf("list: %v", got)
	}
	if got := e.flvList(t, "/v2.0/service_profiles?driver=routed", "service_profiles", nil); !slices.Equal(got, []string{p.ID}) {
		t.Fatalf("driver filter: %v", got)
	}
	if got := e.flvList(t, "/v2.0/service_profiles?id=33", "service_profiles", nil); len(got) != 0 {
		t.Fatalf("id=33: %v", got)
	}

	// Update: description, enabled, metainfo; driver re-validated.
	var u flvProfile
	flvOne(t, e.adminDo("PUT", "/v2.0/service_profiles/"+p.ID, map[string]any{"service_profile": map[string]any{"description": "new", "enabled": false, "metainfo": "m"}}).expect(t, http.StatusOK), "service_profile", &u)
	if u.Description != "new" || u.Enabled || u.Metainfo != "m" || u.Driver != "routed" {
		t.Fatalf("updated profile: %+v", u)
	}
	e.adminDo("PUT", "/v2.0/service_profiles/"+p.ID, map[string]any{"service_profile": map[string]any{"driver": "routedx"}}).expectError(t, http.StatusNotFound, "ServiceProfileDriverNotFound")
	// Emptying both driver and metainfo is refused as on create.
	e.adminDo("PUT", "/v2.0/service_profiles/"+m.ID, map[string]any{"service_profile": map[string]any{"metainfo": ""}}).expectError(t, http.StatusBadRequest, "ServiceProfileEmpty")
	e.adminDo("PUT", "/v2.0/service_profiles/"+p.ID, map[string]any{"service_profile": map[string]any{"flavors": []string{}}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	if got := e.flvGetProfile(t, p.ID); got.Driver != "routed" || got.Description != "new" {
		t.Fatalf("after refused updates: %+v", got)
	}
	e.adminDo("PUT", "/v2.0/service_profiles/00000000-0000-0000-0000-000000000000", map[string]any{"service_profile": map[string]any{"description": "x"}}).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")

	e.adminDo("DELETE", "/v2.0/service_profiles/"+p.ID, nil).expect(t, http.StatusNoContent)
	ne := e.adminDo("GET", "/v2.0/service_profiles/"+p.ID, nil).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
	if ne.Message != "Service Profile "+p.ID+" could not be found." {
		t.Errorf("ServiceProfileNotFound message %q", ne.Message)
	}
	e.adminDo("DELETE", "/v2.0/service_profiles/"+p.ID, nil).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
}

// TestServiceProfilePolicy: service profiles are admin objects: users
// cannot create them (403), do not list them, and get 404 for one that
// exists (Zed: get_service_profile is admin-only).
func TestServiceProfilePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.flvCreateProfile(t, map[string]any{"driver": "routed"})

	e.do("POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "routed"}}, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	if got := e.flvList(t, "/v2.0/service_profiles", "service_profiles", flvUser); len(got) != 0 {
		t.Fatalf("user sees profiles: %v", got)
	}
	e.do("GET", "/v2.0/service_profiles/"+p.ID, nil, flvUser).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
	e.do("PUT", "/v2.0/service_profiles/"+p.ID, map[string]any{"service_profile": map[string]any{"description": "x"}}, flvUser).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
	e.do("DELETE", "/v2.0/service_profiles/"+p.ID, nil, flvUser).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
	if got := e.flvGetProfile(t, p.ID); got.Description != "" {
		t.Fatalf("profile changed by a refused request: %+v", got)
	}
}

// TestFlavorProfileBinding: the association sub-resource
// /flavors/{id}/service_profiles and its effects on both objects.
func TestFlavorProfileBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.flvCreateFlavor(t, map[string]any{"name": "f", "service_type": "L3_ROUTER_NAT"})
	p1 := e.flvCreateProfile(t, map[string]any{"driver": "routed"})
	p2 := e.flvCreateProfile(t, map[string]any{"metainfo": "second"})
	// Bind the larger id first, to see that order is binding order, not id order.
	first, second := p1, p2
	if first.ID < second.ID {
		first, second = second, first
	}

	r := e.flvBind(f.ID, first.ID, nil).expect(t, http.StatusCreated)
	var got map[string]map[string]string
	r.into(t, &got)
	if len(got) != 1 || len(got["service_profile"]) != 1 || got["service_profile"]["id"] != first.ID {
		t.Fatalf("bind response: %s", r.Body)
	}
	e.flvBind(f.ID, second.ID, nil).expect(t, http.StatusCreated)
	if fl := e.flvGetFlavor(t, f.ID, nil); !slices.Equal(fl.ServiceProfiles, []string{first.ID, second.ID}) {
		t.Fatalf("flavor service_profiles %v, want binding order %v", fl.ServiceProfiles, []string{first.ID, second.ID})
	}
	// Users see the binding on the flavor too.
	if fl := e.flvGetFlavor(t, f.ID, flvUser); !slices.Equal(fl.ServiceProfiles, []string{first.ID, second.ID}) {
		t.Fatalf("user's view of service_profiles: %v", fl.ServiceProfiles)
	}
	if p := e.flvGetProfile(t, first.ID); !slices.Equal(p.Flavors, []string{f.ID}) {
		t.Fatalf("profile flavors: %v", p.Flavors)
	}
	if got := e.flvList(t, "/v2.0/flavors/"+f.ID+"/service_profiles", "service_profiles", nil); !slices.Equal(got, []string{first.ID, second.ID}) {
		t.Fatalf("association list: %v", got)
	}

	// Errors.
	ne := e.flvBind(f.ID, first.ID, nil).expectError(t, http.StatusConflict, "FlavorServiceProfileBindingExists")
	if ne.Message != "Service Profile "+first.ID+" is already associated with flavor "+f.ID+"." {
		t.Errorf("binding exists message %q", ne.Message)
	}
	missing := "00000000-0000-0000-0000-000000000000"
	e.flvBind(missing, first.ID, nil).expectError(t, http.StatusNotFound, "FlavorNotFound")
	e.flvBind(f.ID, missing, nil).expectError(t, http.StatusNotFound, "ServiceProfileNotFound")
	e.flvBind(f.ID, "not-a-uuid", nil).expectError(t, http.StatusBadRequest, "")
	e.adminDo("POST", "/v2.0/flavors/"+f.ID+"/service_profiles", map[string]any{"service_profile": map[string]any{}}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("POST", "/v2.0/flavors/"+f.ID+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": first.ID, "x": 1}}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("POST", "/v2.0/flavors/"+f.ID+"/service_profiles", map[string]any{"id": first.ID}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("PUT", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, map[string]any{"service_profile": map[string]any{"id": second.ID}}).expectError(t, http.StatusBadRequest, "")
	e.adminDo("GET", "/v2.0/flavors/"+missing+"/service_profiles", nil).expectError(t, http.StatusNotFound, "FlavorNotFound")

	// Show: 200 when bound (anyone), 404 otherwise.
	var show map[string]map[string]string
	e.adminDo("GET", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil).expect(t, http.StatusOK).into(t, &show)
	if show["service_profile"]["id"] != first.ID {
		t.Fatalf("association show: %v", show)
	}
	e.do("GET", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil, flvUser).expect(t, http.StatusOK)
	e.adminDo("GET", "/v2.0/flavors/"+f.ID+"/service_profiles/"+missing, nil).expectError(t, http.StatusNotFound, "FlavorServiceProfileBindingNotFound")

	// Users may neither bind nor unbind.
	other := e.flvCreateFlavor(t, map[string]any{"service_type": "L3_ROUTER_NAT"})
	e.flvBind(other.ID, first.ID, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("DELETE", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil, flvUser).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")

	// A bound profile can be neither updated nor deleted.
	ne = e.adminDo("PUT", "/v2.0/service_profiles/"+first.ID, map[string]any{"service_profile": map[string]any{"description": "x"}}).expectError(t, http.StatusConflict, "ServiceProfileInUse")
	if ne.Message != "Service Profile "+first.ID+" is used by some service instance." {
		t.Errorf("ServiceProfileInUse message %q", ne.Message)
	}
	e.adminDo("DELETE", "/v2.0/service_profiles/"+first.ID, nil).expectError(t, http.StatusConflict, "ServiceProfileInUse")

	// A profile may be bound to several flavors.
	e.flvBind(other.ID, first.ID, nil).expect(t, http.StatusCreated)
	if p := e.flvGetProfile(t, first.ID); !slices.Equal(p.Flavors, []string{f.ID, other.ID}) {
		t.Fatalf("profile flavors: %v", p.Flavors)
	}

	// Unbind.
	e.adminDo("DELETE", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil).expect(t, http.StatusNoContent)
	ne = e.adminDo("DELETE", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil).expectError(t, http.StatusNotFound, "FlavorServiceProfileBindingNotFound")
	if ne.Message != "Service Profile "+first.ID+" is not associated with flavor "+f.ID+"." {
		t.Errorf("binding not found message %q", ne.Message)
	}
	e.adminDo("GET", "/v2.0/flavors/"+f.ID+"/service_profiles/"+first.ID, nil).expectError(t, http.StatusNotFound, "FlavorServiceProfileBindingNotFound")
	if fl := e.flvGetFlavor(t, f.ID, nil); !slices.Equal(fl.ServiceProfiles, []string{second.ID}) {
		t.Fatalf("after unbind: %v", fl.ServiceProfiles)
	}
	// Rebinding puts the profile last.
	e.flvBind(f.ID, first.ID, nil).expect(t, http.StatusCreated)
	if fl := e.flvGetFlavor(t, f.ID, nil); !slices.Equal(fl.ServiceProfiles, []string{second.ID, first.ID}) {
		t.Fatalf("after rebind: %v", fl.ServiceProfiles)
	}

	// Deleting a flavor removes its bindings.
	e.adminDo("DELETE", "/v2.0/flavors/"+f.ID, nil).expect(t, http.StatusNoContent)
	e.adminDo("DELETE", "/v2.0/flavors/"+other.ID, nil).expect(t, http.StatusNoContent)
	for _, p := range []flvProfile{first, second} {
		if got := e.flvGetProfile(t, p.ID); len(got.Flavors) != 0 {
			t.Fatalf("profile %s still bound after flavor delete: %v", p.ID, got.Flavors)
		}
	}
	e.adminDo("PUT", "/v2.0/service_profiles/"+first.ID, map[string]any{"service_profile": map[string]any{"description": "free"}}).expect(t, http.StatusOK)
	e.adminDo("DELETE", "/v2.0/service_profiles/"+first.ID, nil).expect(t, http.StatusNoContent)
	e.adminDo("DELETE", "/v2.0/service_profiles/"+second.ID, nil).expect(t, http.StatusNoContent)
}

// TestFlavorInUseByRouter: a router created with a flavor keeps it from
// being deleted (409 FlavorInUse); and the flavor is resolved to a
// provider as in l3-flavors.md 3.2, with the checks the reference lacks.
func TestFlavorInUseByRouter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) {
		c.Service.Providers = append(c.Service.Providers, l3.Provider{ServiceType: "VPN", Name: "vpn", Driver: "vpn-driver"})
	})
	router := func(flavorID any, headers map[string]string) *response {
		return e.do("POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "r", "flavor_id": flavorID}}, headers)
	}
	f := e.flvCreateFlavor(t, map[string]any{"name": "routed-flavor", "service_type": "L3_ROUTER_NAT"})
	p := e.flvCreateProfile(t, map[string]any{"driver": "routed"})

	// Resolution failures, in the order of 3.2.
	router("00000000-0000-0000-0000-000000000000", nil).expectError(t, http.StatusNotFound, "FlavorNotFound")
	router(f.ID, nil).expectError(t, http.StatusNotFound, "FlavorServiceProfileBindingNotFound")
	e.flvBind(f.ID, p.ID, nil).expect(t, http.StatusCreated)

	// The flavor's first bound profile must be enabled (503) ...
	disabled := e.flvCreateFlavor(t, map[string]any{"service_type": "L3_ROUTER_NAT"})
	dp := e.flvCreateProfile(t, map[string]any{"driver": "routed", "enabled": false})
	e.flvBind(disabled.ID, dp.ID, nil).expect(t, http.StatusCreated)
	e.flvBind(disabled.ID, p.ID, nil).expect(t, http.StatusCreated) // second: never used
	router(disabled.ID, nil).expectError(t, http.StatusServiceUnavailable, "ServiceProfileDisabled")
	// ... and name a provider's driver (a metainfo-only profile does not) ...
	meta := e.flvCreateFlavor(t, map[string]any{"service_type": "L3_ROUTER_NAT"})
	mp := e.flvCreateProfile(t, map[string]any{"metainfo": "x"})
	e.flvBind(meta.ID, mp.ID, nil).expect(t, http.StatusCreated)
	router(meta.ID, nil).expectError(t, http.StatusNotFound, "ServiceProfileDriverNotFound")
	// ... of the L3 service type.
	vpn := e.flvCreateFlavor(t, map[string]any{"name": "vpnish", "service_type": "L3_ROUTER_NAT"})
	vp := e.flvCreateProfile(t, map[string]any{"driver": "vpn-driver"})
	e.flvBind(vpn.ID, vp.ID, nil).expect(t, http.StatusCreated)
	router(vpn.ID, nil).expectError(t, http.StatusBadRequest, "InvalidInput")
	// Checked here but not by the reference: a disabled flavor, or one of
	// another service type, serves no routers.
	off := e.flvCreateFlavor(t, map[string]any{"name": "off", "service_type": "L3_ROUTER_NAT", "enabled": false})
	e.flvBind(off.ID, p.ID, nil).expect(t, http.StatusCreated)
	ne := router(off.ID, nil).expectError(t, http.StatusBadRequest, "InvalidInput")
	if !strings.Contains(ne.Message, "off") || !strings.Contains(ne.Message, "disabled") {
		t.Errorf("disabled flavor message %q", ne.Message)
	}
	typed := e.flvCreateFlavor(t, map[string]any{"name": "typed", "service_type": "FLAVORS"})
	e.flvBind(typed.ID, p.ID, nil).expect(t, http.StatusCreated)
	ne = router(typed.ID, nil).expectError(t, http.StatusBadRequest, "InvalidInput")
	if !strings.Contains(ne.Message, "typed") || !strings.Contains(ne.Message, "FLAVORS") {
		t.Errorf("wrong service type message %q", ne.Message)
	}

	// A user may create a router with a flavor; flavor_id is echoed.
	var rt map[string]map[string]any
	router(f.ID, flvUser).expect(t, http.StatusCreated).into(t, &rt)
	rid, _ := rt["router"]["id"].(string)
	if rt["router"]["flavor_id"] != f.ID || rid == "" {
		t.Fatalf("router: %v", rt)
	}
	// The flavor is now in use.
	ne = e.adminDo("DELETE", "/v2.0/flavors/"+f.ID, nil).expectError(t, http.StatusConflict, "FlavorInUse")
	if ne.Message != "Flavor "+f.ID+" is used by some service instance." {
		t.Errorf("FlavorInUse message %q", ne.Message)
	}
	// Updating it is allowed (no in-use check on update), as is unbinding.
	e.adminDo("PUT", "/v2.0/flavors/"+f.ID, map[string]any{"flavor": map[string]any{"description": "busy"}}).expect(t, http.StatusOK)
	e.flvGetFlavor(t, f.ID, nil)
	e.do("DELETE", "/v2.0/routers/"+rid, nil, flvUser).expect(t, http.StatusNoContent)
	e.adminDo("DELETE", "/v2.0/flavors/"+f.ID, nil).expect(t, http.StatusNoContent)
}

// TestServiceProviderList: GET /service-providers lists the configured
// providers without their drivers, to everyone, with filters.
func TestServiceProviderList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) {
		c.Service.Providers = []l3.Provider{
			{ServiceType: l3.ServiceType, Name: "routed", Driver: "routed", Default: true},
			{ServiceType: l3.ServiceType, Name: "ext", Driver: "external"},
			{ServiceType: "VPN", Name: "vpn", Driver: "vpn-driver", Default: true},
		}
	})
	type sp struct {
		ServiceType string `json:"service_type"`
		Name        string `json:"name"`
		Default     bool   `json:"default"`
	}
	list := func(q string, headers map[string]string) []sp {
		t.Helper()
		r := e.do("GET", "/v2.0/service-providers"+q, nil, headers).expect(t, http.StatusOK)
		var raw map[string][]map[string]any
		r.into(t, &raw)
		for _, it := range raw["service_providers"] {
			if _, ok := it["driver"]; ok {
				t.Fatalf("driver shown: %s", r.Body)
			}
		}
		var body map[string][]sp
		r.into(t, &body)
		if body["service_providers"] == nil {
			t.Fatalf("no service_providers list: %s", r.Body)
		}
		return body["service_providers"]
	}
	all := []sp{{l3.ServiceType, "routed", true}, {l3.ServiceType, "ext", false}, {"VPN", "vpn", true}}
	if got := list("", nil); !slices.Equal(got, all) {
		t.Fatalf("providers %v, want %v", got, all)
	}
	if got := list("", flvUser); !slices.Equal(got, all) {
		t.Fatalf("user's providers %v", got)
	}
	if got := list("", projectHeaders("flv-reader", "reader")); !slices.Equal(got, all) {
		t.Fatalf("reader's providers %v", got)
	}
	if got := list("?service_type=L3_ROUTER_NAT", nil); !slices.Equal(got, all[:2]) {
		t.Fatalf("service_type filter: %v", got)
	}
	if got := list("?name=vpn", nil); !slices.Equal(got, all[2:]) {
		t.Fatalf("name filter: %v", got)
	}
	if got := list("?default=true&service_type=L3_ROUTER_NAT", nil); !slices.Equal(got, all[:1]) {
		t.Fatalf("default filter: %v", got)
	}
	if got := list("?name=nothing", nil); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}
	var f map[string][]map[string]any
	e.adminDo("GET", "/v2.0/service-providers?fields=name", nil).expect(t, http.StatusOK).into(t, &f)
	if len(f["service_providers"]) != 3 || len(f["service_providers"][0]) != 1 || f["service_providers"][0]["name"] != "routed" {
		t.Fatalf("fields=name: %v", f)
	}
	e.adminDo("GET", "/v2.0/service-providers?driver=routed", nil).expectError(t, http.StatusBadRequest, "")
}

// ---- the openstack CLI ----

// flvCLI runs the openstack CLI against a server (optionally through a
// proxy adding headers, to act as a user).
type flvCLI struct {
	t        *testing.T
	endpoint string
}

func (e *env) flvCLI(t *testing.T, headers map[string]string) *flvCLI {
	t.Helper()
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient; .ci/run does it)")
	}
	endpoint := e.srv.URL
	if headers != nil {
		target, err := url.Parse(e.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // keep links pointing at the proxy
			for k, v := range headers {
				r.Out.Header.Set(k, v)
			}
		}})
		t.Cleanup(proxy.Close)
		endpoint = proxy.URL
	}
	return &flvCLI{t: t, endpoint: endpoint}
}

// run runs `openstack <args>` and returns stdout, stderr and whether it succeeded.
func (c *flvCLI) run(args ...string) (string, string, bool) {
	c.t.Helper()
	full := append([]string{"--os-auth-type", "none", "--os-endpoint", c.endpoint}, args...)
	cmd := exec.Command("openstack", full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			c.t.Fatalf("openstack %s: %v", strings.Join(args, " "), err)
		}
	}
	return stdout.String(), stderr.String(), err == nil
}

// ok runs a command that must succeed and decodes its -f json output into v.
func (c *flvCLI) ok(v any, args ...string) {
	c.t.Helper()
	if v != nil {
		args = append(args, "-f", "json")
	}
	out, errOut, ok := c.run(args...)
	if !ok {
		c.t.Fatalf("openstack %s failed: %s%s", strings.Join(args, " "), out, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			c.t.Fatalf("openstack %s: output is not JSON: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

// fails runs a command that must fail with an error mentioning all of want.
func (c *flvCLI) fails(want []string, args ...string) {
	c.t.Helper()
	out, errOut, ok := c.run(args...)
	if ok {
		c.t.Fatalf("openstack %s succeeded, want failure: %s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(errOut+out, w) {
			c.t.Fatalf("openstack %s: error does not mention %q: %s%s", strings.Join(args, " "), w, out, errOut)
		}
	}
}

// TestFlavorCLI drives flavors, profiles, bindings and providers through
// the openstack CLI (python-openstackclient over openstacksdk), as an
// admin and, through a header-adding proxy, as a user.
func TestFlavorCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.flvCLI(t, nil)

	var f map[string]any
	admin.ok(&f, "network", "flavor", "create", "--service-type", "L3_ROUTER_NAT", "--description", "cli flavor", "f1")
	fid, _ := f["id"].(string)
	if fid == "" || f["name"] != "f1" || f["service_type"] != "L3_ROUTER_NAT" || f["enabled"] != true || f["description"] != "cli flavor" {
		t.Fatalf("flavor create: %v", f)
	}
	admin.fails([]string{"Invalid service type"}, "network", "flavor", "create", "--service-type", "NOPE", "bad")

	var p map[string]any
	admin.ok(&p, "network", "flavor", "profile", "create", "--driver", "routed", "--description", "cli profile")
	pid, _ := p["id"].(string)
	if pid == "" || p["driver"] != "routed" || p["enabled"] != true {
		t.Fatalf("profile create: %v", p)
	}
	admin.fails([]string{"404", "nope"}, "network", "flavor", "profile", "create", "--driver", "nope")
	// (A profile without driver and metainfo is refused by the CLI itself;
	// the server's 400 ServiceProfileEmpty is checked over raw HTTP.)
	var mp map[string]any
	admin.ok(&mp, "network", "flavor", "profile", "create", "--metainfo", `{"k": "v"}`, "--disable")
	if mp["meta_info"] != `{"k": "v"}` || mp["enabled"] != false {
		t.Fatalf("metainfo profile: %v", mp)
	}

	admin.ok(nil, "network", "flavor", "add", "profile", "f1", pid)
	// openstacksdk ignores the status of the association requests
	// (Flavor.associate_flavor_with_service_profile and
	// disassociate_flavor_from_service_profile do not check the response),
	// so a duplicate (409) or an unauthorized (403) one "succeeds" in the
	// CLI; the state is checked instead.
	admin.ok(nil, "network", "flavor", "add", "profile", "f1", pid)
	var shown map[string]any
	admin.ok(&shown, "network", "flavor", "show", "f1")
	if ids, _ := shown["service_profile_ids"].([]any); len(ids) != 1 || ids[0] != pid {
		t.Fatalf("flavor show after add profile: %v", shown)
	}
	var flavors []map[string]any
	admin.ok(&flavors, "network", "flavor", "list")
	if len(flavors) != 1 || flavors[0]["ID"] != fid || flavors[0]["Name"] != "f1" || flavors[0]["Service Type"] != "L3_ROUTER_NAT" {
		t.Fatalf("flavor list: %v", flavors)
	}
	var profiles []map[string]any
	admin.ok(&profiles, "network", "flavor", "profile", "list")
	if len(profiles) != 2 {
		t.Fatalf("profile list: %v", profiles)
	}
	// A bound profile is locked.
	admin.fails([]string{"409"}, "network", "flavor", "profile", "set", "--description", "x", pid)
	admin.fails([]string{"409"}, "network", "flavor", "profile", "delete", pid)

	var providers []map[string]any
	admin.ok(&providers, "network", "service", "provider", "list")
	if len(providers) != 1 || providers[0]["Service Type"] != "L3_ROUTER_NAT" || providers[0]["Name"] != "routed" || providers[0]["Default"] != true {
		t.Fatalf("service provider list: %v", providers)
	}

	// As a user: flavors yes, profiles no, no writes.
	user := e.flvCLI(t, flvUser)
	user.ok(&flavors, "network", "flavor", "list")
	if len(flavors) != 1 || flavors[0]["ID"] != fid {
		t.Fatalf("user flavor list: %v", flavors)
	}
	user.ok(&shown, "network", "flavor", "show", fid)
	user.ok(&profiles, "network", "flavor", "profile", "list")
	if len(profiles) != 0 {
		t.Fatalf("user profile list: %v", profiles)
	}
	user.ok(&providers, "network", "service", "provider", "list")
	if len(providers) != 1 {
		t.Fatalf("user service provider list: %v", providers)
	}
	user.fails([]string{"403"}, "network", "flavor", "create", "--service-type", "L3_ROUTER_NAT", "mine")
	user.fails([]string{"403"}, "network", "flavor", "set", "--name", "mine", fid)
	user.fails([]string{"403"}, "network", "flavor", "delete", fid)
	user.fails([]string{"403"}, "network", "flavor", "profile", "create", "--driver", "routed")
	user.fails([]string{"No ServiceProfile found"}, "network", "flavor", "profile", "show", pid)
	// The CLI looks the (invisible) profile up first.
	user.fails([]string{"No ServiceProfile found"}, "network", "flavor", "remove", "profile", fid, pid)
	admin.ok(&shown, "network", "flavor", "show", fid)
	if ids, _ := shown["service_profile_ids"].([]any); len(ids) != 1 || ids[0] != pid {
		t.Fatalf("binding changed by a user: %v", shown)
	}

	// Unbind, change, delete.
	admin.ok(nil, "network", "flavor", "remove", "profile", "f1", pid)
	admin.ok(&shown, "network", "flavor", "show", fid)
	if ids, _ := shown["service_profile_ids"].([]any); len(ids) != 0 {
		t.Fatalf("binding left after remove profile: %v", shown)
	}
	admin.ok(nil, "network", "flavor", "set", "--disable", "--name", "f2", "f1")
	admin.ok(&shown, "network", "flavor", "show", fid)
	if shown["name"] != "f2" || shown["enabled"] != false {
		t.Fatalf("flavor after set: %v", shown)
	}
	admin.ok(nil, "network", "flavor", "profile", "set", "--description", "free", "--disable", pid)
	admin.ok(&p, "network", "flavor", "profile", "show", pid)
	if p["description"] != "free" || p["enabled"] != false {
		t.Fatalf("profile after set: %v", p)
	}
	admin.ok(nil, "network", "flavor", "profile", "delete", pid)
	admin.ok(nil, "network", "flavor", "delete", fid)
	admin.ok(&flavors, "network", "flavor", "list")
	if len(flavors) != 0 {
		t.Fatalf("flavors left: %v", flavors)
	}
}
