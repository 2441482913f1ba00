package l3

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/external"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// backend is a small real L3 backend speaking the external driver's wire
// contract: it checks signatures, keeps the routers it is given and
// answers every floating IP ACTIVE. It can be taken down.
type backend struct {
	t       testing.TB
	secret  string
	srv     *httptest.Server
	down    atomic.Bool
	mu      sync.Mutex
	routers map[string]external.Router
}

func newBackend(t *testing.T, secret string) *backend { return newBackendTB(t, secret) }

func newBackendTB(t testing.TB, secret string) *backend {
	b := &backend{t: t, secret: secret, routers: map[string]external.Router{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if b.down.Load() {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := external.Verify(b.secret, r, body, time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := r.URL.Path[len("/routers/"):]
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

// state returns the router ids the backend holds and, for each, its
// floating IP ids.
func (b *backend) state() map[string][]string {
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

func providers(c *server.Config) {
	c.Service.Providers = []l3.Provider{
		{ServiceType: l3.ServiceType, Name: "routed", Driver: "routed", Default: true},
		{ServiceType: l3.ServiceType, Name: "external", Driver: "external"},
	}
	c.ExternalSecret = "s3cret"
}

// flavor creates a flavor bound to a profile of the external driver
// pointing at b.
func flavor(a api, name string, b *backend) string {
	meta, _ := json.Marshal(map[string]string{"url": b.srv.URL, "timeout": "2s"})
	p := a.must(201, "POST", "/v2.0/service_profiles", map[string]any{"service_profile": map[string]any{"driver": "external", "metainfo": string(meta)}}, "service_profile")
	f := a.must(201, "POST", "/v2.0/flavors", map[string]any{"flavor": map[string]any{"name": name, "service_type": "L3_ROUTER_NAT"}}, "flavor")
	a.must(201, "POST", "/v2.0/flavors/"+id(f)+"/service_profiles", map[string]any{"service_profile": map[string]any{"id": id(p)}}, "")
	return id(f)
}

// TestThreeProviders: routers of the routed provider and of two external
// backends coexist; each backend receives exactly its own routers and
// floating IPs; a floating IP moved between flavors leaves one backend and
// reaches the other; a backend that is down makes only its routers ERROR,
// and they return to ACTIVE when it is back.
func TestThreeProviders(t *testing.T) {
	srv := testserver.Start(t, providers)
	a := api{t: t, base: srv.URL}
	ba, bb := newBackend(t, "s3cret"), newBackend(t, "s3cret")
	fa, fb := flavor(a, "gold", ba), flavor(a, "silver", bb)

	ext := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "ext", "router:external": true}}, "network")
	a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(ext), "cidr": "198.51.100.0/24", "ip_version": 4}}, "subnet")

	type leg struct{ router, port string }
	mk := func(i int, flavorID, netType string) leg {
		body := map[string]any{"name": fmt.Sprint("r", i), "external_gateway_info": map[string]any{"network_id": id(ext)}}
		if flavorID != "" {
			body["flavor_id"] = flavorID
		}
		r := a.must(201, "POST", "/v2.0/routers", map[string]any{"router": body}, "router")
		if flavorID != "" && r["flavor_id"] != flavorID {
			t.Fatalf("flavor_id not echoed: %v", r)
		}
		n := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": netType}}, "network")
		s := a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n), "cidr": fmt.Sprintf("10.%d.0.0/24", 50+i), "ip_version": 4}}, "subnet")
		a.must(200, "PUT", "/v2.0/routers/"+id(r)+"/add_router_interface", map[string]any{"subnet_id": id(s)}, "")
		p := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, "port")
		return leg{id(r), id(p)}
	}
	r0 := mk(0, "", "routed")
	ra := mk(1, fa, "geneve")
	rb := mk(2, fb, "geneve")

	status := func(kind, oid string) any {
		return a.must(200, "GET", "/v2.0/"+kind+"s/"+oid, nil, kind)["status"]
	}
	for _, r := range []string{r0.router, ra.router, rb.router} {
		eventually(t, 5*time.Second, "router "+r+" ACTIVE", func() bool { return status("router", r) == "ACTIVE" })
	}
	// Each backend holds exactly its own router.
	if st := ba.state(); len(st) != 1 || st[ra.router] == nil {
		t.Errorf("backend A holds %v, want only %s", st, ra.router)
	}
	if st := bb.state(); len(st) != 1 || st[rb.router] == nil {
		t.Errorf("backend B holds %v, want only %s", st, rb.router)
	}

	// A floating IP behind router A goes to backend A and turns ACTIVE
	// from its answer.
	start := time.Now()
	fip := id(a.must(201, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(ext), "port_id": ra.port}}, "floatingip"))
	eventually(t, 5*time.Second, "floating IP ACTIVE from backend A", func() bool { return status("floatingip", fip) == "ACTIVE" })
	t.Logf("floating IP status reflected backend A's answer after %v", time.Since(start))
	if got := ba.state()[ra.router]; len(got) != 1 || got[0] != fip {
		t.Errorf("backend A floating IPs = %v", got)
	}
	if got := bb.state()[rb.router]; len(got) != 0 {
		t.Errorf("backend B got foreign floating IPs %v", got)
	}

	// Moved to a port behind router B: withdrawn from A, given to B.
	f := a.must(200, "PUT", "/v2.0/floatingips/"+fip, map[string]any{"floatingip": map[string]any{"port_id": rb.port}}, "floatingip")
	if f["router_id"] != rb.router {
		t.Fatalf("floating IP router after move = %v, want %s", f["router_id"], rb.router)
	}
	eventually(t, 5*time.Second, "floating IP withdrawn from A and at B", func() bool {
		return len(ba.state()[ra.router]) == 0 && len(bb.state()[rb.router]) == 1
	})

	// Backend A down: only router A turns ERROR, and back to ACTIVE after.
	ba.down.Store(true)
	a.must(200, "PUT", "/v2.0/routers/"+ra.router, map[string]any{"router": map[string]any{"name": "poke"}}, "router")
	eventually(t, 5*time.Second, "router A ERROR", func() bool { return status("router", ra.router) == "ERROR" })
	if s0, sb := status("router", r0.router), status("router", rb.router); s0 != "ACTIVE" || sb != "ACTIVE" {
		t.Errorf("other flavors affected by backend A being down: routed %v, B %v", s0, sb)
	}
	if status("floatingip", fip) != "ACTIVE" {
		t.Errorf("floating IP on backend B affected by backend A")
	}
	ba.down.Store(false)
	eventually(t, 10*time.Second, "router A ACTIVE again", func() bool { return status("router", ra.router) == "ACTIVE" })

	// Deleting router B removes it from its backend.
	a.must(204, "DELETE", "/v2.0/floatingips/"+fip, nil, "")
	info := a.must(200, "GET", "/v2.0/ports?device_owner=network:router_interface&device_id="+rb.router, nil, "")["ports"].([]any)
	sub := info[0].(map[string]any)["fixed_ips"].([]any)[0].(map[string]any)["subnet_id"]
	a.must(200, "PUT", "/v2.0/routers/"+rb.router+"/remove_router_interface", map[string]any{"subnet_id": sub}, "")
	a.must(204, "DELETE", "/v2.0/routers/"+rb.router, nil, "")
	eventually(t, 5*time.Second, "router B deleted at backend B", func() bool { return len(bb.state()) == 0 })

	// A flavor in use cannot be deleted.
	a.fail(409, "FlavorInUse", "DELETE", "/v2.0/flavors/"+fa, nil)
}
