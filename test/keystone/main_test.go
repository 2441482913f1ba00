// Package keystone tests spinel with Keystone authentication against a real
// Keystone (Debian's keystone package, started by internal/keystonetest)
// and the four users it creates: an admin, a member of project A, a member
// of project B and a reader of project A.
package keystone

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/keystonetest"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// ks is the package's Keystone, started once (nil with -short).
var ks *keystonetest.Keystone

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		var err error
		if ks, err = keystonetest.Start(context.Background(), keystonetest.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if ks != nil {
		ks.Close()
	}
	os.Exit(code)
}

func needKeystone(tb testing.TB) {
	tb.Helper()
	if ks == nil {
		tb.Skip("-short: no Keystone")
	}
}

// startSpinel starts a spinel server authenticating with the test Keystone,
// trusting validated tokens for cacheTime.
func startSpinel(tb testing.TB, cacheTime time.Duration, opts ...testserver.Option) *testserver.Server {
	tb.Helper()
	kc := ks.AuthConfig()
	kc.CacheTime = cacheTime
	return testserver.Start(tb, append([]testserver.Option{testserver.WithKeystone(kc)}, opts...)...)
}

func token(tb testing.TB, u keystonetest.User) string {
	tb.Helper()
	tok, err := ks.Token(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// client sends API requests with one token.
type client struct {
	tb    testing.TB
	url   string
	token string
	http  *http.Client
}

func newClient(tb testing.TB, srv *testserver.Server, tok string) *client {
	return &client{tb: tb, url: srv.URL, token: tok, http: &http.Client{Timeout: 30 * time.Second}}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c *client) do(method, path string, body any, headers ...string) *response {
	c.tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

// expect fails unless the status is want and returns the response.
func (r *response) expect(tb testing.TB, what string, want int) *response {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("%s: HTTP %d, want %d: %s", what, r.status, want, r.raw)
	}
	return r
}

// fault checks a NeutronError body of the given status and type.
func (r *response) fault(tb testing.TB, what string, status int, typ string) {
	tb.Helper()
	r.expect(tb, what, status)
	ne, _ := r.body["NeutronError"].(map[string]any)
	if ne == nil || ne["type"] != typ || ne["message"] == "" {
		tb.Fatalf("%s: body %s, want a NeutronError of type %s", what, r.raw, typ)
	}
	if _, ok := ne["detail"]; !ok {
		tb.Fatalf("%s: NeutronError without detail: %s", what, r.raw)
	}
}

func (r *response) obj(key string) map[string]any {
	m, _ := r.body[key].(map[string]any)
	return m
}

func (r *response) list(key string) []map[string]any {
	var out []map[string]any
	l, _ := r.body[key].([]any)
	for _, e := range l {
		out = append(out, e.(map[string]any))
	}
	return out
}

// names returns the "name" of each element of a list response.
func (r *response) names(key string) []string {
	var out []string
	for _, e := range r.list(key) {
		out = append(out, fmt.Sprint(e["name"]))
	}
	return out
}

// unlimitedQuotas lifts the default quotas (benchmarks create many ports).
func unlimitedQuotas(c *server.Config) {
	for k := range c.Service.DefaultQuotas {
		c.Service.DefaultQuotas[k] = -1
	}
}
