package ovn

// Helpers of the L3 tests (l3_*_test.go, multi_*_test.go). Their names
// start with l3 so as not to clash with the network backend's tests in
// this package.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/external"
	l3ovn "github.com/spinel-net/spinel/internal/l3/ovn"
	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// l3api is a Neutron API client for one server.
type l3api struct {
	tb   testing.TB
	base string
}

type l3resp struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (a l3api) do(method, path string, body any) l3resp {
	a.tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := l3resp{Status: res.StatusCode, Raw: string(raw)}
	json.Unmarshal(raw, &out.Body)
	return out
}

// must performs a request that must answer want and returns the object
// under key (or the whole body if key is "").
func (a l3api) must(want int, method, path string, body any, key string) map[string]any {
	a.tb.Helper()
	r := a.do(method, path, body)
	if r.Status != want {
		a.tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	if key == "" {
		return r.Body
	}
	m, _ := r.Body[key].(map[string]any)
	return m
}

// fail performs a request that must fail with status and Neutron type and
// returns the error message.
func (a l3api) fail(status int, typ, method, path string, body any) string {
	a.tb.Helper()
	r := a.do(method, path, body)
	e, _ := r.Body["NeutronError"].(map[string]any)
	if r.Status != status || e == nil || (typ != "" && e["type"] != typ) {
		a.tb.Fatalf("%s %s: got %d %s, want %d %s", method, path, r.Status, r.Raw, status, typ)
	}
	return fmt.Sprint(e["message"])
}

func (a l3api) status(kind, id string) string {
	a.tb.Helper()
	return fmt.Sprint(a.must(200, "GET", "/v2.0/"+kind+"s/"+id, nil, kind)["status"])
}

func (a l3api) create(kind string, attrs map[string]any) map[string]any {
	a.tb.Helper()
	return a.must(201, "POST", "/v2.0/"+kind+"s", map[string]any{kind: attrs}, kind)
}

func l3id(m map[string]any) string { return m["id"].(string) }

// l3eventually polls f until it returns true or d passes.
func l3eventually(tb testing.TB, d time.Duration, what string, f func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("timed out after %s waiting for %s", d, what)
}

// l3lines splits output into sorted lines with blanks squeezed.
func l3lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// l3backend is a small real backend of the external driver: it checks
// signatures and keeps the routers it is given, answering every floating
// IP ACTIVE.
type l3backend struct {
	secret  string
	srv     *httptest.Server
	down    atomic.Bool
	mu      sync.Mutex
	routers map[string]external.Router
}

func newL3Backend(tb testing.TB, secret string) *l3backend {
	b := &l3backend{secret: secret, routers: map[string]external.Router{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	tb.Cleanup(b.srv.Close)
	return b
}

func (b *l3backend) serve(w http.ResponseWriter, r *http.Request) {
	if b.down.Load() {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := external.Verify(b.secret, r, body, time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/routers/")
	b.mu.Lock()
	defer b.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		var rt external.Router
		if err := json.Unmarshal(body, &rt); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.routers[id] = rt
		fips := map[string]string{}
		for _, f := range rt.FloatingIPs {
			fips[f.ID] = "ACTIVE"
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "ACTIVE", "floating_ips": fips})
	case http.MethodDelete:
		delete(b.routers, id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// state returns the router ids the backend holds, each with its floating
// IP ids.
func (b *l3backend) state() map[string][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]string{}
	for id, r := range b.routers {
		fips := []string{}
		for _, f := range r.FloatingIPs {
			fips = append(fips, f.ID)
		}
		sort.Strings(fips)
		out[id] = fips
	}
	return out
}

// l3env is a spinel server wired to a real OVN (NB, SB, ovn-northd) with
// providers routed (default), ovn and external, gateway chassis gw1
// (priority 2) and gw2 (priority 1), and flavors "ovn" and "ext" (the
// latter on an external backend).
type l3env struct {
	a         l3api
	o         *ovntest.OVN
	srv       *testserver.Server
	be        *l3backend
	ovnFlavor string
	extFlavor string
}

const l3secret = "s3cret"

func l3start(tb testing.TB, opts ...testserver.Option) *l3env {
	tb.Helper()
	o := ovntest.Start(tb)
	be := newL3Backend(tb, l3secret)
	base := func(c *server.Config) {
		c.Service.Providers = []l3.Provider{
			{ServiceType: l3.ServiceType, Name: "routed", Driver: "routed", Default: true},
			{ServiceType: l3.ServiceType, Name: "ovn", Driver: l3ovn.Name},
			{ServiceType: l3.ServiceType, Name: "external", Driver: external.Name},
		}
		c.ExternalSecret = l3secret
		c.OVNNBConnection = o.NB.Endpoint()
		c.OVNGatewayChassis = []l3ovn.GatewayChassis{{Name: "gw1", Priority: 2}, {Name: "gw2", Priority: 1}}
		for _, q := range []string{"router", "floatingip", "network", "subnet", "port"} {
			c.Service.DefaultQuotas[q] = -1
		}
	}
	srv := testserver.Start(tb, append([]testserver.Option{base}, opts...)...)
	e := &l3env{a: l3api{tb: tb, base: srv.URL}, o: o, srv: srv, be: be}
	e.ovnFlavor = e.flavor("ovn", map[string]any{"driver": l3ovn.Name})
	meta, _ := json.Marshal(map[string]string{"url": be.srv.URL, "timeout": "2s"})
	e.extFlavor = e.flavor("ext", map[string]any{"driver": external.Name, "metainfo": string(meta)})
	return e
}

// flavor creates a flavor bound to a new service profile.
func (e *l3env) flavor(name string, profile map[string]any) string {
	p := e.a.create("service_profile", profile)
	f := e.a.create("flavor", map[string]any{"name": name, "service_type": l3.ServiceType})
	e.a.must(201, "POST", "/v2.0/flavors/"+l3id(f)+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": l3id(p)}}, "")
	return l3id(f)
}

// network creates a network of type typ (flat ones on physnet1) with one
// IPv4 subnet and returns the network and the subnet.
func (e *l3env) network(name, typ, cidr string, external bool) (map[string]any, map[string]any) {
	attrs := map[string]any{"name": name, "provider:network_type": typ, "router:external": external}
	if typ == "flat" {
		attrs["provider:physical_network"] = "physnet1"
	}
	n := e.a.create("network", attrs)
	s := e.a.create("subnet", map[string]any{"network_id": l3id(n), "cidr": cidr, "ip_version": 4})
	return n, s
}

// router creates a router of flavor (default provider when "") with its
// gateway on extNet.
func (e *l3env) router(name, flavor, extNet string) map[string]any {
	attrs := map[string]any{"name": name, "external_gateway_info": map[string]any{"network_id": extNet}}
	if flavor != "" {
		attrs["flavor_id"] = flavor
	}
	return e.a.create("router", attrs)
}

func (e *l3env) addInterface(router, subnet string) {
	e.a.must(200, "PUT", "/v2.0/routers/"+router+"/add_router_interface", map[string]any{"subnet_id": subnet}, "")
}

// gatewayPort returns the router's gateway port.
func (e *l3env) gatewayPort(router string) map[string]any {
	ports := e.a.must(200, "GET", "/v2.0/ports?device_owner=network:router_gateway&device_id="+router, nil, "")["ports"].([]any)
	if len(ports) != 1 {
		e.a.tb.Fatalf("router %s has %d gateway ports", router, len(ports))
	}
	return ports[0].(map[string]any)
}

// interfacePort returns the router's interface port on network.
func (e *l3env) interfacePort(router, network string) map[string]any {
	ports := e.a.must(200, "GET", "/v2.0/ports?device_owner=network:router_interface&device_id="+router+"&network_id="+network, nil, "")["ports"].([]any)
	if len(ports) != 1 {
		e.a.tb.Fatalf("router %s has %d interface ports on %s", router, len(ports), network)
	}
	return ports[0].(map[string]any)
}

// fixedIP is a port's first address.
func fixedIP(p map[string]any) string {
	return p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
}

func (e *l3env) nbctl(args ...string) string {
	e.a.tb.Helper()
	return strings.TrimSpace(e.o.NBCtl(e.a.tb, args...))
}

// routers lists the Logical_Router names in NB.
func (e *l3env) routers() []string {
	e.a.tb.Helper()
	return l3lines(e.nbctl("--bare", "--columns=name", "list", "Logical_Router"))
}

// nat lists a router's NAT rows as "type external_ip logical_ip", sorted;
// nil when NB has no such router.
func (e *l3env) nat(routerID string) []string {
	e.a.tb.Helper()
	refs, err := e.o.NBCtlErr("get", "Logical_Router", "neutron-"+routerID, "nat")
	if err != nil {
		return nil
	}
	nat := []string{}
	for _, u := range strings.FieldsFunc(refs, func(r rune) bool { return strings.ContainsRune("[], \n", r) }) {
		nat = append(nat, strings.Join(strings.Fields(e.nbctl("--bare", "--columns=type,external_ip,logical_ip", "list", "NAT", u)), " "))
	}
	sort.Strings(nat)
	return nat
}

func l3logs(tb testing.TB, o *ovntest.OVN) {
	if tb.Failed() && os.Getenv("SPINEL_TEST_LOG") != "" {
		tb.Log(o.Logs())
	}
}
