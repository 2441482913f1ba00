package keystone

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFourUsers: what the admin, the members of A and B and the reader of
// A may see and do, with identities taken from real Keystone tokens.
func TestFourUsers(t *testing.T) {
	needKeystone(t)
	srv := startSpinel(t, time.Minute)
	admin := newClient(t, srv, token(t, ks.Admin))
	a := newClient(t, srv, token(t, ks.MemberA))
	b := newClient(t, srv, token(t, ks.MemberB))
	reader := newClient(t, srv, token(t, ks.Reader))

	// Members create in their own project, named by their token.
	netA := a.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "net-a"}}).expect(t, "member A creates", http.StatusCreated).obj("network")
	if netA["project_id"] != ks.ProjectA || netA["tenant_id"] != ks.ProjectA {
		t.Fatalf("network of member A belongs to %v/%v, want %s", netA["project_id"], netA["tenant_id"], ks.ProjectA)
	}
	idA := netA["id"].(string)
	subA := a.do("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": idA, "cidr": "10.1.0.0/24", "ip_version": 4, "name": "sub-a"}}).expect(t, "member A creates a subnet", http.StatusCreated).obj("subnet")
	portA := a.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": idA, "name": "port-a"}}).
		expect(t, "member A creates a port", http.StatusCreated).obj("port")
	netB := b.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "net-b"}}).expect(t, "member B creates", http.StatusCreated).obj("network")
	if netB["project_id"] != ks.ProjectB {
		t.Fatalf("network of member B belongs to %v", netB["project_id"])
	}
	// noauth's headers are ignored: B cannot claim to be A.
	b.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "spoof"}}, "X-Project-Id", ks.ProjectA, "X-Roles", "admin").
		expect(t, "member B with X-Project-Id of A", http.StatusCreated)
	spoof := b.do("GET", "/v2.0/networks?name=spoof", nil).expect(t, "list", http.StatusOK).list("networks")
	if len(spoof) != 1 || spoof[0]["project_id"] != ks.ProjectB {
		t.Fatalf("X-Project-Id honoured under Keystone: %v", spoof)
	}

	// B can neither see nor change A's resources: 404, as in Neutron.
	for _, c := range []struct{ method, path, typ string }{
		{"GET", "/v2.0/networks/" + idA, "NetworkNotFound"},
		{"PUT", "/v2.0/networks/" + idA, "NetworkNotFound"},
		{"DELETE", "/v2.0/networks/" + idA, "NetworkNotFound"},
		{"GET", "/v2.0/subnets/" + subA["id"].(string), "SubnetNotFound"},
		{"DELETE", "/v2.0/subnets/" + subA["id"].(string), "SubnetNotFound"},
		{"GET", "/v2.0/ports/" + portA["id"].(string), "PortNotFound"},
		{"PUT", "/v2.0/ports/" + portA["id"].(string), "PortNotFound"},
		{"DELETE", "/v2.0/ports/" + portA["id"].(string), "PortNotFound"},
	} {
		var body any
		if c.method == "PUT" {
			key := "network"
			if strings.Contains(c.path, "/ports/") {
				key = "port"
			}
			body = map[string]any{key: map[string]any{"name": "stolen"}}
		}
		b.do(c.method, c.path, body).fault(t, "member B: "+c.method+" "+c.path, http.StatusNotFound, c.typ)
	}
	if names := b.do("GET", "/v2.0/networks", nil).expect(t, "B lists", http.StatusOK).names("networks"); slices.Contains(names, "net-a") {
		t.Errorf("member B lists A's network: %v", names)
	}
	if ports := b.do("GET", "/v2.0/ports?network_id="+idA, nil).expect(t, "B lists ports", http.StatusOK).list("ports"); len(ports) != 0 {
		t.Errorf("member B lists A's ports: %v", ports)
	}
	// B cannot put a port on A's network either.
	b.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": idA}}).fault(t, "member B: port on A's network", http.StatusNotFound, "NetworkNotFound")

	// Admin-only attributes: 403 for members.
	for name, body := range map[string]map[string]any{
		"provider:network_type": {"network": map[string]any{"name": "x", "provider:network_type": "vlan", "provider:physical_network": "physnet1"}},
		"router:external":       {"network": map[string]any{"name": "x", "router:external": true}},
		"shared":                {"network": map[string]any{"name": "x", "shared": true}},
	} {
		r := a.do("POST", "/v2.0/networks", body)
		if r.status != http.StatusForbidden {
			t.Errorf("member A sets %s: HTTP %d, want 403: %s", name, r.status, r.raw)
		}
	}
	// Another project as owner: Neutron's 400 (not a policy check).
	a.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "x", "tenant_id": ks.ProjectB}}).
		fault(t, "member A creates for B", http.StatusBadRequest, "HTTPBadRequest")
	a.do("PUT", "/v2.0/networks/"+idA, map[string]any{"network": map[string]any{"shared": true}}).fault(t, "member A shares", http.StatusForbidden, "PolicyNotAuthorized")
	a.do("PUT", "/v2.0/ports/"+portA["id"].(string), map[string]any{"port": map[string]any{"binding:host_id": "hv1"}}).fault(t, "member A binds", http.StatusForbidden, "PolicyNotAuthorized")

	// The reader of A sees A's resources and cannot write.
	reader.do("GET", "/v2.0/networks/"+idA, nil).expect(t, "reader shows A's network", http.StatusOK)
	if names := reader.do("GET", "/v2.0/networks", nil).expect(t, "reader lists", http.StatusOK).names("networks"); !slices.Contains(names, "net-a") || slices.Contains(names, "net-b") {
		t.Errorf("reader of A lists %v", names)
	}
	reader.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "r"}}).fault(t, "reader creates", http.StatusForbidden, "PolicyNotAuthorized")
	reader.do("PUT", "/v2.0/networks/"+idA, map[string]any{"network": map[string]any{"name": "r"}}).fault(t, "reader updates", http.StatusForbidden, "PolicyNotAuthorized")
	reader.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": idA}}).fault(t, "reader creates a port", http.StatusForbidden, "PolicyNotAuthorized")
	reader.do("DELETE", "/v2.0/ports/"+portA["id"].(string), nil).fault(t, "reader deletes a port", http.StatusForbidden, "PolicyNotAuthorized")
	reader.do("DELETE", "/v2.0/networks/"+idA, nil).fault(t, "reader deletes", http.StatusForbidden, "PolicyNotAuthorized")
	reader.do("GET", "/v2.0/networks/"+netB["id"].(string), nil).fault(t, "reader of A shows B's network", http.StatusNotFound, "NetworkNotFound")

	// Nothing the refused requests tried was written.
	got := a.do("GET", "/v2.0/networks/"+idA, nil).expect(t, "A shows", http.StatusOK).obj("network")
	if got["name"] != "net-a" || got["shared"] != false {
		t.Errorf("A's network changed by refused requests: %v", got)
	}
	if n := len(a.do("GET", "/v2.0/ports?network_id="+idA, nil).list("ports")); n != 1 {
		t.Errorf("A's network has %d ports, want 1", n)
	}

	// The admin sees everything and may set admin-only attributes.
	names := admin.do("GET", "/v2.0/networks", nil).expect(t, "admin lists", http.StatusOK).names("networks")
	for _, want := range []string{"net-a", "net-b", "spoof"} {
		if !slices.Contains(names, want) {
			t.Errorf("admin's list %v lacks %s", names, want)
		}
	}
	admin.do("PUT", "/v2.0/networks/"+idA, map[string]any{"network": map[string]any{"shared": true}}).expect(t, "admin shares A's network", http.StatusOK)
	if names := b.do("GET", "/v2.0/networks", nil).names("networks"); !slices.Contains(names, "net-a") {
		t.Errorf("member B does not see the shared network: %v", names)
	}
	ext := admin.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "public", "router:external": true}}).
		expect(t, "admin creates an external network", http.StatusCreated).obj("network")
	if ext["project_id"] != ks.Admin.ProjectID {
		t.Errorf("admin's network belongs to %v, want %s", ext["project_id"], ks.Admin.ProjectID)
	}
	admin.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "for-b", "tenant_id": ks.ProjectB}}).
		expect(t, "admin creates for B", http.StatusCreated)
	if names := b.do("GET", "/v2.0/networks", nil).names("networks"); !slices.Contains(names, "for-b") {
		t.Errorf("member B does not see the network the admin made for it: %v", names)
	}
	a.do("DELETE", "/v2.0/ports/"+portA["id"].(string), nil).expect(t, "member A deletes its port", http.StatusNoContent)
}

// TestUnauthenticated: which paths need a token, and Neutron's 401.
func TestUnauthenticated(t *testing.T) {
	needKeystone(t)
	srv := startSpinel(t, time.Minute)
	anon := newClient(t, srv, "")
	for _, p := range []string{"/", "/healthz", "/readyz", "/metrics"} {
		anon.do("GET", p, nil).expect(t, "GET "+p+" without a token", http.StatusOK)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v2.0"}, {"GET", "/v2.0/"}, {"GET", "/v2.0/networks"}, {"POST", "/v2.0/networks"},
		{"GET", "/v2.0/extensions"}, {"GET", "/v2.0/ports/x"}, {"GET", "/v2.0/quotas"}, {"GET", "/v2.0/nonexistent"},
	} {
		for name, tok := range map[string]string{"no token": "", "garbage token": "garbage"} {
			cl := newClient(t, srv, tok)
			r := cl.do(c.method, c.path, nil)
			r.fault(t, name+": "+c.method+" "+c.path, http.StatusUnauthorized, "HTTPUnauthorized")
			if h := r.header.Get("WWW-Authenticate"); h != fmt.Sprintf("Keystone uri=%q", ks.URL) {
				t.Errorf("%s %s: WWW-Authenticate %q", c.method, c.path, h)
			}
			if r.header.Get("X-Openstack-Request-Id") == "" {
				t.Errorf("%s %s: no request id", c.method, c.path)
			}
		}
	}
	// The versions document links to /v2.0 without a token, as Neutron's does.
	if r := anon.do("GET", "/", nil); !strings.Contains(r.raw, "v2.0") {
		t.Errorf("versions document: %s", r.raw)
	}
}

// TestExpiredAndRevokedTokens: an expired token is refused at once, even
// with a long cache; a revoked one once its cache entry ends.
func TestExpiredAndRevokedTokens(t *testing.T) {
	needKeystone(t)
	ctx := context.Background()
	const cacheTime = 2 * time.Second
	srv := startSpinel(t, cacheTime)

	short, exp, err := ks.ShortLivedToken(ctx, ks.MemberA, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, short)
	c.do("GET", "/v2.0/networks", nil).expect(t, "short-lived token before expiry", http.StatusOK)
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	c.do("GET", "/v2.0/networks", nil).fault(t, "expired token", http.StatusUnauthorized, "HTTPUnauthorized")
	c.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "late"}}).fault(t, "expired token writes", http.StatusUnauthorized, "HTTPUnauthorized")

	tok := token(t, ks.MemberA)
	c = newClient(t, srv, tok)
	c.do("GET", "/v2.0/networks", nil).expect(t, "fresh token", http.StatusOK)
	if err := ks.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		r := c.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "after-revoke"}})
		if r.status == http.StatusUnauthorized {
			r.fault(t, "revoked token", http.StatusUnauthorized, "HTTPUnauthorized")
			break
		}
		r.expect(t, "revoked token within the cache time", http.StatusCreated)
		if time.Since(revoked) > cacheTime+time.Second {
			t.Fatalf("revoked token still accepted %v after revocation (token cache time %v)", time.Since(revoked), cacheTime)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// All tokens of a user, revoked by Keystone (password change).
	tok = token(t, ks.MemberB)
	c = newClient(t, srv, tok)
	c.do("GET", "/v2.0/networks", nil).expect(t, "member B", http.StatusOK)
	if err := ks.RevokeUserTokens(ctx, ks.MemberB); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(cacheTime + time.Second)
	for c.do("GET", "/v2.0/networks", nil).status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("token of a user whose tokens were revoked still accepted after the cache time")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKeystoneDown: with Keystone stopped, requests whose token spinel has
// not validated yet get 503 and write nothing; with the cache off, every
// request does. It stops and restarts the package's Keystone.
func TestKeystoneDown(t *testing.T) {
	needKeystone(t)
	ctx := context.Background()
	cached := startSpinel(t, time.Minute)
	uncached := startSpinel(t, 0)
	tokA, tokB := token(t, ks.MemberA), token(t, ks.MemberB)
	adminTok := token(t, ks.Admin)
	newClient(t, cached, tokA).do("GET", "/v2.0/networks", nil).expect(t, "warm the cache", http.StatusOK)

	if err := ks.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			ks.Restart(ctx)
		}
	})
	for _, c := range []struct {
		what string
		c    *client
	}{
		{"uncached token", newClient(t, cached, tokB)},
		{"garbage token", newClient(t, cached, "garbage")},
		{"cache off", newClient(t, uncached, tokA)},
		{"cache off, admin", newClient(t, uncached, adminTok)},
	} {
		c.c.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "while-down"}}).
			fault(t, c.what+": create with keystone down", http.StatusServiceUnavailable, "HTTPServiceUnavailable")
		c.c.do("GET", "/v2.0/networks", nil).fault(t, c.what+": list with keystone down", http.StatusServiceUnavailable, "HTTPServiceUnavailable")
		c.c.do("DELETE", "/v2.0/networks/x", nil).fault(t, c.what+": delete with keystone down", http.StatusServiceUnavailable, "HTTPServiceUnavailable")
	}
	// A token validated before Keystone went away is trusted for the
	// cache time (keystonemiddleware's behaviour too).
	newClient(t, cached, tokA).do("GET", "/v2.0/networks", nil).expect(t, "cached token with keystone down", http.StatusOK)
	// Health endpoints stay up: spinel itself is fine.
	newClient(t, cached, "").do("GET", "/healthz", nil).expect(t, "healthz", http.StatusOK)

	restarted = true
	if err := ks.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*struct {
		name string
		c    *client
	}{{"cached", newClient(t, cached, adminTok)}, {"uncached", newClient(t, uncached, adminTok)}} {
		if names := srv.c.do("GET", "/v2.0/networks", nil).expect(t, "admin lists after restart", http.StatusOK).names("networks"); slices.Contains(names, "while-down") {
			t.Errorf("%s server: a request refused with 503 wrote a network: %v", srv.name, names)
		}
	}
	// And the refused token works now.
	newClient(t, cached, tokB).do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "after"}}).expect(t, "token after keystone is back", http.StatusCreated)
}
