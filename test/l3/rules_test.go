package l3

// The rules of /work/shared/reference/l3-flavors.md section 9 and every
// edge case of section 5.5, with the router/floating IP details of
// sections 3 and 6 they rest on, driven through gophercloud wherever it
// has the call and through raw HTTP where it has not (flavors, service
// profiles, attributes gophercloud does not model, bodies it refuses to
// build, JSON nulls) or where the exact NeutronError matters.
//
// Tests whose names end in "_Spec" pin the behaviour of the specification
// (and of Neutron, whose source is quoted next to them) where spinel did
// not reproduce it when they were written.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/extraroutes"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// ---- environment ----

// rulesEnv is one server with a raw admin client and a gophercloud admin
// client.
type rulesEnv struct {
	t   *testing.T
	ctx context.Context
	srv *testserver.Server
	a   api                        // raw HTTP, admin
	sc  *gophercloud.ServiceClient // gophercloud, admin
}

func newRulesEnv(t *testing.T, opts ...testserver.Option) *rulesEnv {
	t.Helper()
	srv := testserver.Start(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &rulesEnv{t: t, ctx: ctx, srv: srv, a: api{t: t, base: srv.URL}}
	e.sc = e.client("")
	return e
}

// client is a noauth gophercloud client: admin without a project, else
// a member of project p.
func (e *rulesEnv) client(p string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{}
	sc := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: e.srv.URL + "/v2.0/", ResourceBase: e.srv.URL + "/v2.0/"}
	if p != "" {
		sc.MoreHeaders = map[string]string{"X-Project-Id": p}
	}
	return sc
}

// ok fails the test on err.
func (e *rulesEnv) ok(err error, what string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// gcFail requires err to be a gophercloud HTTP error with the given status
// and (unless typ is "") NeutronError type; it returns the message.
func (e *rulesEnv) gcFail(err error, status int, typ string) string {
	e.t.Helper()
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		e.t.Fatalf("want %d %s, got %v", status, typ, err)
	}
	var body struct {
		NeutronError struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"NeutronError"`
	}
	json.Unmarshal(ue.Body, &body)
	if ue.Actual != status || (typ != "" && body.NeutronError.Type != typ) {
		e.t.Fatalf("%s %s: got %d %s, want %d %s", ue.Method, ue.URL, ue.Actual, ue.Body, status, typ)
	}
	return body.NeutronError.Message
}

// ---- gophercloud option builders for attributes gophercloud lacks ----

// netCreate adds provider:network_type to networks.CreateOpts.
type netCreate struct {
	networks.CreateOptsBuilder
	Type string
}

func (o netCreate) ToNetworkCreateMap() (map[string]any, error) {
	b, err := o.CreateOptsBuilder.ToNetworkCreateMap()
	if err != nil {
		return nil, err
	}
	if o.Type != "" {
		b["network"].(map[string]any)["provider:network_type"] = o.Type
	}
	return b, nil
}

// routerCreate adds flavor_id and ha to routers.CreateOpts.
type routerCreate struct {
	routers.CreateOpts
	FlavorID *string
	HA       *bool
}

func (o routerCreate) ToRouterCreateMap() (map[string]any, error) {
	b, err := o.CreateOpts.ToRouterCreateMap()
	if err != nil {
		return nil, err
	}
	m := b["router"].(map[string]any)
	if o.FlavorID != nil {
		m["flavor_id"] = *o.FlavorID
	}
	if o.HA != nil {
		m["ha"] = *o.HA
	}
	return b, nil
}

// routerUpdate adds flavor_id and ha to routers.UpdateOpts.
type routerUpdate struct {
	routers.UpdateOpts
	FlavorID *string
	HA       *bool
}

func (o routerUpdate) ToRouterUpdateMap() (map[string]any, error) {
	b, err := o.UpdateOpts.ToRouterUpdateMap()
	if err != nil {
		return nil, err
	}
	m, _ := b["router"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		b["router"] = m
	}
	if o.FlavorID != nil {
		m["flavor_id"] = *o.FlavorID
	}
	if o.HA != nil {
		m["ha"] = *o.HA
	}
	return b, nil
}

// rtr is a router with the attributes gophercloud's Router lacks.
type rtr struct {
	ID           string               `json:"id"`
	Status       string               `json:"status"`
	AdminStateUp bool                 `json:"admin_state_up"`
	FlavorID     *string              `json:"flavor_id"`
	HA           bool                 `json:"ha"`
	Distributed  bool                 `json:"distributed"`
	Routes       []routers.Route      `json:"routes"`
	GatewayInfo  *routers.GatewayInfo `json:"external_gateway_info"`
}

func bptr(b bool) *bool        { return &b }
func sptr(s string) *string    { return &s }
func noGateway() *string       { return sptr("") }
func str(v any) string         { s, _ := v.(string); return s }
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// ---- resource helpers ----

func (e *rulesEnv) network(sc *gophercloud.ServiceClient, name, typ string, ext bool) string {
	e.t.Helper()
	var b networks.CreateOptsBuilder = networks.CreateOpts{Name: name}
	if ext {
		b = external.CreateOptsExt{CreateOptsBuilder: b, External: bptr(true)}
	}
	n, err := networks.Create(e.ctx, sc, netCreate{CreateOptsBuilder: b, Type: typ}).Extract()
	e.ok(err, "create network "+name)
	return n.ID
}

func (e *rulesEnv) subnet(sc *gophercloud.ServiceClient, netID, cidr string, gw *string) string {
	e.t.Helper()
	s, err := subnets.Create(e.ctx, sc, subnets.CreateOpts{NetworkID: netID, CIDR: cidr, IPVersion: gophercloud.IPv4, GatewayIP: gw}).Extract()
	e.ok(err, "create subnet "+cidr)
	return s.ID
}

func (e *rulesEnv) port(sc *gophercloud.ServiceClient, o ports.CreateOpts) *ports.Port {
	e.t.Helper()
	p, err := ports.Create(e.ctx, sc, o).Extract()
	e.ok(err, "create port")
	return p
}

func (e *rulesEnv) createRouter(sc *gophercloud.ServiceClient, o routerCreate) (*rtr, error) {
	var r rtr
	err := routers.Create(e.ctx, sc, o).ExtractIntoStructPtr(&r, "router")
	return &r, err
}

func (e *rulesEnv) router(sc *gophercloud.ServiceClient, o routerCreate) *rtr {
	e.t.Helper()
	r, err := e.createRouter(sc, o)
	e.ok(err, "create router")
	return r
}

// gwRouter creates a router with a gateway on extNet (and a flavor if
// flavorID is not "").
func (e *rulesEnv) gwRouter(sc *gophercloud.ServiceClient, name, extNet, flavorID string) *rtr {
	e.t.Helper()
	o := routerCreate{CreateOpts: routers.CreateOpts{Name: name, GatewayInfo: &routers.GatewayInfo{NetworkID: extNet}}}
	if flavorID != "" {
		o.FlavorID = &flavorID
	}
	return e.router(sc, o)
}

func (e *rulesEnv) updateRouter(sc *gophercloud.ServiceClient, rid string, o routerUpdate) (*rtr, error) {
	var r rtr
	err := routers.Update(e.ctx, sc, rid, o).ExtractIntoStructPtr(&r, "router")
	return &r, err
}

func (e *rulesEnv) getRouter(rid string) *rtr {
	e.t.Helper()
	var r rtr
	e.ok(routers.Get(e.ctx, e.sc, rid).ExtractIntoStructPtr(&r, "router"), "get router")
	return &r
}

func (e *rulesEnv) addSubnet(sc *gophercloud.ServiceClient, rid, sid string) *routers.InterfaceInfo {
	e.t.Helper()
	info, err := routers.AddInterface(e.ctx, sc, rid, routers.AddInterfaceOpts{SubnetID: sid}).Extract()
	e.ok(err, "add_router_interface subnet")
	return info
}

func (e *rulesEnv) fip(sc *gophercloud.ServiceClient, o floatingips.CreateOpts) *floatingips.FloatingIP {
	e.t.Helper()
	f, err := floatingips.Create(e.ctx, sc, o).Extract()
	e.ok(err, "create floating IP")
	return f
}

func (e *rulesEnv) updateFIP(sc *gophercloud.ServiceClient, fid string, o floatingips.UpdateOpts) (*floatingips.FloatingIP, error) {
	return floatingips.Update(e.ctx, sc, fid, o).Extract()
}

// rawFIP is the floating IP as JSON, to tell null from "".
func (e *rulesEnv) rawFIP(fid string) map[string]any {
	e.t.Helper()
	return e.a.must(200, "GET", "/v2.0/floatingips/"+fid, nil, "floatingip")
}

// wantNull requires each key to be present in m with the value null.
func wantNull(t *testing.T, m map[string]any, what string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, present := m[k]
		if !present || v != nil {
			t.Errorf("%s: %s = %v (present %v), want null", what, k, v, present)
		}
	}
}

// wantMsg requires msg to contain part.
func wantMsg(t *testing.T, msg, part string) {
	t.Helper()
	if !strings.Contains(msg, part) {
		t.Errorf("message %q does not contain %q", msg, part)
	}
}

// wantAssoc checks a floating IP's association (all empty: none).
func wantAssoc(t *testing.T, f *floatingips.FloatingIP, port, fixed, router string) {
	t.Helper()
	if f.PortID != port || f.FixedIP != fixed || f.RouterID != router {
		t.Errorf("floating IP %s: port_id=%q fixed_ip_address=%q router_id=%q, want %q %q %q",
			f.ID, f.PortID, f.FixedIP, f.RouterID, port, fixed, router)
	}
}

// profile creates a service profile.
func profile(a api, body map[string]any) string {
	return id(a.must(201, "POST", "/v2.0/service_profiles", map[string]any{"service_profile": body}, "service_profile"))
}

// bareFlavor creates a flavor without binding.
func bareFlavor(a api, body map[string]any) string {
	return id(a.must(201, "POST", "/v2.0/flavors", map[string]any{"flavor": body}, "flavor"))
}

func bind(a api, fid, pid string) {
	a.must(201, "POST", "/v2.0/flavors/"+fid+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": pid}}, "")
}

// backendMeta is the metainfo of an external profile pointing at b.
func backendMeta(b *backend) string {
	m, _ := json.Marshal(map[string]string{"url": b.srv.URL, "timeout": "2s"})
	return string(m)
}

// routedFlavor creates a flavor bound to a profile of the routed driver.
func routedFlavor(a api) string {
	f := bareFlavor(a, map[string]any{"name": "routed", "service_type": l3.ServiceType})
	bind(a, f, profile(a, map[string]any{"driver": "routed"}))
	return f
}

// backendRouter returns what backend b holds for router rid.
func backendRouter(b *backend, rid string) (routes []string, fips []string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.routers[rid]
	for _, rt := range r.Routes {
		routes = append(routes, rt.Destination+">"+rt.Nexthop)
	}
	for _, f := range r.FloatingIPs {
		fips = append(fips, f.ID)
	}
	sort.Strings(routes)
	sort.Strings(fips)
	return routes, fips, ok
}

func routeStrings(rs []routers.Route) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.DestinationCIDR+">"+r.NextHop)
	}
	sort.Strings(out)
	return out
}

// optionalDriver is an L3 driver that serves routers without a flavor
// and supports both ha and distributed optionally (as Neutron's dvrha /
// a user-defined driver would), so that the rules on changing them can
// be exercised on unflavored routers.
type optionalDriver struct{}

func (optionalDriver) Capabilities() l3.Capabilities {
	return l3.Capabilities{HA: l3.Optional, Distributed: l3.Optional, FloatingIPs: true}
}
func (optionalDriver) Validate(l3.Operation, *l3.Router) error { return nil }
func (optionalDriver) Sync(context.Context, *l3.Router) (l3.Status, error) {
	return l3.Status{Router: "ACTIVE"}, nil
}
func (optionalDriver) Delete(context.Context, string) error { return nil }

// optionalProvider configures one provider "basic" of optionalDriver.
func optionalProvider(isDefault bool) testserver.Option {
	return func(c *server.Config) {
		c.Service.Providers = []l3.Provider{{ServiceType: l3.ServiceType, Name: "basic", Driver: "optional", Default: isDefault}}
		c.ExtraDrivers = map[string]l3.Driver{"optional": optionalDriver{}}
	}
}

// ---- section 9: flavor, profile and binding rules ----

// TestFlavorAdminRules: flavor/profile/binding CRUD is admin-only; flavors
// are readable by users, service profiles are not; a profile needs a
// configured driver (404) or metainfo (400); bound profiles cannot be
// updated or deleted (409); a flavor in use by a router cannot be deleted
// (409); duplicate binding 409; missing binding 404.
func TestFlavorAdminRules(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, u := e.a, e.a.as("p1")

	u.fail(403, "PolicyNotAuthorized", "POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"service_type": l3.ServiceType}})
	u.fail(403, "PolicyNotAuthorized", "POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "routed"}})

	a.fail(404, "ServiceProfileDriverNotFound", "POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "nope"}})
	a.fail(400, "ServiceProfileEmpty", "POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"description": "nothing"}})

	f := bareFlavor(a, map[string]any{"name": "gold", "service_type": l3.ServiceType})
	p := profile(a, map[string]any{"driver": "routed"})
	u.fail(403, "PolicyNotAuthorized", "POST", "/v2.0/flavors/"+f+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": p}})
	a.fail(404, "FlavorServiceProfileBindingNotFound", "DELETE", "/v2.0/flavors/"+f+"/service_profiles/"+p, nil)
	bind(a, f, p)
	a.fail(409, "FlavorServiceProfileBindingExists", "POST", "/v2.0/flavors/"+f+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": p}})
	u.fail(403, "PolicyNotAuthorized", "DELETE", "/v2.0/flavors/"+f+"/service_profiles/"+p, nil)

	// Users read flavors (with their bindings) but not profiles.
	if got := u.must(200, "GET", "/v2.0/flavors/"+f, nil, "flavor"); got["name"] != "gold" || fmt.Sprint(got["service_profiles"]) != fmt.Sprint([]any{p}) {
		t.Errorf("flavor as seen by a user: %v", got)
	}
	if l := u.must(200, "GET", "/v2.0/flavors", nil, "")["flavors"].([]any); len(l) != 1 {
		t.Errorf("user flavor list: %v", l)
	}
	if l := u.must(200, "GET", "/v2.0/service_profiles", nil, "")["service_profiles"].([]any); len(l) != 0 {
		t.Errorf("user sees service profiles: %v", l)
	}
	u.fail(404, "ServiceProfileNotFound", "GET", "/v2.0/service_profiles/"+p, nil)
	u.fail(403, "PolicyNotAuthorized", "PUT", "/v2.0/flavors/"+f, map[string]any{"flavor": map[string]any{"name": "mine"}})
	u.fail(403, "PolicyNotAuthorized", "DELETE", "/v2.0/flavors/"+f, nil)

	// Bound profiles are frozen.
	a.fail(409, "ServiceProfileInUse", "PUT", "/v2.0/service_profiles/"+p, map[string]any{"service_profile": map[string]any{"description": "x"}})
	a.fail(409, "ServiceProfileInUse", "DELETE", "/v2.0/service_profiles/"+p, nil)

	// A router of the flavor makes it undeletable.
	r := e.router(e.sc, routerCreate{FlavorID: &f})
	a.fail(409, "FlavorInUse", "DELETE", "/v2.0/flavors/"+f, nil)
	e.ok(routers.Delete(e.ctx, e.sc, r.ID).ExtractErr(), "delete router")

	// Unbound, the profile can change and go; the flavor can go.
	a.must(204, "DELETE", "/v2.0/flavors/"+f+"/service_profiles/"+p, nil, "")
	a.must(200, "PUT", "/v2.0/service_profiles/"+p, map[string]any{"service_profile": map[string]any{"description": "x"}}, "service_profile")
	a.must(204, "DELETE", "/v2.0/service_profiles/"+p, nil, "")
	a.must(204, "DELETE", "/v2.0/flavors/"+f, nil, "")
}

// ---- sections 3.1-3.4 and 9: router flavor_id and provider selection ----

// TestRouterFlavorResolution: flavor 404 -> no binding 404 -> profile
// disabled 503 -> driver 404 -> explicit ha/distributed incompatible 400,
// and spinel's own refusals of disabled flavors and flavors of another
// service type (400); flavor_id is null when absent and immutable; a
// flavor in use cannot be deleted; refused routers leave nothing behind.
func TestRouterFlavorResolution(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc := e.a, e.sc
	b := newBackend(t, "s3cret")
	good := profile(a, map[string]any{"driver": "external", "metainfo": backendMeta(b)})
	xf := bareFlavor(a, map[string]any{"name": "ext", "service_type": l3.ServiceType})
	bind(a, xf, good)

	try := func(o routerCreate) error { _, err := e.createRouter(sc, o); return err }

	// 1. The flavor: any string, no UUID validation; null counts as given.
	e.gcFail(try(routerCreate{FlavorID: sptr("00000000-0000-0000-0000-000000000000")}), 404, "FlavorNotFound")
	e.gcFail(try(routerCreate{FlavorID: sptr("gold")}), 404, "FlavorNotFound")
	a.fail(404, "FlavorNotFound", "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "n", "flavor_id": nil}})

	// 2. Its first binding.
	unbound := bareFlavor(a, map[string]any{"name": "unbound", "service_type": l3.ServiceType})
	e.gcFail(try(routerCreate{FlavorID: &unbound}), 404, "FlavorServiceProfileBindingNotFound")

	// 3. The profile must be enabled.
	off := bareFlavor(a, map[string]any{"name": "off", "service_type": l3.ServiceType})
	bind(a, off, profile(a, map[string]any{"driver": "external", "metainfo": backendMeta(b), "enabled": false}))
	e.gcFail(try(routerCreate{FlavorID: &off}), 503, "ServiceProfileDisabled")

	// 4. Its driver must be a configured provider's.
	meta := bareFlavor(a, map[string]any{"name": "meta", "service_type": l3.ServiceType})
	bind(a, meta, profile(a, map[string]any{"metainfo": "{}"}))
	e.gcFail(try(routerCreate{FlavorID: &meta}), 404, "ServiceProfileDriverNotFound")

	// spinel refuses disabled flavors and flavors of another service type
	// (Neutron checks neither; internal/service/flavors.go FlavorProfile).
	disabled := bareFlavor(a, map[string]any{"name": "disabled", "service_type": l3.ServiceType, "enabled": false})
	bind(a, disabled, good)
	e.gcFail(try(routerCreate{FlavorID: &disabled}), 400, "InvalidInput")
	other := bareFlavor(a, map[string]any{"name": "other", "service_type": "FLAVORS"})
	bind(a, other, good)
	e.gcFail(try(routerCreate{FlavorID: &other}), 400, "InvalidInput")

	// 5. Explicit flags against the driver: routed (flavored or default)
	// has ha UNSUPPORTED and distributed MANDATORY.
	rf := routedFlavor(a)
	for _, fl := range []*string{nil, &rf} {
		msg := e.gcFail(try(routerCreate{FlavorID: fl, HA: bptr(true)}), 400, "InvalidInput")
		if !strings.Contains(msg, "Provider routed does not support ha=True") {
			t.Errorf("ha=True refusal: %s", msg)
		}
		msg = e.gcFail(try(routerCreate{FlavorID: fl, CreateOpts: routers.CreateOpts{Distributed: bptr(false)}}), 400, "InvalidInput")
		if !strings.Contains(msg, "Provider routed does not support distributed=False") {
			t.Errorf("distributed=False refusal: %s", msg)
		}
	}
	if n := len(a.must(200, "GET", "/v2.0/routers", nil, "")["routers"].([]any)); n != 0 {
		t.Fatalf("refused routers were written: %d", n)
	}

	// Accepted: routed flavor with its mandatory flag, external flavor
	// with both optional flags chosen.
	rr := e.router(sc, routerCreate{FlavorID: &rf, CreateOpts: routers.CreateOpts{Distributed: bptr(true)}, HA: bptr(false)})
	if rr.FlavorID == nil || *rr.FlavorID != rf || !rr.Distributed || rr.HA {
		t.Errorf("routed-flavor router: %+v", rr)
	}
	xr := e.router(sc, routerCreate{FlavorID: &xf, CreateOpts: routers.CreateOpts{Distributed: bptr(false)}, HA: bptr(true)})
	if xr.FlavorID == nil || *xr.FlavorID != xf || xr.Distributed || !xr.HA {
		t.Errorf("external-flavor router: %+v", xr)
	}
	eventually(t, 5*time.Second, "external router at its backend", func() bool { _, _, ok := backendRouter(b, xr.ID); return ok })

	// flavor_id is null (not absent) without a flavor, in show and list.
	plain := e.router(sc, routerCreate{CreateOpts: routers.CreateOpts{Name: "plain"}})
	if plain.FlavorID != nil || !plain.Distributed || plain.HA {
		t.Errorf("default router: %+v", plain)
	}
	wantNull(t, a.must(200, "GET", "/v2.0/routers/"+plain.ID, nil, "router"), "router show", "flavor_id")
	for _, r := range a.must(200, "GET", "/v2.0/routers?name=plain", nil, "")["routers"].([]any) {
		wantNull(t, obj(r), "router list", "flavor_id")
	}

	// flavor_id is immutable, even to the same value.
	_, err := e.updateRouter(sc, plain.ID, routerUpdate{FlavorID: &xf})
	if msg := e.gcFail(err, 400, ""); !strings.Contains(msg, "flavor_id") {
		t.Errorf("flavor_id update refusal: %s", msg)
	}
	_, err = e.updateRouter(sc, xr.ID, routerUpdate{FlavorID: &xf})
	e.gcFail(err, 400, "")
	if got := e.getRouter(xr.ID); got.FlavorID == nil || *got.FlavorID != xf {
		t.Errorf("flavor_id after refused update: %v", got.FlavorID)
	}

	// A flavor in use cannot be deleted; once its router is gone it can.
	a.fail(409, "FlavorInUse", "DELETE", "/v2.0/flavors/"+xf, nil)
	a.fail(409, "FlavorInUse", "DELETE", "/v2.0/flavors/"+rf, nil)
	e.ok(routers.Delete(e.ctx, sc, xr.ID).ExtractErr(), "delete router")
	eventually(t, 5*time.Second, "router gone from its backend", func() bool { _, _, ok := backendRouter(b, xr.ID); return !ok })
	a.must(204, "DELETE", "/v2.0/flavors/"+xf, nil, "")

	// Tenants may not choose ha or distributed, with or without a flavor.
	tc := e.client("p1")
	_, err = e.createRouter(tc, routerCreate{HA: bptr(false)})
	e.gcFail(err, 403, "PolicyNotAuthorized")
	_, err = e.createRouter(tc, routerCreate{FlavorID: &rf, CreateOpts: routers.CreateOpts{Distributed: bptr(true)}})
	e.gcFail(err, 403, "PolicyNotAuthorized")
	tr := e.router(tc, routerCreate{FlavorID: &rf})
	if tr.FlavorID == nil || *tr.FlavorID != rf {
		t.Errorf("tenant router of a flavor: %+v", tr)
	}
}

// TestRouterWithoutDefaultProvider_Spec: section 9 "Without flavor:
// default provider first, else capability match on effective
// ha/distributed" (section 3.3: "Candidate order: the configured default
// provider first (if any), then all loaded L3 drivers ... First driver
// compatible with both flags wins"; neutron/services/l3_router/
// service_providers/driver_controller.py _get_provider_for_create ->
// _attrs_to_driver). With one configured provider that is not marked
// default but supports both flags optionally, a router without a flavor
// goes to it. spinel answers 501 ("No default L3 provider is configured;
// choose a flavor.", internal/service/routers.go selectProvider).
func TestRouterWithoutDefaultProvider_Spec(t *testing.T) {
	e := newRulesEnv(t, optionalProvider(false))
	r, err := e.createRouter(e.sc, routerCreate{CreateOpts: routers.CreateOpts{Name: "plain"}})
	if err != nil {
		t.Fatalf("router without flavor and without a default provider: %v (want it on the only compatible provider, basic)", err)
	}
	if r.FlavorID != nil || r.HA || r.Distributed {
		t.Errorf("router: %+v", r)
	}
}

// ---- section 3.5: changing ha / distributed ----

// TestRouterHADistributedUpdates on the two configured providers:
// unflavored routed routers cannot take values their provider does not
// support (400 naming the provider) even while down, may restate the
// values they have while up; flavored routers refuse changes (400);
// tenants get 403 and do not see the attributes.
func TestRouterHADistributedUpdates(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc := e.a, e.sc
	b := newBackend(t, "s3cret")
	xf, rf := flavor(a, "ext", b), routedFlavor(a)

	plain := e.router(sc, routerCreate{})
	_, err := e.updateRouter(sc, plain.ID, routerUpdate{HA: bptr(true), UpdateOpts: routers.UpdateOpts{AdminStateUp: bptr(false)}})
	if msg := e.gcFail(err, 400, "InvalidInput"); !strings.Contains(msg, "Provider routed does not support ha=True") {
		t.Errorf("ha=True on routed: %s", msg)
	}
	_, err = e.updateRouter(sc, plain.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(false), AdminStateUp: bptr(false)}})
	if msg := e.gcFail(err, 400, "InvalidInput"); !strings.Contains(msg, "Provider routed does not support distributed=False") {
		t.Errorf("distributed=False on routed: %s", msg)
	}
	if got := e.getRouter(plain.ID); !got.AdminStateUp || got.HA || !got.Distributed {
		t.Errorf("refused updates changed the router: %+v", got)
	}
	// Restating the current values is no change: fine while up.
	got, err := e.updateRouter(sc, plain.ID, routerUpdate{HA: bptr(false), UpdateOpts: routers.UpdateOpts{Distributed: bptr(true)}})
	e.ok(err, "restate ha/distributed")
	if got.HA || !got.Distributed || !got.AdminStateUp {
		t.Errorf("after restating: %+v", got)
	}

	// Flavored routers: an incompatible change names the flavor rule...
	rr := e.router(sc, routerCreate{FlavorID: &rf})
	_, err = e.updateRouter(sc, rr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(false), AdminStateUp: bptr(false)}})
	if msg := e.gcFail(err, 400, "InvalidInput"); !strings.Contains(msg, "associated with a flavor") {
		t.Errorf("distributed change on a flavored router: %s", msg)
	}
	// ...and a change of an active external-flavor router is refused too.
	xr := e.router(sc, routerCreate{FlavorID: &xf})
	_, err = e.updateRouter(sc, xr.ID, routerUpdate{HA: bptr(true)})
	e.gcFail(err, 400, "")
	_, err = e.updateRouter(sc, xr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(true)}})
	e.gcFail(err, 400, "")
	if got := e.getRouter(xr.ID); got.HA || got.Distributed {
		t.Errorf("refused updates changed the external router: %+v", got)
	}

	// Tenants: 403 for ha/distributed, and they do not see them.
	tc := e.client("p1")
	tr := e.router(tc, routerCreate{CreateOpts: routers.CreateOpts{Name: "mine"}})
	_, err = e.updateRouter(tc, tr.ID, routerUpdate{HA: bptr(false)})
	e.gcFail(err, 403, "PolicyNotAuthorized")
	_, err = e.updateRouter(tc, tr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(true)}})
	e.gcFail(err, 403, "PolicyNotAuthorized")
	seen := a.as("p1").must(200, "GET", "/v2.0/routers/"+tr.ID, nil, "router")
	for _, k := range []string{"ha", "distributed"} {
		if _, ok := seen[k]; ok {
			t.Errorf("tenant sees %s: %v", k, seen)
		}
	}
	if _, ok := seen["flavor_id"]; !ok {
		t.Errorf("tenant does not see flavor_id: %v", seen)
	}
}

// TestRouterHADistributedUnflavored: on a provider that supports both
// flags optionally (the default one here), an unflavored router may
// change ha only when it is down after the update (one request with
// admin_state_up false suffices), and distributed only when it is down
// both before and after; moving distributed -> centralized keeps ha.
func TestRouterHADistributedUnflavored(t *testing.T) {
	e := newRulesEnv(t, optionalProvider(true))
	sc := e.sc
	r := e.router(sc, routerCreate{})
	if r.HA || r.Distributed || r.FlavorID != nil {
		t.Fatalf("router on the optional provider: %+v", r)
	}
	upd := func(o routerUpdate) (*rtr, error) { return e.updateRouter(sc, r.ID, o) }
	down, up := bptr(false), bptr(true)

	_, err := upd(routerUpdate{HA: bptr(true)})
	if msg := e.gcFail(err, 400, ""); !strings.Contains(msg, "HA") {
		t.Errorf("ha change of an active router: %s", msg)
	}
	got, err := upd(routerUpdate{HA: bptr(true), UpdateOpts: routers.UpdateOpts{AdminStateUp: down}})
	e.ok(err, "ha change with admin_state_up false in the same request")
	if !got.HA || got.AdminStateUp {
		t.Errorf("after ha change: %+v", got)
	}
	_, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{AdminStateUp: up}})
	e.ok(err, "admin up")

	_, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(true), AdminStateUp: down}})
	if msg := e.gcFail(err, 400, ""); !strings.Contains(msg, "distributed") {
		t.Errorf("distributed change of an active router: %s", msg)
	}
	if got := e.getRouter(r.ID); got.Distributed || !got.AdminStateUp {
		t.Errorf("refused distributed change applied: %+v", got)
	}
	_, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{AdminStateUp: down}})
	e.ok(err, "admin down")
	got, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(true)}})
	e.ok(err, "distributed change while down")
	if !got.Distributed || !got.HA {
		t.Errorf("after distributed change: %+v", got)
	}
	_, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(false), AdminStateUp: up}})
	e.gcFail(err, 400, "")
	got, err = upd(routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(false)}})
	e.ok(err, "distributed -> centralized while down")
	if got.Distributed || !got.HA {
		t.Errorf("distributed -> centralized flipped ha: %+v", got)
	}
	// Tenants still get 403.
	tr := e.router(e.client("p1"), routerCreate{})
	_, err = e.updateRouter(e.client("p1"), tr.ID, routerUpdate{HA: bptr(true), UpdateOpts: routers.UpdateOpts{AdminStateUp: down}})
	e.gcFail(err, 403, "PolicyNotAuthorized")
}

// TestFlavoredRouterCompatibleChange_Spec: section 3.5 "If the requested
// flags are compatible with the current driver, nothing changes
// provider-wise. Otherwise, if the router has a flavor -> 400". The
// external provider supports ha and distributed optionally, so a down
// external-flavor router may change both (driver_controller.py
// _update_router_provider: _ensure_driver_supports_request(drv, body)
// passes, so the flavor check is never reached; only the admin-state
// rules apply). spinel refuses every change on a flavored router
// (internal/service/routers.go updateRouter: "Changing the 'ha' and
// 'distributed' attributes on a router associated with a flavor is not
// supported").
func TestFlavoredRouterCompatibleChange_Spec(t *testing.T) {
	e := newRulesEnv(t, providers)
	b := newBackend(t, "s3cret")
	xf := flavor(e.a, "ext", b)
	xr := e.router(e.sc, routerCreate{FlavorID: &xf, CreateOpts: routers.CreateOpts{AdminStateUp: bptr(false)}})
	got, err := e.updateRouter(e.sc, xr.ID, routerUpdate{HA: bptr(true)})
	if err != nil {
		t.Fatalf("ha=true on a down router whose provider supports it: %v", err)
	}
	if !got.HA {
		t.Errorf("ha not changed: %+v", got)
	}
	got, err = e.updateRouter(e.sc, xr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Distributed: bptr(true)}})
	if err != nil {
		t.Fatalf("distributed=true on a down router whose provider supports it: %v", err)
	}
	if !got.Distributed || !got.HA || got.FlavorID == nil || *got.FlavorID != xf {
		t.Errorf("after distributed change: %+v", got)
	}
}

// ---- section 5: floating IPs ----

// fipTopo is an external network, an internal (routed) network with a
// subnet, and a routed router connecting them by subnet.
type fipTopo struct {
	ext, extSub, net, sub, router string
}

func (e *rulesEnv) fipTopology(extCIDR, intCIDR string) fipTopo {
	e.t.Helper()
	var tp fipTopo
	tp.ext = e.network(e.sc, "ext", "", true)
	tp.extSub = e.subnet(e.sc, tp.ext, extCIDR, nil)
	tp.net = e.network(e.sc, "int", "", false)
	tp.sub = e.subnet(e.sc, tp.net, intCIDR, nil)
	tp.router = e.gwRouter(e.sc, "r", tp.ext, "").ID
	e.addSubnet(e.sc, tp.router, tp.sub)
	return tp
}

// TestFloatingIPLifecycle: every association change of section 5.5 and
// what a router must keep while a floating IP needs it.
func TestFloatingIPLifecycle(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc, ctx := e.a, e.sc, e.ctx
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	vm := e.port(sc, ports.CreateOpts{NetworkID: tp.net, Name: "vm"})
	vmIP := vm.FixedIPs[0].IPAddress

	// Without a port: no router, no driver, DOWN.
	f := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext})
	wantAssoc(t, f, "", "", "")
	if f.Status != "DOWN" || !strings.HasPrefix(f.FloatingIP, "203.0.113.") {
		t.Errorf("unassociated floating IP: %+v", f)
	}
	raw := e.rawFIP(f.ID)
	wantNull(t, raw, "unassociated floating IP", "router_id", "port_id", "fixed_ip_address", "port_details")

	// Associate by update.
	f, err := e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.ok(err, "associate")
	wantAssoc(t, f, vm.ID, vmIP, tp.router)

	// Same port again: kept (router recomputed: the same here).
	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.ok(err, "same port_id")
	wantAssoc(t, f, vm.ID, vmIP, tp.router)
	// Only the description: kept.
	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{Description: sptr("web")})
	e.ok(err, "description only")
	wantAssoc(t, f, vm.ID, vmIP, tp.router)
	if f.Description != "web" {
		t.Errorf("description not updated: %+v", f)
	}

	// Blank PUT disassociates (tempest test_blank_update_clears_association).
	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{})
	e.ok(err, "blank update")
	wantAssoc(t, f, "", "", "")
	wantNull(t, e.rawFIP(f.ID), "after blank update", "router_id", "port_id", "fixed_ip_address")
	if f.Status != "DOWN" || f.Description != "web" {
		t.Errorf("after blank update: %+v", f)
	}
	// Description-only update of an unassociated floating IP keeps it so.
	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{Description: sptr("idle")})
	e.ok(err, "description of an unassociated floating IP")
	wantAssoc(t, f, "", "", "")

	// port_id null disassociates.
	_, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.ok(err, "re-associate")
	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: sptr("")}) // gophercloud sends null
	e.ok(err, "port_id null")
	wantAssoc(t, f, "", "", "")

	// While associated the router keeps what the floating IP needs.
	_, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.ok(err, "re-associate")
	_, err = routers.RemoveInterface(ctx, sc, tp.router, routers.RemoveInterfaceOpts{SubnetID: tp.sub}).Extract()
	e.gcFail(err, 409, "RouterInterfaceInUseByFloatingIP")
	_, err = e.updateRouter(sc, tp.router, routerUpdate{UpdateOpts: routers.UpdateOpts{GatewayInfo: &routers.GatewayInfo{}}})
	e.gcFail(err, 409, "RouterExternalGatewayInUseByFloatingIp")
	a.fail(409, "RouterExternalGatewayInUseByFloatingIp", "PUT", "/v2.0/routers/"+tp.router, map[string]any{"router": map[string]any{"external_gateway_info": nil}})
	ext2 := e.network(sc, "ext2", "", true)
	e.subnet(sc, ext2, "198.51.100.0/24", nil)
	_, err = e.updateRouter(sc, tp.router, routerUpdate{UpdateOpts: routers.UpdateOpts{GatewayInfo: &routers.GatewayInfo{NetworkID: ext2}}})
	e.gcFail(err, 409, "RouterExternalGatewayInUseByFloatingIp")
	e.gcFail(routers.Delete(ctx, sc, tp.router).ExtractErr(), 409, "RouterInUse")
	if r := e.getRouter(tp.router); r.GatewayInfo == nil || r.GatewayInfo.NetworkID != tp.ext {
		t.Errorf("gateway after refused changes: %+v", r.GatewayInfo)
	}

	// A port may not take the floating address.
	_, err = ports.Create(ctx, sc, ports.CreateOpts{NetworkID: tp.ext, FixedIPs: []ports.IP{{SubnetID: tp.extSub, IPAddress: f.FloatingIP}}}).Extract()
	e.gcFail(err, 409, "IpAddressAlreadyAllocated")
	_, err = ports.Create(ctx, sc, ports.CreateOpts{NetworkID: tp.ext, FixedIPs: []ports.IP{{IPAddress: f.FloatingIP}}}).Extract()
	e.gcFail(err, 409, "IpAddressAlreadyAllocated")

	// Deleting the port disassociates.
	e.ok(ports.Delete(ctx, sc, vm.ID).ExtractErr(), "delete vm port")
	got, err := floatingips.Get(ctx, sc, f.ID).Extract()
	e.ok(err, "get floating IP")
	wantAssoc(t, got, "", "", "")
	wantNull(t, e.rawFIP(f.ID), "after port deletion", "router_id", "port_id", "fixed_ip_address", "port_details")
	if got.Status != "DOWN" {
		t.Errorf("status after port deletion: %s", got.Status)
	}

	// Now nothing needs the router: it can lose interface and gateway.
	_, err = routers.RemoveInterface(ctx, sc, tp.router, routers.RemoveInterfaceOpts{SubnetID: tp.sub}).Extract()
	e.ok(err, "remove interface")
	_, err = e.updateRouter(sc, tp.router, routerUpdate{UpdateOpts: routers.UpdateOpts{GatewayInfo: &routers.GatewayInfo{}}})
	e.ok(err, "clear gateway")
	e.ok(routers.Delete(ctx, sc, tp.router).ExtractErr(), "delete router")
	e.ok(floatingips.Delete(ctx, sc, f.ID).ExtractErr(), "delete floating IP")
}

// TestFloatingIPRouterChoice: of two routers connecting a subnet to the
// external network, the one whose interface holds the subnet's gateway
// IP wins; a router added later does not steal existing floating IPs
// until they are updated, and any update (same port_id, or only a
// description) recomputes router_id.
func TestFloatingIPRouterChoice(t *testing.T) {
	e := newRulesEnv(t, providers)
	sc, ctx := e.sc, e.ctx
	ext := e.network(sc, "ext", "", true)
	e.subnet(sc, ext, "203.0.113.0/24", nil)
	net := e.network(sc, "int", "", false)
	sub := e.subnet(sc, net, "10.1.0.0/24", nil) // gateway 10.1.0.1

	// r1 joins the subnet by a port with another address.
	r1 := e.gwRouter(sc, "r1", ext, "")
	rp := e.port(sc, ports.CreateOpts{NetworkID: net, FixedIPs: []ports.IP{{SubnetID: sub, IPAddress: "10.1.0.5"}}})
	info, err := routers.AddInterface(ctx, sc, r1.ID, routers.AddInterfaceOpts{PortID: rp.ID}).Extract()
	e.ok(err, "add interface by port")
	if info.PortID != rp.ID || info.SubnetID != sub || info.ID != r1.ID {
		t.Errorf("add by port answer: %+v", info)
	}

	vms := make([]*ports.Port, 3)
	for i := range vms {
		vms[i] = e.port(sc, ports.CreateOpts{NetworkID: net, Name: fmt.Sprint("vm", i)})
	}
	fa := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: vms[0].ID})
	fb := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: vms[1].ID})
	if fa.RouterID != r1.ID || fb.RouterID != r1.ID {
		t.Fatalf("floating IPs with one router: %s %s, want %s", fa.RouterID, fb.RouterID, r1.ID)
	}

	// r2 joins by subnet: its interface holds the gateway IP.
	r2 := e.gwRouter(sc, "r2", ext, "")
	e.addSubnet(sc, r2.ID, sub)
	for _, f := range []*floatingips.FloatingIP{fa, fb} {
		got, err := floatingips.Get(ctx, sc, f.ID).Extract()
		e.ok(err, "get")
		if got.RouterID != r1.ID {
			t.Errorf("floating IP %s moved to %s without an update", f.ID, got.RouterID)
		}
	}
	fc := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: vms[2].ID})
	if fc.RouterID != r2.ID {
		t.Errorf("new floating IP on %s, want the gateway-IP router %s", fc.RouterID, r2.ID)
	}
	got, err := e.updateFIP(sc, fa.ID, floatingips.UpdateOpts{PortID: &vms[0].ID})
	e.ok(err, "same port_id")
	wantAssoc(t, got, vms[0].ID, vms[0].FixedIPs[0].IPAddress, r2.ID)
	got, err = e.updateFIP(sc, fb.ID, floatingips.UpdateOpts{Description: sptr("moved")})
	e.ok(err, "description only")
	wantAssoc(t, got, vms[1].ID, vms[1].FixedIPs[0].IPAddress, r2.ID)

	// No floating IP needs r1 any more; r2's interface is needed.
	_, err = routers.RemoveInterface(ctx, sc, r1.ID, routers.RemoveInterfaceOpts{PortID: rp.ID}).Extract()
	e.ok(err, "remove r1's interface")
	_, err = routers.RemoveInterface(ctx, sc, r2.ID, routers.RemoveInterfaceOpts{SubnetID: sub}).Extract()
	e.gcFail(err, 409, "RouterInterfaceInUseByFloatingIP")
}

// TestFloatingIPAcrossFlavors: a floating IP re-associated to a port
// behind a router of another flavor changes router_id, reaches the new
// router's backend and leaves it when it moves back.
func TestFloatingIPAcrossFlavors(t *testing.T) {
	e := newRulesEnv(t, providers)
	sc := e.sc
	b := newBackend(t, "s3cret")
	xf := flavor(e.a, "ext", b)
	ext := e.network(sc, "ext", "", true)
	e.subnet(sc, ext, "203.0.113.0/24", nil)

	leg := func(name, typ, cidr, flavorID string) (router string, port *ports.Port) {
		r := e.gwRouter(sc, name, ext, flavorID)
		n := e.network(sc, name, typ, false)
		e.addSubnet(sc, r.ID, e.subnet(sc, n, cidr, nil))
		return r.ID, e.port(sc, ports.CreateOpts{NetworkID: n})
	}
	r0, p0 := leg("routed", "routed", "10.1.0.0/24", "")
	rx, px := leg("ext", "geneve", "10.2.0.0/24", xf)
	eventually(t, 5*time.Second, "external router at its backend", func() bool { _, _, ok := backendRouter(b, rx); return ok })

	f := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: p0.ID})
	wantAssoc(t, f, p0.ID, p0.FixedIPs[0].IPAddress, r0)
	time.Sleep(100 * time.Millisecond)
	if _, fips, _ := backendRouter(b, rx); len(fips) != 0 {
		t.Errorf("backend got a floating IP of the routed router: %v", fips)
	}

	f, err := e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &px.ID})
	e.ok(err, "move to the external-flavor router")
	wantAssoc(t, f, px.ID, px.FixedIPs[0].IPAddress, rx)
	eventually(t, 5*time.Second, "floating IP at the backend", func() bool {
		_, fips, _ := backendRouter(b, rx)
		return slices.Equal(fips, []string{f.ID})
	})
	eventually(t, 5*time.Second, "floating IP ACTIVE from the backend", func() bool {
		g, err := floatingips.Get(e.ctx, sc, f.ID).Extract()
		return err == nil && g.Status == "ACTIVE"
	})

	f, err = e.updateFIP(sc, f.ID, floatingips.UpdateOpts{PortID: &p0.ID})
	e.ok(err, "move back")
	wantAssoc(t, f, p0.ID, p0.FixedIPs[0].IPAddress, r0)
	eventually(t, 5*time.Second, "floating IP withdrawn from the backend", func() bool {
		_, fips, _ := backendRouter(b, rx)
		return len(fips) == 0
	})
	eventually(t, 5*time.Second, "floating IP DOWN on the routed router", func() bool {
		g, err := floatingips.Get(e.ctx, sc, f.ID).Extract()
		return err == nil && g.Status == "DOWN"
	})
}

// TestFloatingIPValidation: section 5.2/5.5 refusals on create and update.
func TestFloatingIPValidation(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc, ctx := e.a, e.sc, e.ctx
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	create := func(o floatingips.CreateOpts) error { _, err := floatingips.Create(ctx, sc, o).Extract(); return err }
	count := func() int { return len(a.must(200, "GET", "/v2.0/floatingips", nil, "")["floatingips"].([]any)) }

	// Not an external network.
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.net}), 400, "")

	// Unreachable: a port on a network no router connects.
	lone := e.network(sc, "lone", "", false)
	e.subnet(sc, lone, "10.9.0.0/24", nil)
	lp := e.port(sc, ports.CreateOpts{NetworkID: lone})
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: lp.ID}), 404, "ExternalGatewayForFloatingIPNotFound")
	if n := count(); n != 0 {
		t.Fatalf("refused floating IP written: %d", n)
	}
	idle := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext})
	_, err := e.updateFIP(sc, idle.ID, floatingips.UpdateOpts{PortID: &lp.ID})
	e.gcFail(err, 404, "ExternalGatewayForFloatingIPNotFound")
	// A router whose gateway is elsewhere does not make it reachable.
	ext2 := e.network(sc, "ext2", "", true)
	e.subnet(sc, ext2, "198.51.100.0/24", nil)
	r2 := e.gwRouter(sc, "r2", ext2, "")
	n2 := e.network(sc, "n2", "", false)
	e.addSubnet(sc, r2.ID, e.subnet(sc, n2, "10.8.0.0/24", nil))
	vm2 := e.port(sc, ports.CreateOpts{NetworkID: n2})
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: vm2.ID}), 404, "ExternalGatewayForFloatingIPNotFound")
	if got, _ := floatingips.Get(ctx, sc, idle.ID).Extract(); got.PortID != "" || got.RouterID != "" {
		t.Errorf("refused update changed the floating IP: %+v", got)
	}

	// Duplicate association of a port+fixed IP on the same external network.
	vm := e.port(sc, ports.CreateOpts{NetworkID: tp.net})
	first := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: vm.ID})
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: vm.ID}), 409, "FloatingIPPortAlreadyAssociated")
	_, err = e.updateFIP(sc, idle.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.gcFail(err, 409, "FloatingIPPortAlreadyAssociated")
	// Once released, the pair is free again.
	_, err = e.updateFIP(sc, first.ID, floatingips.UpdateOpts{PortID: sptr("")})
	e.ok(err, "disassociate")
	got, err := e.updateFIP(sc, idle.ID, floatingips.UpdateOpts{PortID: &vm.ID})
	e.ok(err, "associate the released pair")
	wantAssoc(t, got, vm.ID, vm.FixedIPs[0].IPAddress, tp.router)

	// Several IPv4 addresses: fixed_ip_address is required and must be the port's.
	multi := e.port(sc, ports.CreateOpts{NetworkID: tp.net, FixedIPs: []ports.IP{{SubnetID: tp.sub, IPAddress: "10.1.0.10"}, {SubnetID: tp.sub, IPAddress: "10.1.0.11"}}})
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID}), 400, "")
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID, FixedIP: "10.1.0.99"}), 400, "")
	f11 := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID, FixedIP: "10.1.0.11"})
	wantAssoc(t, f11, multi.ID, "10.1.0.11", tp.router)
	f10 := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID, FixedIP: "10.1.0.10"})
	wantAssoc(t, f10, multi.ID, "10.1.0.10", tp.router)
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID, FixedIP: "10.1.0.11"}), 409, "FloatingIPPortAlreadyAssociated")
	// Updates keep the chosen address; a new port needs one again.
	got, err = e.updateFIP(sc, f11.ID, floatingips.UpdateOpts{Description: sptr("x")})
	e.ok(err, "description of a multi-address association")
	wantAssoc(t, got, multi.ID, "10.1.0.11", tp.router)
	_, err = e.updateFIP(sc, first.ID, floatingips.UpdateOpts{PortID: &multi.ID})
	e.gcFail(err, 400, "")
	_, err = e.updateFIP(sc, first.ID, floatingips.UpdateOpts{PortID: &multi.ID, FixedIP: "10.1.0.12"})
	e.gcFail(err, 400, "")
	// fixed_ip_address without port_id on create.
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, FixedIP: "10.1.0.10"}), 400, "")

	// Admins choose the address; then it is taken.
	chosen := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, FloatingIP: "203.0.113.200"})
	if chosen.FloatingIP != "203.0.113.200" {
		t.Errorf("chosen address: %s", chosen.FloatingIP)
	}
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, FloatingIP: "203.0.113.200"}), 409, "IpAddressAlreadyAllocated")
	// As it is for ports.
	_, err = ports.Create(ctx, sc, ports.CreateOpts{NetworkID: tp.ext, FixedIPs: []ports.IP{{SubnetID: tp.extSub, IPAddress: "203.0.113.200"}}}).Extract()
	e.gcFail(err, 409, "IpAddressAlreadyAllocated")
	// And the router gateway's address cannot be taken either.
	gw := e.getRouter(tp.router).GatewayInfo.ExternalFixedIPs[0].IPAddress
	e.gcFail(create(floatingips.CreateOpts{FloatingNetworkID: tp.ext, FloatingIP: gw}), 409, "IpAddressAlreadyAllocated")
}

// TestFloatingIPTenantRules: a tenant may not choose the address (403),
// nor associate another project's port (400 when it can see the port, as
// a network owner does; 404 when it cannot); another tenant's subnet
// cannot be added to one's router (404).
func TestFloatingIPTenantRules(t *testing.T) {
	e := newRulesEnv(t, providers)
	sc, ctx := e.sc, e.ctx
	p1, p2 := e.client("p1"), e.client("p2")
	ext := e.network(sc, "ext", "", true)
	e.subnet(sc, ext, "203.0.113.0/24", nil)

	n1 := e.network(p1, "n1", "", false)
	s1 := e.subnet(p1, n1, "10.1.0.0/24", nil)
	r1 := e.gwRouter(p1, "r1", ext, "")
	e.addSubnet(p1, r1.ID, s1)
	mine := e.port(p1, ports.CreateOpts{NetworkID: n1})
	foreign := e.port(sc, ports.CreateOpts{NetworkID: n1, ProjectID: "p2"}) // p1 sees it: p1 owns the network

	_, err := floatingips.Create(ctx, p1, floatingips.CreateOpts{FloatingNetworkID: ext, FloatingIP: "203.0.113.77"}).Extract()
	e.gcFail(err, 403, "PolicyNotAuthorized")
	_, err = floatingips.Create(ctx, p1, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: foreign.ID}).Extract()
	e.gcFail(err, 400, "")
	f, err := floatingips.Create(ctx, p1, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: mine.ID}).Extract()
	e.ok(err, "tenant floating IP")
	wantAssoc(t, f, mine.ID, mine.FixedIPs[0].IPAddress, r1.ID)
	if f.ProjectID != "p1" || f.TenantID != "p1" {
		t.Errorf("tenant floating IP project: %+v", f)
	}
	_, err = e.updateFIP(p1, f.ID, floatingips.UpdateOpts{PortID: &foreign.ID})
	e.gcFail(err, 400, "")

	// p2 cannot see p1's port at all.
	_, err = floatingips.Create(ctx, p2, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: mine.ID}).Extract()
	e.gcFail(err, 404, "PortNotFound")
	f2, err := floatingips.Create(ctx, p2, floatingips.CreateOpts{FloatingNetworkID: ext}).Extract()
	e.ok(err, "p2 floating IP")
	_, err = e.updateFIP(p2, f2.ID, floatingips.UpdateOpts{PortID: &mine.ID})
	e.gcFail(err, 404, "PortNotFound")
	// Nor p1's floating IP.
	_, err = e.updateFIP(p2, f.ID, floatingips.UpdateOpts{PortID: sptr("")})
	e.gcFail(err, 404, "")

	// Another tenant's subnet on one's router: 404.
	r2 := e.router(p2, routerCreate{CreateOpts: routers.CreateOpts{Name: "r2"}})
	_, err = routers.AddInterface(ctx, p2, r2.ID, routers.AddInterfaceOpts{SubnetID: s1}).Extract()
	e.gcFail(err, 404, "SubnetNotFound")
	// Nor can p2 touch p1's router.
	_, err = routers.AddInterface(ctx, p2, r1.ID, routers.AddInterfaceOpts{SubnetID: s1}).Extract()
	e.gcFail(err, 404, "RouterNotFound")

	// Admins may associate any project's port.
	fa, err := floatingips.Create(ctx, sc, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: foreign.ID, ProjectID: "p1"}).Extract()
	e.ok(err, "admin associates another project's port")
	wantAssoc(t, fa, foreign.ID, foreign.FixedIPs[0].IPAddress, r1.ID)
}

// TestExternalNetworkDelete: deleting an external network deletes its
// unassociated floating IPs (and their ports); one with associated
// floating IPs (and a router gateway they need) is refused, atomically.
func TestExternalNetworkDelete(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc, ctx := e.a, e.sc, e.ctx

	// Only unassociated floating IPs: they go with the network.
	ext2 := e.network(sc, "ext2", "", true)
	e.subnet(sc, ext2, "198.51.100.0/24", nil)
	idle := []*floatingips.FloatingIP{
		e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: ext2}),
		e.fip(e.client("p1"), floatingips.CreateOpts{FloatingNetworkID: ext2}),
	}
	e.ok(networks.Delete(ctx, sc, ext2).ExtractErr(), "delete external network with idle floating IPs")
	for _, f := range idle {
		_, err := floatingips.Get(ctx, sc, f.ID).Extract()
		e.gcFail(err, 404, "FloatingIPNotFound")
	}
	if p := a.must(200, "GET", "/v2.0/ports?network_id="+ext2, nil, "")["ports"].([]any); len(p) != 0 {
		t.Errorf("ports left on the deleted network: %v", p)
	}

	// An associated floating IP: refused.
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	vm := e.port(sc, ports.CreateOpts{NetworkID: tp.net})
	assoc := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: vm.ID})
	spare := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext})
	e.gcFail(networks.Delete(ctx, sc, tp.ext).ExtractErr(), 409, "NetworkInUse")
	for _, f := range []*floatingips.FloatingIP{assoc, spare} {
		if _, err := floatingips.Get(ctx, sc, f.ID).Extract(); err != nil {
			t.Errorf("floating IP %s after refused network delete: %v", f.ID, err)
		}
	}
	if _, err := networks.Get(ctx, sc, tp.ext).Extract(); err != nil {
		t.Errorf("network after refused delete: %v", err)
	}
}

// TestRouterPortsUndeletable: interface (by subnet or by port), gateway
// and floating IP ports cannot be deleted through /ports (409
// L3PortInUse).
func TestRouterPortsUndeletable(t *testing.T) {
	e := newRulesEnv(t, providers)
	sc, ctx := e.sc, e.ctx
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	n2 := e.network(sc, "n2", "", false)
	s2 := e.subnet(sc, n2, "10.2.0.0/24", nil)
	byPort := e.port(sc, ports.CreateOpts{NetworkID: n2, FixedIPs: []ports.IP{{SubnetID: s2}}})
	_, err := routers.AddInterface(ctx, sc, tp.router, routers.AddInterfaceOpts{PortID: byPort.ID}).Extract()
	e.ok(err, "add interface by port")
	vm := e.port(sc, ports.CreateOpts{NetworkID: tp.net})
	e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: vm.ID})

	pages, err := ports.List(sc, ports.ListOpts{}).AllPages(ctx)
	e.ok(err, "list ports")
	all, err := ports.ExtractPorts(pages)
	e.ok(err, "extract ports")
	owners := map[string]int{}
	for _, p := range all {
		switch p.DeviceOwner {
		case "network:router_interface", "network:router_gateway", "network:floatingip":
			owners[p.DeviceOwner]++
			e.gcFail(ports.Delete(ctx, sc, p.ID).ExtractErr(), 409, "L3PortInUse")
		}
	}
	if owners["network:router_interface"] != 2 || owners["network:router_gateway"] != 1 || owners["network:floatingip"] != 1 {
		t.Errorf("L3 ports found: %v", owners)
	}
	// The router is intact.
	info, err := routers.RemoveInterface(ctx, sc, tp.router, routers.RemoveInterfaceOpts{PortID: byPort.ID}).Extract()
	e.ok(err, "remove interface by port")
	if info.PortID != byPort.ID || info.SubnetID != s2 {
		t.Errorf("remove by port answer: %+v", info)
	}
	_, err = ports.Get(ctx, sc, byPort.ID).Extract()
	e.gcFail(err, 404, "PortNotFound")
}

// ---- section 6.3: add/remove_router_interface ----

// TestRouterInterfaceErrors: every refusal of add/remove_router_interface
// the brief lists, and the answer's shape.
func TestRouterInterfaceErrors(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc, ctx := e.a, e.sc, e.ctx
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	r := tp.router
	add := "/v2.0/routers/" + r + "/add_router_interface"
	remove := "/v2.0/routers/" + r + "/remove_router_interface"
	portCount := func() int { return len(a.must(200, "GET", "/v2.0/ports", nil, "")["ports"].([]any)) }

	// Neither or both ids (gophercloud refuses to build these bodies).
	if _, err := routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{}).Extract(); err == nil {
		t.Error("gophercloud sent an add_router_interface without ids")
	}
	n2 := e.network(sc, "n2", "", false)
	s2 := e.subnet(sc, n2, "10.2.0.0/24", nil)
	p2 := e.port(sc, ports.CreateOpts{NetworkID: n2})
	before := portCount()
	a.fail(400, "", "PUT", add, map[string]any{})
	a.fail(400, "", "PUT", add, map[string]any{"subnet_id": s2, "port_id": p2.ID})
	a.fail(400, "", "PUT", remove, map[string]any{})

	// A subnet without gateway.
	noGW := e.subnet(sc, e.network(sc, "nogw", "", false), "10.3.0.0/24", noGateway())
	_, err := routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{SubnetID: noGW}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "gateway IP")

	// The same subnet twice, by subnet and by a port on it.
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{SubnetID: tp.sub}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "already has a port on subnet")
	again := e.port(sc, ports.CreateOpts{NetworkID: tp.net})
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{PortID: again.ID}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "already has a port on subnet")
	if g, _ := ports.Get(ctx, sc, again.ID).Extract(); g.DeviceID != "" || g.DeviceOwner != "" {
		t.Errorf("refused port left attached: %+v", g)
	}

	// A port already bound to a device, and a port without addresses.
	bound := e.port(sc, ports.CreateOpts{NetworkID: n2, DeviceID: "vm-1"})
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{PortID: bound.ID}).Extract()
	e.gcFail(err, 409, "PortInUse")
	bare := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": n2, "fixed_ips": []any{}}}, "port")
	if ips := bare["fixed_ips"].([]any); len(ips) != 0 {
		t.Fatalf("port without fixed IPs got %v", ips)
	}
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{PortID: id(bare)}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "fixed IP")
	// Unknown ids.
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{SubnetID: "00000000-0000-0000-0000-000000000000"}).Extract()
	e.gcFail(err, 404, "SubnetNotFound")
	_, err = routers.AddInterface(ctx, sc, r, routers.AddInterfaceOpts{PortID: "00000000-0000-0000-0000-000000000000"}).Extract()
	e.gcFail(err, 404, "PortNotFound")
	if n := portCount(); n != before+3 { // again, bound and bare
		t.Errorf("refused interfaces changed the ports: %d, want %d", n, before+3)
	}

	// Answer shape, add and remove, by subnet.
	shape := func(m map[string]any, what, port string) {
		t.Helper()
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "id,network_id,port_id,project_id,subnet_id,subnet_ids,tenant_id" {
			t.Errorf("%s answer keys %v", what, keys)
		}
		if m["id"] != r || m["network_id"] != n2 || m["subnet_id"] != s2 || fmt.Sprint(m["subnet_ids"]) != fmt.Sprint([]any{s2}) ||
			m["tenant_id"] != m["project_id"] || (port != "" && m["port_id"] != port) {
			t.Errorf("%s answer %v", what, m)
		}
	}
	added := a.must(200, "PUT", add, map[string]any{"subnet_id": s2}, "")
	shape(added, "add", "")
	ip := a.must(200, "GET", "/v2.0/ports/"+str(added["port_id"]), nil, "port")["fixed_ips"].([]any)[0].(map[string]any)["ip_address"]
	if ip != "10.2.0.1" {
		t.Errorf("interface by subnet took %v, want the gateway IP", ip)
	}

	// Overlaps, with another interface's subnet and with the gateway's
	// (on an external-flavor router: routed networks share one address
	// space, so overlapping routed subnets cannot exist).
	b := newBackend(t, "s3cret")
	xr := e.gwRouter(sc, "x", tp.ext, flavor(a, "ext", b))
	g1 := e.network(sc, "g1", "geneve", false)
	e.addSubnet(sc, xr.ID, e.subnet(sc, g1, "10.6.0.0/24", nil))
	over := e.subnet(sc, e.network(sc, "over", "geneve", false), "10.6.0.0/25", nil)
	_, err = routers.AddInterface(ctx, sc, xr.ID, routers.AddInterfaceOpts{SubnetID: over}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "overlaps")
	overGW := e.subnet(sc, e.network(sc, "overgw", "geneve", false), "203.0.113.128/25", nil)
	_, err = routers.AddInterface(ctx, sc, xr.ID, routers.AddInterfaceOpts{SubnetID: overGW}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "overlaps")
	overPort := e.port(sc, ports.CreateOpts{NetworkID: g1}) // same subnet, by port
	_, err = routers.AddInterface(ctx, sc, xr.ID, routers.AddInterfaceOpts{PortID: overPort.ID}).Extract()
	wantMsg(t, e.gcFail(err, 400, ""), "already has a port on subnet")

	// Removal errors.
	vmPort := e.port(sc, ports.CreateOpts{NetworkID: tp.net})
	_, err = routers.RemoveInterface(ctx, sc, r, routers.RemoveInterfaceOpts{PortID: vmPort.ID}).Extract()
	e.gcFail(err, 404, "RouterInterfaceNotFound")
	_, err = routers.RemoveInterface(ctx, sc, r, routers.RemoveInterfaceOpts{SubnetID: noGW}).Extract()
	e.gcFail(err, 404, "RouterInterfaceNotFoundForSubnet")
	_, err = routers.RemoveInterface(ctx, sc, r, routers.RemoveInterfaceOpts{PortID: str(added["port_id"]), SubnetID: tp.sub}).Extract()
	e.gcFail(err, 400, "")
	e.gcFail(routers.Delete(ctx, sc, r).ExtractErr(), 409, "RouterInUse")

	removed := a.must(200, "PUT", remove, map[string]any{"subnet_id": s2, "port_id": added["port_id"]}, "")
	shape(removed, "remove", str(added["port_id"]))
	_, err = ports.Get(ctx, sc, str(added["port_id"])).Extract()
	e.gcFail(err, 404, "PortNotFound")
}

// ---- extra routes ----

// TestExtraRoutes: on an external-flavor router, add_extraroutes and
// remove_extraroutes merge and subtract atomically; a nexthop must be on
// a connected subnet (400, nothing changed); more than 30 routes 400;
// routes: null clears; an interface a route needs cannot be removed (409);
// the backend gets the routes. Routed routers refuse routes (400).
func TestExtraRoutes(t *testing.T) {
	e := newRulesEnv(t, providers)
	a, sc, ctx := e.a, e.sc, e.ctx
	b := newBackend(t, "s3cret")
	xf := flavor(a, "ext", b)
	ext := e.network(sc, "ext", "", true)
	e.subnet(sc, ext, "203.0.113.0/24", nil)
	xr := e.gwRouter(sc, "x", ext, xf)
	n := e.network(sc, "int", "geneve", false)
	sub := e.subnet(sc, n, "10.5.0.0/24", nil)
	e.addSubnet(sc, xr.ID, sub)

	rt := func(dst, nh string) routers.Route { return routers.Route{DestinationCIDR: dst, NextHop: nh} }
	r1, r2, r3 := rt("192.0.2.0/24", "10.5.0.10"), rt("198.51.100.0/24", "10.5.0.11"), rt("100.64.0.0/16", "203.0.113.9")
	bad := rt("192.0.2.128/25", "172.16.0.1")
	routesOf := func(res interface {
		ExtractIntoStructPtr(any, string) error
	}) ([]string, error) {
		var r rtr
		err := res.ExtractIntoStructPtr(&r, "router")
		return routeStrings(r.Routes), err
	}
	addR := func(rs ...routers.Route) ([]string, error) {
		return routesOf(extraroutes.Add(ctx, sc, xr.ID, extraroutes.Opts{Routes: &rs}))
	}
	removeR := func(rs ...routers.Route) ([]string, error) {
		return routesOf(extraroutes.Remove(ctx, sc, xr.ID, extraroutes.Opts{Routes: &rs}))
	}
	want := func(got []string, err error, what string, rs ...routers.Route) {
		t.Helper()
		e.ok(err, what)
		if w := routeStrings(rs); !slices.Equal(got, w) {
			t.Errorf("%s: routes %v, want %v", what, got, w)
		}
	}
	stored := func() []string { return routeStrings(e.getRouter(xr.ID).Routes) }

	got, err := addR(r1, r2)
	want(got, err, "add two", r1, r2)
	got, err = addR(r2, r3) // r3 through the gateway subnet
	want(got, err, "add overlapping set", r1, r2, r3)
	_, err = addR(bad)
	e.gcFail(err, 400, "")
	_, err = addR(rt("10.99.0.0/16", "10.5.0.12"), bad)
	e.gcFail(err, 400, "")
	if s := stored(); !slices.Equal(s, routeStrings([]routers.Route{r1, r2, r3})) {
		t.Errorf("refused add changed routes: %v", s)
	}
	got, err = removeR(r1, rt("203.0.113.0/28", "10.5.0.10"))
	want(got, err, "remove present and absent", r2, r3)
	eventually(t, 5*time.Second, "backend has the routes", func() bool {
		rs, _, _ := backendRouter(b, xr.ID)
		return slices.Equal(rs, routeStrings([]routers.Route{r2, r3}))
	})

	// Too many.
	many := make([]routers.Route, 31)
	for i := range many {
		many[i] = rt(fmt.Sprintf("192.168.%d.0/24", i), "10.5.0.20")
	}
	_, err = addR(many...)
	e.gcFail(err, 400, "")

	// The interface a route uses cannot go.
	_, err = routers.RemoveInterface(ctx, sc, xr.ID, routers.RemoveInterfaceOpts{SubnetID: sub}).Extract()
	e.gcFail(err, 409, "RouterInterfaceInUseByRoute")

	// PUT routes replaces; null clears.
	upd, err := e.updateRouter(sc, xr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Routes: &[]routers.Route{r1}}})
	e.ok(err, "PUT routes")
	if s := routeStrings(upd.Routes); !slices.Equal(s, routeStrings([]routers.Route{r1})) {
		t.Errorf("PUT routes: %v", s)
	}
	_, err = e.updateRouter(sc, xr.ID, routerUpdate{UpdateOpts: routers.UpdateOpts{Routes: &[]routers.Route{bad}}})
	e.gcFail(err, 400, "")
	cleared := a.must(200, "PUT", "/v2.0/routers/"+xr.ID, map[string]any{"router": map[string]any{"routes": nil}}, "router")
	if rs, ok := cleared["routes"].([]any); !ok || len(rs) != 0 {
		t.Errorf("routes after null: %v", cleared["routes"])
	}
	eventually(t, 5*time.Second, "backend routes cleared", func() bool {
		rs, _, _ := backendRouter(b, xr.ID)
		return len(rs) == 0
	})
	_, err = routers.RemoveInterface(ctx, sc, xr.ID, routers.RemoveInterfaceOpts{SubnetID: sub}).Extract()
	e.ok(err, "remove interface once no route needs it")

	// Routed routers serve no extra routes, by any means.
	tp := e.fipTopology("198.51.100.0/24", "10.1.0.0/24")
	_, err = e.updateRouter(sc, tp.router, routerUpdate{UpdateOpts: routers.UpdateOpts{Routes: &[]routers.Route{rt("192.0.2.0/24", "10.1.0.10")}}})
	e.gcFail(err, 400, "InvalidInput")
	rs := []routers.Route{rt("192.0.2.0/24", "10.1.0.10")}
	_, err = routesOf(extraroutes.Add(ctx, sc, tp.router, extraroutes.Opts{Routes: &rs}))
	e.gcFail(err, 400, "InvalidInput")
	if s := routeStrings(e.getRouter(tp.router).Routes); len(s) != 0 {
		t.Errorf("routed router has routes: %v", s)
	}
	// Clearing is harmless.
	_, err = e.updateRouter(sc, tp.router, routerUpdate{UpdateOpts: routers.UpdateOpts{Routes: &[]routers.Route{}}})
	e.ok(err, "empty routes on a routed router")
}

// TestExtraRoutesInvalid_Spec: section 6.2 "extra routes: bad format or
// nexthop not on a connected subnet -> 400 InvalidRoutes"; and Neutron
// (neutron/db/extraroute_db.py _validate_routes_nexthop) also refuses a
// nexthop that is one of the router's own addresses ("the nexthop is
// used by router"). spinel answers the unconnected nexthop with 400
// HTTPBadRequest, not InvalidRoutes, and accepts the router's own
// interface address as a nexthop (internal/service/routers.go
// validateRoutes checks only connectivity).
func TestExtraRoutesInvalid_Spec(t *testing.T) {
	e := newRulesEnv(t, providers)
	a := e.a
	b := newBackend(t, "s3cret")
	xf := flavor(a, "ext", b)
	xr := e.router(e.sc, routerCreate{FlavorID: &xf})
	n := e.network(e.sc, "int", "geneve", false)
	e.addSubnet(e.sc, xr.ID, e.subnet(e.sc, n, "10.5.0.0/24", nil)) // interface 10.5.0.1
	put := func(nh string) resp {
		return a.do("PUT", "/v2.0/routers/"+xr.ID+"/add_extraroutes", map[string]any{"router": map[string]any{"routes": []any{
			map[string]any{"destination": "192.0.2.0/24", "nexthop": nh}}}})
	}
	typ := func(r resp) any { return obj(r.Body["NeutronError"])["type"] }
	if r := put("172.16.0.1"); r.Status != 400 || typ(r) != "InvalidRoutes" {
		t.Errorf("unconnected nexthop: %d %s, want 400 InvalidRoutes", r.Status, r.Raw)
	}
	if r := put("10.5.0.1"); r.Status != 400 || typ(r) != "InvalidRoutes" {
		t.Errorf("nexthop = the router's own interface address: %d %s, want 400 InvalidRoutes", r.Status, r.Raw)
	}
}

// TestFloatingIPFixedAddressWithoutPortOnUpdate_Spec: section 5.2
// "fixed_ip_address without port_id -> 400"; neutron/db/l3_db.py
// _check_and_get_fip_assoc raises BadRequest "fixed_ip_address cannot be
// specified without a port_id" whenever the update body has a
// fixed_ip_address but no port_id. spinel enforces it on create only: on
// update it silently ignores the address of an unassociated floating IP
// (200) and re-associates an associated one to that address of its
// current port (internal/service/floatingips.go updateFIP).
func TestFloatingIPFixedAddressWithoutPortOnUpdate_Spec(t *testing.T) {
	e := newRulesEnv(t, providers)
	sc := e.sc
	tp := e.fipTopology("203.0.113.0/24", "10.1.0.0/24")
	multi := e.port(sc, ports.CreateOpts{NetworkID: tp.net, FixedIPs: []ports.IP{{SubnetID: tp.sub, IPAddress: "10.1.0.10"}, {SubnetID: tp.sub, IPAddress: "10.1.0.11"}}})
	idle := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext})
	assoc := e.fip(sc, floatingips.CreateOpts{FloatingNetworkID: tp.ext, PortID: multi.ID, FixedIP: "10.1.0.10"})
	for _, f := range []*floatingips.FloatingIP{idle, assoc} {
		r := e.a.do("PUT", "/v2.0/floatingips/"+f.ID, map[string]any{"floatingip": map[string]any{"fixed_ip_address": "10.1.0.11"}})
		if r.Status != 400 {
			t.Errorf("floating IP %s (port %q): fixed_ip_address without port_id answered %d %s, want 400", f.ID, f.PortID, r.Status, r.Raw)
		}
	}
}
