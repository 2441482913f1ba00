// Package integration drives a real spinel server (embedded etcd, loopback
// HTTP) through gophercloud, the Go OpenStack SDK, and through raw HTTP where
// exact status codes and NeutronError bodies matter. Behaviour is checked
// against Neutron's; tests whose names end in "_Neutron" pin behaviour taken
// from Neutron's source that spinel did not (yet) reproduce when they were
// written, with the evidence in a comment.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/spinel-net/spinel/internal/testserver"
)

// env is one running server and the clients that talk to it.
type env struct {
	t     *testing.T
	srv   *testserver.Server
	admin *gophercloud.ServiceClient // noauth admin in project "admin"
	http  *http.Client
}

// newEnv starts a server for t.
func newEnv(t *testing.T, opts ...testserver.Option) *env {
	t.Helper()
	srv := testserver.Start(t, opts...)
	e := &env{t: t, srv: srv, http: &http.Client{Timeout: 30 * time.Second}}
	e.admin = e.serviceClient(nil)
	return e
}

func (e *env) serviceClient(headers map[string]string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{}
	pc.HTTPClient = http.Client{Timeout: 30 * time.Second}
	return &gophercloud.ServiceClient{
		ProviderClient: pc,
		Endpoint:       e.srv.URL + "/v2.0/",
		ResourceBase:   e.srv.URL + "/v2.0/",
		MoreHeaders:    headers,
	}
}

// project returns a client acting as project p with the given roles
// (the server's default, member and reader, when none are given).
func (e *env) project(p string, roles ...string) *gophercloud.ServiceClient {
	return e.serviceClient(projectHeaders(p, roles...))
}

func projectHeaders(p string, roles ...string) map[string]string {
	h := map[string]string{"X-Project-Id": p}
	if len(roles) > 0 {
		h["X-Roles"] = strings.Join(roles, ",")
	}
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// ---- raw HTTP ----

// response is a raw HTTP exchange's outcome.
type response struct {
	Status int
	Body   []byte
	Header http.Header
	method string
	path   string
}

// rawBody marks a request body to be sent byte for byte.
type rawBody []byte

// do sends one request. path is relative to the server root ("/v2.0/...");
// body is nil, rawBody, or a value to encode as JSON; headers may be nil.
func (e *env) do(method, path string, body any, headers map[string]string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("building %s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &response{Status: resp.StatusCode, Body: data, Header: resp.Header, method: method, path: path}
}

// adminDo is do as the noauth admin.
func (e *env) adminDo(method, path string, body any) *response {
	e.t.Helper()
	return e.do(method, path, body, nil)
}

func (r *response) String() string {
	return r.method + " " + r.path + " -> " + http.StatusText(r.Status) + ": " + truncate(string(r.Body), 400)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// expect fails t unless the response has status code.
func (r *response) expect(t *testing.T, code int) *response {
	t.Helper()
	if r.Status != code {
		t.Fatalf("want %d, got %s", code, r)
	}
	return r
}

// object decodes a JSON object body.
func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v", r, err)
	}
	return m
}

// into decodes the JSON body into v.
func (r *response) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decoding body: %v", r, err)
	}
}

// neutronError is the body of a Neutron fault.
type neutronError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// parseNeutronError decodes {"NeutronError": {...}} and checks its shape:
// exactly the keys type, message and detail, all strings.
func parseNeutronError(t *testing.T, body []byte) neutronError {
	t.Helper()
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	raw, ok := outer["NeutronError"]
	if !ok || len(outer) != 1 {
		t.Fatalf("error body is not {\"NeutronError\": ...}: %s", body)
	}
	var inner map[string]any
	if err := json.Unmarshal(raw, &inner); err != nil {
		t.Fatalf("NeutronError is not an object: %s", body)
	}
	for _, k := range []string{"type", "message", "detail"} {
		if _, ok := inner[k].(string); !ok {
			t.Fatalf("NeutronError.%s missing or not a string: %s", k, body)
		}
	}
	if len(inner) != 3 {
		t.Fatalf("NeutronError has keys besides type, message and detail: %s", body)
	}
	var ne neutronError
	if err := json.Unmarshal(raw, &ne); err != nil {
		t.Fatal(err)
	}
	return ne
}

// expectError checks status and, when typ is not empty, the NeutronError type.
func (r *response) expectError(t *testing.T, status int, typ string) neutronError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want %d %s, got %s", status, typ, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error Content-Type is %q, want application/json", r, ct)
	}
	ne := parseNeutronError(t, r.Body)
	if typ != "" && ne.Type != typ {
		t.Fatalf("%s: NeutronError type %q, want %q", r, ne.Type, typ)
	}
	return ne
}

// expectGCError checks a gophercloud error: an unexpected response code
// with the given status and (if typ is not empty) NeutronError type.
func expectGCError(t *testing.T, err error, status int, typ string) neutronError {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %d %s, got success", status, typ)
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		t.Fatalf("want HTTP error %d %s, got %T: %v", status, typ, err, err)
	}
	if ue.Actual != status {
		t.Fatalf("want %d %s, got %d: %s", status, typ, ue.Actual, ue.Body)
	}
	ne := parseNeutronError(t, ue.Body)
	if typ != "" && ne.Type != typ {
		t.Fatalf("NeutronError type %q, want %q: %s", ne.Type, typ, ue.Body)
	}
	return ne
}

// ---- networks ----

// netView is a network as the API shows it, with every attribute spinel
// returns. Pointers distinguish null from absent only together with the
// raw map; see getNetRaw.
type netView struct {
	ID                    string   `json:"id"`
	Name                  string   `json:"name"`
	Description           string   `json:"description"`
	ProjectID             string   `json:"project_id"`
	TenantID              string   `json:"tenant_id"`
	CreatedAt             string   `json:"created_at"`
	UpdatedAt             string   `json:"updated_at"`
	RevisionNumber        int      `json:"revision_number"`
	Tags                  []string `json:"tags"`
	AdminStateUp          bool     `json:"admin_state_up"`
	Status                string   `json:"status"`
	Shared                bool     `json:"shared"`
	Subnets               []string `json:"subnets"`
	MTU                   int      `json:"mtu"`
	PortSecurityEnabled   bool     `json:"port_security_enabled"`
	RouterExternal        bool     `json:"router:external"`
	NetworkType           *string  `json:"provider:network_type"`
	PhysicalNetwork       *string  `json:"provider:physical_network"`
	SegmentationID        *int     `json:"provider:segmentation_id"`
	L2Adjacency           bool     `json:"l2_adjacency"`
	AvailabilityZoneHints []string `json:"availability_zone_hints"`
	AvailabilityZones     []string `json:"availability_zones"`
}

// extractNet decodes a gophercloud network result into netView and also
// checks gophercloud's own Extract works on it.
func extractNet(t *testing.T, r interface {
	Extract() (*networks.Network, error)
	ExtractInto(any) error
}) netView {
	t.Helper()
	if _, err := r.Extract(); err != nil {
		t.Fatalf("gophercloud Extract: %v", err)
	}
	var v netView
	if err := r.ExtractInto(&v); err != nil {
		t.Fatalf("ExtractInto: %v", err)
	}
	return v
}

// createNet creates a network through gophercloud and fails t on error.
func createNet(t *testing.T, c *gophercloud.ServiceClient, opts networks.CreateOptsBuilder) netView {
	t.Helper()
	r := networks.Create(ctx(t), c, opts)
	if r.Err != nil {
		t.Fatalf("creating network: %v", r.Err)
	}
	return extractNet(t, r)
}

// createNamed creates a network with only a name.
func createNamed(t *testing.T, c *gophercloud.ServiceClient, name string) netView {
	t.Helper()
	return createNet(t, c, networks.CreateOpts{Name: name})
}

// getNet shows a network through gophercloud.
func getNet(t *testing.T, c *gophercloud.ServiceClient, id string) netView {
	t.Helper()
	r := networks.Get(ctx(t), c, id)
	if r.Err != nil {
		t.Fatalf("showing network %s: %v", id, r.Err)
	}
	return extractNet(t, r)
}

// getNetRaw shows a network through raw HTTP and returns its attributes.
func (e *env) getNetRaw(t *testing.T, id string, headers map[string]string) map[string]any {
	t.Helper()
	m := e.do("GET", "/v2.0/networks/"+id, nil, headers).expect(t, http.StatusOK).object(t)
	n, ok := m["network"].(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("show body is not {\"network\": {...}}: %v", m)
	}
	return n
}

// listNets lists networks through gophercloud (all pages).
func listNets(t *testing.T, c *gophercloud.ServiceClient, opts networks.ListOptsBuilder) []netView {
	t.Helper()
	pages, err := networks.List(c, opts).AllPages(ctx(t))
	if err != nil {
		t.Fatalf("listing networks: %v", err)
	}
	var out []netView
	if err := networks.ExtractNetworksInto(pages, &out); err != nil {
		t.Fatalf("extracting networks: %v", err)
	}
	return out
}

// query is a ListOptsBuilder sending exactly these parameters, so that a
// parameter can repeat (?id=a&id=b) and any name can be used.
type query url.Values

func (q query) ToNetworkListQuery() (string, error) {
	if len(q) == 0 {
		return "", nil
	}
	return "?" + url.Values(q).Encode(), nil
}

// providerOpts adds the provider extension's single-segment attributes
// (provider:network_type, provider:physical_network,
// provider:segmentation_id) to a create request; gophercloud's provider
// package only builds the multi-segment "segments" form.
type providerOpts struct {
	networks.CreateOptsBuilder
	NetworkType     string
	PhysicalNetwork string
	SegmentationID  *int
}

func (o providerOpts) ToNetworkCreateMap() (map[string]any, error) {
	base, err := o.CreateOptsBuilder.ToNetworkCreateMap()
	if err != nil {
		return nil, err
	}
	n := base["network"].(map[string]any)
	if o.NetworkType != "" {
		n["provider:network_type"] = o.NetworkType
	}
	if o.PhysicalNetwork != "" {
		n["provider:physical_network"] = o.PhysicalNetwork
	}
	if o.SegmentationID != nil {
		n["provider:segmentation_id"] = *o.SegmentationID
	}
	return base, nil
}

// bodyOpts is a CreateOptsBuilder sending an arbitrary network body.
type bodyOpts map[string]any

func (b bodyOpts) ToNetworkCreateMap() (map[string]any, error) {
	return map[string]any{"network": map[string]any(b)}, nil
}

// rawUpdate is an UpdateOptsBuilder sending an arbitrary network body
// (networks.Update needs a struct for its header options).
type rawUpdate struct {
	Attrs map[string]any
}

func (b rawUpdate) ToNetworkUpdateMap() (map[string]any, error) {
	return map[string]any{"network": b.Attrs}, nil
}

// updateBody returns an UpdateOptsBuilder sending attrs.
func updateBody(attrs map[string]any) rawUpdate { return rawUpdate{Attrs: attrs} }

func ptr[T any](v T) *T { return &v }

// ids returns the ids of nets, in order.
func ids(nets []netView) []string {
	out := make([]string, len(nets))
	for i, n := range nets {
		out[i] = n.ID
	}
	return out
}

// sortedIDs returns the ids of nets, sorted.
func sortedIDs(nets []netView) []string {
	out := ids(nets)
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool { return slices.Equal(sorted(a), sorted(b)) }
