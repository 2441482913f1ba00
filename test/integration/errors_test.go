package integration

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestRequestErrors: malformed and invalid requests get 4xx Neutron faults
// (never 5xx) and change nothing. Where Neutron's fault type is certain it
// is checked too: neutron/pecan_wsgi/hooks/body_validation.py:43-51
// ("Body contains invalid data") and neutron/api/v2/base.py:715-779
// (prepare_request_body: envelope, read-only attributes) raise webob
// HTTPBadRequest, as do neutron_lib/api/attributes.py validators
// (convert_values :228-238, verify_attributes, fill_post_defaults,
// populate_project_info :55-57). Conversion failures (booleans, integers)
// are InvalidInput in Neutron, see TestConversionErrors_Neutron, so only
// their status is checked here.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "target")
	item := "/v2.0/networks/" + n.ID
	long := strings.Repeat("x", 256)

	cases := []struct {
		name         string
		method, path string
		body         string
		status       int
		typ          string
		message      string
	}{
		{"malformed JSON", "POST", "/v2.0/networks", `{"network": {"name": "x"`, 400, "HTTPBadRequest", ""},
		{"not JSON", "POST", "/v2.0/networks", `network name=x`, 400, "HTTPBadRequest", ""},
		{"empty body", "POST", "/v2.0/networks", ``, 400, "HTTPBadRequest", ""},
		{"JSON list", "POST", "/v2.0/networks", `[]`, 400, "HTTPBadRequest", ""},
		{"JSON null", "POST", "/v2.0/networks", `null`, 400, "HTTPBadRequest", ""},
		{"JSON string", "POST", "/v2.0/networks", `"network"`, 400, "HTTPBadRequest", ""},
		{"no envelope", "POST", "/v2.0/networks", `{"name": "x"}`, 400, "HTTPBadRequest", "Unable to find 'network' in request body"},
		{"wrong envelope", "POST", "/v2.0/networks", `{"port": {"name": "x"}}`, 400, "HTTPBadRequest", "Unable to find 'network' in request body"},
		{"envelope null", "POST", "/v2.0/networks", `{"network": null}`, 400, "HTTPBadRequest", ""},
		{"envelope list", "POST", "/v2.0/networks", `{"network": []}`, 400, "HTTPBadRequest", ""},
		{"envelope string", "POST", "/v2.0/networks", `{"network": "x"}`, 400, "HTTPBadRequest", ""},
		{"unknown attribute", "POST", "/v2.0/networks", `{"network": {"foo": 1}}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'"},
		{"unknown and known attribute", "POST", "/v2.0/networks", `{"network": {"name": "x", "bar": true}}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'bar'"},
		{"boolean 'maybe'", "POST", "/v2.0/networks", `{"network": {"admin_state_up": "maybe"}}`, 400, "", ""},
		{"boolean 2", "POST", "/v2.0/networks", `{"network": {"port_security_enabled": 2}}`, 400, "", ""},
		{"boolean list", "POST", "/v2.0/networks", `{"network": {"admin_state_up": [true]}}`, 400, "", ""},
		{"boolean null", "POST", "/v2.0/networks", `{"network": {"admin_state_up": null}}`, 400, "", ""},
		{"name not a string", "POST", "/v2.0/networks", `{"network": {"name": 5}}`, 400, "HTTPBadRequest", ""},
		{"name object", "POST", "/v2.0/networks", `{"network": {"name": {"a": 1}}}`, 400, "HTTPBadRequest", ""},
		{"name too long", "POST", "/v2.0/networks", `{"network": {"name": "` + long + `"}}`, 400, "HTTPBadRequest", ""},
		{"description too long", "POST", "/v2.0/networks", `{"network": {"description": "` + long + `"}}`, 400, "HTTPBadRequest", ""},
		{"mtu not an integer", "POST", "/v2.0/networks", `{"network": {"mtu": "big"}}`, 400, "", ""},
		{"mtu too big", "POST", "/v2.0/networks", `{"network": {"mtu": 9000}}`, 400, "InvalidInput", "Invalid input for operation: Requested MTU is too big, maximum is 1500."},
		{"status on create", "POST", "/v2.0/networks", `{"network": {"status": "DOWN"}}`, 400, "HTTPBadRequest", ""},
		{"id on create", "POST", "/v2.0/networks", `{"network": {"id": "00000000-0000-0000-0000-000000000001"}}`, 400, "HTTPBadRequest", ""},
		{"revision_number on create", "POST", "/v2.0/networks", `{"network": {"revision_number": 7}}`, 400, "HTTPBadRequest", ""},
		{"project_id and tenant_id differ", "POST", "/v2.0/networks", `{"network": {"project_id": "a", "tenant_id": "b"}}`, 400, "HTTPBadRequest", "'project_id' and 'tenant_id' do not match"},
		{"bulk not a list", "POST", "/v2.0/networks", `{"networks": {"name": "x"}}`, 400, "HTTPBadRequest", ""},
		{"bulk item not an object", "POST", "/v2.0/networks", `{"networks": [1]}`, 400, "HTTPBadRequest", ""},
		{"bulk item invalid", "POST", "/v2.0/networks", `{"networks": [{"name": "ok"}, {"foo": 1}]}`, 400, "HTTPBadRequest", ""},

		{"PUT malformed JSON", "PUT", item, `{"network": `, 400, "HTTPBadRequest", ""},
		{"PUT no envelope", "PUT", item, `{"name": "x"}`, 400, "HTTPBadRequest", "Unable to find 'network' in request body"},
		{"PUT empty body", "PUT", item, ``, 400, "HTTPBadRequest", ""},
		{"PUT read-only status", "PUT", item, `{"network": {"status": "DOWN"}}`, 400, "HTTPBadRequest", "Cannot update read-only attribute status"},
		{"PUT read-only id", "PUT", item, `{"network": {"id": "x"}}`, 400, "HTTPBadRequest", "Cannot update read-only attribute id"},
		{"PUT read-only tenant_id", "PUT", item, `{"network": {"tenant_id": "other"}}`, 400, "HTTPBadRequest", "Cannot update read-only attribute tenant_id"},
		{"PUT read-only project_id", "PUT", item, `{"network": {"project_id": "other"}}`, 400, "HTTPBadRequest", ""},
		{"PUT unknown attribute", "PUT", item, `{"network": {"foo": 1}}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'"},
		{"PUT boolean 'maybe'", "PUT", item, `{"network": {"admin_state_up": "maybe"}}`, 400, "", ""},
		{"PUT mtu too big", "PUT", item, `{"network": {"mtu": 100000}}`, 400, "InvalidInput", ""},
		{"PUT bad If-Match", "PUT", item, `{"network": {"name": "x"}}`, 400, "", ""}, // see headers below

	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr map[string]string
			if c.name == "PUT bad If-Match" {
				hdr = map[string]string{"If-Match": "revision_number=abc"}
			}
			r := e.do(c.method, c.path, rawBody(c.body), hdr)
			ne := r.expectError(t, c.status, c.typ)
			if c.message != "" && ne.Message != c.message {
				t.Errorf("message %q, want %q", ne.Message, c.message)
			}
		})
	}

	// Unknown URLs are 404 (Neutron's routing answers those itself, so
	// only the status is checked).
	e.adminDo("GET", "/v2.0/widgets", nil).expect(t, http.StatusNotFound)
	e.adminDo("GET", "/v3/networks", nil).expect(t, http.StatusNotFound)

	// Whatever else a client sends, the answer is never a 5xx.
	odd := []struct{ method, path, body string }{
		{"POST", item, `{}`},
		{"DELETE", "/v2.0/networks", ``},
		{"PUT", "/v2.0/networks", `{"network": {}}`},
		{"PATCH", item, `{"network": {}}`},
		{"GET", "/v2.0/networks?sort_dir=desc", ``},
		{"GET", "/v2.0/networks?limit=99999999999999999999", ``},
		{"GET", "/v2.0/networks?marker=nonexistent&limit=1", ``},
		{"GET", "/v2.0/networks?fields=", ``},
		{"GET", "/v2.0/networks?revision_number=x", ``},
		{"GET", "/v2.0/networks?mtu=big", ``},
		{"GET", "/v2.0/networks/" + strings.Repeat("a", 5000), ``},
		{"GET", "/v2.0/networks/%00", ``},
		{"PUT", item + "/tags/" + strings.Repeat("t", 300), ``},
		{"POST", "/v2.0/networks", `{"network": {"provider:network_type": null}}`},
		{"POST", "/v2.0/networks", `{"network": {"provider:segmentation_id": "x", "provider:network_type": "geneve"}}`},
		{"POST", "/v2.0/networks", `{"network": {"mtu": 1e400}}`},
		{"POST", "/v2.0/networks", `{"network": {"name": "\ud800"}}`},
		{"POST", "/v2.0/networks", `{"network": {"availability_zone_hints": "nova"}}`},
		{"POST", "/v2.0/networks", `{"network": {}, "extra": 1}`},
		{"POST", "/v2.0/networks", `{"networks": []}`},
		{"PUT", "/v2.0/quotas/x", `{"quota": null}`},
	}
	for _, c := range odd {
		r := e.do(c.method, c.path, rawBody(c.body), nil)
		if r.Status >= 500 {
			t.Errorf("%s", r)
		}
		if r.Status >= 400 && r.Header.Get("Content-Type") == "application/json" {
			parseNeutronError(t, r.Body)
		}
	}

	// None of it changed the network or created another one.
	got := listNets(t, e.admin, nil)
	if len(got) > 3 { // "{}" with an extra key, and a name with a lone surrogate (decoded as U+FFFD), are accepted
		t.Errorf("invalid requests created networks: %v", names(got))
	}
	if s := getNet(t, e.admin, n.ID); s.Name != "target" || s.RevisionNumber != n.RevisionNumber {
		t.Errorf("invalid requests changed the network: %+v", s)
	}
}

// TestBodyTooLarge: a body over 1 MiB is 413, for create and update.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "n")
	var b bytes.Buffer
	b.WriteString(`{"network": {"name": "`)
	b.WriteString(strings.Repeat("x", 1<<20+1024))
	b.WriteString(`"}}`)
	e.do("POST", "/v2.0/networks", rawBody(b.Bytes()), nil).expect(t, http.StatusRequestEntityTooLarge)
	e.do("PUT", "/v2.0/networks/"+n.ID, rawBody(b.Bytes()), nil).expect(t, http.StatusRequestEntityTooLarge)
	e.do("PUT", "/v2.0/networks/"+n.ID+"/tags", rawBody(b.Bytes()), nil).expect(t, http.StatusRequestEntityTooLarge)
	// Just under the limit is read (and refused for the name's length).
	var small bytes.Buffer
	small.WriteString(`{"network": {"name": "`)
	small.WriteString(strings.Repeat("x", 1<<20-100))
	small.WriteString(`"}}`)
	e.do("POST", "/v2.0/networks", rawBody(small.Bytes()), nil).expect(t, http.StatusBadRequest)
	if got := listNets(t, e.admin, nil); len(got) != 1 {
		t.Fatalf("oversized requests created networks: %v", names(got))
	}
}

// TestDeleteWithBody_Neutron: Neutron refuses a DELETE that carries a
// body with 400 and keeps the resource.
//
// Neutron: neutron/pecan_wsgi/controllers/resource.py:76-80 (ItemController
// .delete: "if request.body: msg = _('Request body is not supported in
// DELETE.'); raise webob.exc.HTTPBadRequest(msg)"); the same in the legacy
// controller, neutron/api/v2/base.py:566-570.
func TestDeleteWithBody_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "n")
	e.do("DELETE", "/v2.0/networks/"+n.ID, rawBody(`{"network": {}}`), nil).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	getNet(t, e.admin, n.ID)
}

// TestConversionErrors_Neutron: Neutron converts booleans with oslo's
// strict bool_from_string, which also accepts yes/no, on/off, t/f, y/n
// (any case), and reports a value it cannot convert as 400 InvalidInput
// ("Invalid input for operation: ..."), not HTTPBadRequest: the
// convert_to call is outside the try that maps validator failures to
// HTTPBadRequest.
//
// Neutron: neutron_lib/api/attributes.py:225-226 (convert_to called
// unguarded) vs :228-238 (validators -> exc_cls); neutron_lib/api/
// converters.py:28-41 (convert_to_boolean: bool_from_string(strict=True),
// InvalidInput "'%s' cannot be converted to boolean") and :55-67
// (convert_to_int: InvalidInput "'%s' is not an integer");
// oslo_utils/strutils.py:47-48 (TRUE_STRINGS/FALSE_STRINGS).
func TestConversionErrors_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("unconvertible boolean is InvalidInput", func(t *testing.T) {
		ne := e.adminDo("POST", "/v2.0/networks", rawBody(`{"network": {"admin_state_up": "maybe"}}`)).
			expectError(t, http.StatusBadRequest, "InvalidInput")
		if ne.Message != "Invalid input for operation: 'maybe' cannot be converted to boolean." {
			t.Errorf("message %q", ne.Message)
		}
	})
	t.Run("unconvertible integer is InvalidInput", func(t *testing.T) {
		ne := e.adminDo("POST", "/v2.0/networks", rawBody(`{"network": {"mtu": "big"}}`)).
			expectError(t, http.StatusBadRequest, "InvalidInput")
		if ne.Message != "Invalid input for operation: 'big' is not an integer." {
			t.Errorf("message %q", ne.Message)
		}
	})
	t.Run("yes/no/on/off/t/f/y/n are booleans", func(t *testing.T) {
		for s, want := range map[string]bool{"yes": true, "On": true, "t": true, "Y": true, "no": false, "OFF": false, "f": false, "n": false} {
			r := e.adminDo("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"admin_state_up": s}})
			if r.Status != http.StatusCreated {
				t.Errorf("admin_state_up %q: %s", s, r)
				continue
			}
			if got := r.object(t)["network"].(map[string]any)["admin_state_up"]; got != want {
				t.Errorf("admin_state_up %q became %v", s, got)
			}
		}
		// The same converter parses boolean filters.
		e.adminDo("GET", "/v2.0/networks?admin_state_up=yes", nil).expect(t, http.StatusOK)
	})
}

// TestNetworkMTUWithoutMinimum_Neutron: Neutron has no lower bound for a
// network's MTU beyond non-negative, and 0 (the attribute's default)
// means "the largest the segments allow".
//
// Neutron: neutron_lib/api/definitions/network_mtu_writable.py:54-57
// ('validate': {'type:non_negative': None}, 'default': 0);
// neutron/plugins/ml2/plugin.py:1121-1131 (_get_network_mtu: only "too
// big" is refused; "return net_mtu or max_mtu").
func TestNetworkMTUWithoutMinimum_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("mtu 0 is the maximum", func(t *testing.T) {
		r := e.adminDo("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"mtu": 0}}).expect(t, http.StatusCreated)
		if got := r.object(t)["network"].(map[string]any)["mtu"]; got != float64(1500) {
			t.Errorf("mtu %v, want 1500", got)
		}
	})
	t.Run("mtu 10 is accepted", func(t *testing.T) {
		r := e.adminDo("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"mtu": 10}}).expect(t, http.StatusCreated)
		if got := r.object(t)["network"].(map[string]any)["mtu"]; got != float64(10) {
			t.Errorf("mtu %v, want 10", got)
		}
	})
	t.Run("negative mtu is 400", func(t *testing.T) {
		e.adminDo("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"mtu": -1}}).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	})
}

// TestRequestEnvelope_Neutron: Neutron looks up the resource key in the
// body and ignores other top-level keys; an empty bulk list is 400
// "Resources required".
//
// Neutron: neutron/api/v2/base.py:731-737 (bulk: "if not
// body[collection]: raise HTTPBadRequest(_('Resources required'))") and
// :751-757 (res_dict = body.get(resource); other keys are not looked at).
func TestRequestEnvelope_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("empty bulk list is 400", func(t *testing.T) {
		ne := e.adminDo("POST", "/v2.0/networks", rawBody(`{"networks": []}`)).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
		if ne.Message != "Resources required" {
			t.Errorf("message %q", ne.Message)
		}
	})
	t.Run("extra top-level key is ignored", func(t *testing.T) {
		e.adminDo("POST", "/v2.0/networks", rawBody(`{"network": {"name": "x"}, "comment": "hi"}`)).expect(t, http.StatusCreated)
	})
}
