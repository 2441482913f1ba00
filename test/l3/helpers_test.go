// Package l3 tests routers, floating IPs and the flavor framework against
// a real server.
package l3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

type api struct {
	t       *testing.T
	tb      testing.TB // used when t is nil (benchmarks)
	base    string
	project string // X-Project-Id, "" for admin
}

type resp struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (a api) as(project string) api { a.project = project; return a }

func (a api) T() testing.TB {
	if a.t != nil {
		return a.t
	}
	return a.tb
}

func (a api) do(method, path string, body any) resp {
	a.T().Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if a.project != "" {
		req.Header.Set("X-Project-Id", a.project)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.T().Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: string(raw)}
	json.Unmarshal(raw, &out.Body)
	return out
}

// must performs a request that must answer want and returns the object
// under key (or the whole body if key is "").
func (a api) must(want int, method, path string, body any, key string) map[string]any {
	a.T().Helper()
	r := a.do(method, path, body)
	if r.Status != want {
		a.T().Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	if key == "" {
		return r.Body
	}
	m, _ := r.Body[key].(map[string]any)
	return m
}

// fail performs a request that must fail with status and Neutron type.
func (a api) fail(status int, typ, method, path string, body any) string {
	a.T().Helper()
	r := a.do(method, path, body)
	e, _ := r.Body["NeutronError"].(map[string]any)
	if r.Status != status || e == nil || (typ != "" && e["type"] != typ) {
		a.T().Fatalf("%s %s: got %d %s, want %d %s", method, path, r.Status, r.Raw, status, typ)
	}
	return fmt.Sprint(e["message"])
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func id(m map[string]any) string { return m["id"].(string) }

// topology creates an external network with a subnet, an internal network
// of the given type with a subnet, and returns their ids.
func topology(a api, internalType string) (extNet, extSub, net, sub string) {
	ext := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "ext", "router:external": true}}, "network")
	es := a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(ext), "cidr": "203.0.113.0/24", "ip_version": 4}}, "subnet")
	body := map[string]any{"name": "int"}
	if internalType != "" {
		body["provider:network_type"] = internalType
	}
	n := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": body}, "network")
	s := a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n), "cidr": "10.1.0.0/24", "ip_version": 4}}, "subnet")
	return id(ext), id(es), id(n), id(s)
}
