package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/keystonetest"
	"github.com/spinel-net/spinel/internal/neutron"
)

// ks is the package's real Keystone (nil with -short).
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

func needKeystone(t *testing.T) {
	t.Helper()
	if ks == nil {
		t.Skip("-short: no Keystone")
	}
}

// counter counts the requests spinel sends to Keystone, by method.
type counter struct {
	gets, posts atomic.Int32
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.gets.Add(1)
	} else {
		c.posts.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newKeystone(t *testing.T, cacheTime time.Duration) (*auth.Keystone, *counter) {
	t.Helper()
	cfg := ks.AuthConfig()
	cfg.CacheTime = cacheTime
	c := &counter{}
	cfg.HTTPClient = &http.Client{Transport: c, Timeout: 10 * time.Second}
	k, err := auth.NewKeystone(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v2.0/networks", nil)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	// Headers that only noauth mode honours must be ignored.
	r.Header.Set("X-Project-Id", "evil")
	r.Header.Set("X-Roles", "admin")
	return r
}

func token(t *testing.T, u keystonetest.User) string {
	t.Helper()
	tok, err := ks.Token(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantStatus(t *testing.T, what string, err error, status int) *neutron.Error {
	t.Helper()
	e, ok := neutron.As(err)
	if !ok || e.Status != status {
		t.Fatalf("%s: err = %v, want HTTP %d", what, err, status)
	}
	return e
}

func TestKeystoneIdentities(t *testing.T) {
	needKeystone(t)
	k, _ := newKeystone(t, time.Minute)
	for _, c := range []struct {
		u       keystonetest.User
		project string
		roles   []string
		admin   bool
	}{
		{ks.Admin, ks.Admin.ProjectID, []string{"admin", "member", "reader"}, true},
		{ks.MemberA, ks.ProjectA, []string{"member", "reader"}, false},
		{ks.MemberB, ks.ProjectB, []string{"member", "reader"}, false},
		{ks.Reader, ks.ProjectA, []string{"reader"}, false},
	} {
		id, err := k.Authenticate(request(token(t, c.u)))
		if err != nil {
			t.Fatalf("%s: %v", c.u.Name, err)
		}
		roles := slices.Clone(id.Roles)
		slices.Sort(roles)
		if id.ProjectID != c.project || id.UserID != c.u.ID || id.Admin != c.admin || !slices.Equal(roles, c.roles) ||
			id.UserName != c.u.Name || id.ProjectName != c.u.Project || id.UserDomainID != "default" || id.ProjectDomainID != "default" {
			t.Errorf("%s: identity %+v; want project %s roles %v admin %v", c.u.Name, id, c.project, c.roles, c.admin)
		}
	}
}

func TestKeystoneRefusals(t *testing.T) {
	needKeystone(t)
	k, c := newKeystone(t, time.Minute)
	for name, tok := range map[string]string{
		"missing":  "",
		"garbage":  "not-a-token",
		"too long": strings.Repeat("x", auth.MaxTokenBytes+1),
	} {
		_, err := k.Authenticate(request(tok))
		wantStatus(t, name, err, http.StatusUnauthorized)
		e, _ := neutron.As(err)
		if e.Type != "HTTPUnauthorized" || e.Message != "The request you have made requires authentication." {
			t.Errorf("%s: %+v", name, e)
		}
		var h interface{ ResponseHeader() http.Header }
		if !errors.As(err, &h) || h.ResponseHeader().Get("WWW-Authenticate") != fmt.Sprintf("Keystone uri=%q", ks.URL) {
			t.Errorf("%s: no WWW-Authenticate challenge naming %s", name, ks.URL)
		}
	}
	if n := c.gets.Load(); n != 1 {
		t.Errorf("%d validations for 3 refusals, want 1 (missing and oversized tokens are refused without asking)", n)
	}
	// Invalid tokens are cached too.
	k.Authenticate(request("not-a-token"))
	if n := c.gets.Load(); n != 1 {
		t.Errorf("invalid token validated again (%d requests)", n)
	}

	// A valid token that is not scoped to a project.
	b, _ := json.Marshal(map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods":  []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": ks.MemberA.Name, "password": ks.MemberA.Password, "domain": map[string]string{"name": "Default"}}},
	}}})
	resp, err := http.Post(ks.URL+"/v3/auth/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = k.Authenticate(request(resp.Header.Get("X-Subject-Token")))
	if e := wantStatus(t, "unscoped token", err, http.StatusForbidden); !strings.Contains(e.Message, "project-scoped") {
		t.Errorf("unscoped token: %v", e)
	}
}

func TestKeystoneCacheAndRevocation(t *testing.T) {
	needKeystone(t)
	ctx := context.Background()
	const cacheTime = 2 * time.Second
	k, c := newKeystone(t, cacheTime)
	tok := token(t, ks.MemberA)
	for range 10 {
		if _, err := k.Authenticate(request(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.gets.Load(); n != 1 {
		t.Errorf("%d validations of one token, want 1", n)
	}
	if n := c.posts.Load(); n != 1 {
		t.Errorf("%d service authentications, want 1", n)
	}
	if err := ks.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	// Trusted until the cache entry expires (the documented trade-off)...
	if _, err := k.Authenticate(request(tok)); err != nil {
		t.Errorf("revoked token refused within the cache time: %v", err)
	}
	// ... and refused after.
	for {
		_, err := k.Authenticate(request(tok))
		if err != nil {
			wantStatus(t, "revoked token", err, http.StatusUnauthorized)
			break
		}
		if time.Since(revoked) > cacheTime+time.Second {
			t.Fatalf("revoked token still accepted %v after revocation (cache time %v)", time.Since(revoked), cacheTime)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Without a cache, revocation is immediate.
	k0, c0 := newKeystone(t, 0)
	tok = token(t, ks.MemberA)
	for range 3 {
		if _, err := k0.Authenticate(request(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c0.gets.Load(); n != 3 {
		t.Errorf("cache off: %d validations for 3 requests", n)
	}
	if err := ks.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err := k0.Authenticate(request(tok))
	wantStatus(t, "revoked token, cache off", err, http.StatusUnauthorized)
}

func TestKeystoneExpiredToken(t *testing.T) {
	needKeystone(t)
	k, _ := newKeystone(t, time.Hour)
	tok, exp, err := ks.ShortLivedToken(context.Background(), ks.MemberA, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	id, err := k.Authenticate(request(tok))
	if err != nil || id.ProjectID != ks.ProjectA {
		t.Fatalf("short-lived token before expiry: %v, %v", id, err)
	}
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	// Cached for an hour, but never past the token's own expiry.
	_, err = k.Authenticate(request(tok))
	wantStatus(t, "expired token", err, http.StatusUnauthorized)
}

func TestKeystoneConcurrentMisses(t *testing.T) {
	needKeystone(t)
	k, c := newKeystone(t, time.Minute)
	// Warm the service token.
	if _, err := k.Authenticate(request(token(t, ks.Admin))); err != nil {
		t.Fatal(err)
	}
	tok := token(t, ks.MemberB)
	before := c.gets.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if id, err := k.Authenticate(request(tok)); err != nil || id.ProjectID != ks.ProjectB {
				t.Errorf("%v %v", id, err)
			}
		})
	}
	wg.Wait()
	if n := c.gets.Load() - before; n != 1 {
		t.Errorf("50 concurrent requests with one new token made %d validations, want 1", n)
	}
}

func TestKeystoneServiceTokenRenewed(t *testing.T) {
	needKeystone(t)
	k, c := newKeystone(t, time.Minute)
	if _, err := k.Authenticate(request(token(t, ks.MemberA))); err != nil {
		t.Fatal(err)
	}
	// Revoke every token of spinel's service user, its own included.
	if err := ks.RevokeUserTokens(context.Background(), ks.Service); err != nil {
		t.Fatal(err)
	}
	posts := c.posts.Load()
	if _, err := k.Authenticate(request(token(t, ks.MemberB))); err != nil {
		t.Fatalf("after the service token was revoked: %v", err)
	}
	if n := c.posts.Load() - posts; n != 1 {
		t.Errorf("%d service authentications after revocation, want 1", n)
	}
}

func TestKeystoneBadServiceCredentials(t *testing.T) {
	needKeystone(t)
	cfg := ks.AuthConfig()
	cfg.Password = "wrong"
	k, err := auth.NewKeystone(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Authenticate(request(token(t, ks.MemberA)))
	wantStatus(t, "wrong service password", err, http.StatusServiceUnavailable)

	// A service user without the service (or admin) role may validate
	// only its own tokens.
	cfg = ks.AuthConfig()
	cfg.Username, cfg.Password, cfg.ProjectName = ks.MemberB.Name, ks.MemberB.Password, ks.MemberB.Project
	k, _ = auth.NewKeystone(cfg)
	_, err = k.Authenticate(request(token(t, ks.MemberA)))
	wantStatus(t, "service user without the service role", err, http.StatusServiceUnavailable)
}

// TestKeystoneDown runs last: it stops and restarts the shared Keystone.
func TestKeystoneDown(t *testing.T) {
	needKeystone(t)
	ctx := context.Background()
	k, _ := newKeystone(t, time.Minute)
	cached := token(t, ks.MemberA)
	if _, err := k.Authenticate(request(cached)); err != nil {
		t.Fatal(err)
	}
	uncached := token(t, ks.MemberB)
	if err := ks.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := ks.Restart(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	_, err := k.Authenticate(request(uncached))
	if e := wantStatus(t, "uncached token, keystone down", err, http.StatusServiceUnavailable); e.Type != "HTTPServiceUnavailable" {
		t.Errorf("type %q", e.Type)
	}
	_, err = k.Authenticate(request("garbage"))
	wantStatus(t, "garbage token, keystone down", err, http.StatusServiceUnavailable)
	if id, err := k.Authenticate(request(cached)); err != nil || id.ProjectID != ks.ProjectA {
		t.Errorf("cached token, keystone down: %v %v", id, err)
	}
	// A fresh authenticator has no service token yet.
	k2, _ := newKeystone(t, time.Minute)
	_, err = k2.Authenticate(request(cached))
	wantStatus(t, "no service token, keystone down", err, http.StatusServiceUnavailable)

	restarted = true
	if err := ks.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// 503s are not cached: the same token works once Keystone is back.
	if id, err := k.Authenticate(request(uncached)); err != nil || id.ProjectID != ks.ProjectB {
		t.Errorf("after restart: %v %v", id, err)
	}
}

// BenchmarkAuthenticate compares the per-request cost of noauth and of
// Keystone authentication with the token cached (the steady state).
func BenchmarkAuthenticate(b *testing.B) {
	if ks == nil {
		b.Skip("-short: no Keystone")
	}
	cfg := ks.AuthConfig()
	cfg.CacheTime = time.Hour
	k, err := auth.NewKeystone(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := ks.Token(context.Background(), ks.MemberA)
	if err != nil {
		b.Fatal(err)
	}
	for name, a := range map[string]auth.Authenticator{"noauth": auth.NoAuth{AdminProject: "admin"}, "keystone-cached": k} {
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/v2.0/networks", nil)
			r.Header.Set("X-Auth-Token", tok)
			r.Header.Set("X-Project-Id", ks.ProjectA)
			if _, err := a.Authenticate(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Authenticate(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
