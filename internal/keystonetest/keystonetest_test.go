package keystonetest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

// validate returns Keystone's token document for token (as the admin).
func validate(t *testing.T, k *Keystone, token string) (int, map[string]any) {
	t.Helper()
	admin, err := k.Token(context.Background(), k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, k.URL+"/v3/auth/tokens?nocatalog", nil)
	req.Header.Set("X-Auth-Token", admin)
	req.Header.Set("X-Subject-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token map[string]any `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Token
}

func roleNames(tok map[string]any) []string {
	var names []string
	roles, _ := tok["roles"].([]any)
	for _, r := range roles {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

func TestKeystone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Keystone")
	}
	ctx := context.Background()
	start := time.Now()
	k, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	t.Logf("keystone ready in %v at %s", time.Since(start), k.URL)

	if k.ProjectA == "" || k.ProjectB == "" || k.ProjectA == k.ProjectB {
		t.Fatalf("projects: %q %q", k.ProjectA, k.ProjectB)
	}
	for _, c := range []struct {
		u       User
		project string
		roles   []string
	}{
		{k.Admin, k.Admin.ProjectID, []string{"admin", "member", "reader"}},
		{k.MemberA, k.ProjectA, []string{"member", "reader"}},
		{k.MemberB, k.ProjectB, []string{"member", "reader"}},
		{k.Reader, k.ProjectA, []string{"reader"}},
		{k.Service, k.Service.ProjectID, []string{"service"}},
	} {
		tok, err := k.Token(ctx, c.u)
		if err != nil {
			t.Fatalf("%s: %v", c.u.Name, err)
		}
		code, doc := validate(t, k, tok)
		if code != http.StatusOK {
			t.Fatalf("%s: validate: HTTP %d", c.u.Name, code)
		}
		p, _ := doc["project"].(map[string]any)
		u, _ := doc["user"].(map[string]any)
		if p["id"] != c.project || u["id"] != c.u.ID || !slices.Equal(roleNames(doc), c.roles) {
			t.Errorf("%s: project %v user %v roles %v; want %s %s %v", c.u.Name, p["id"], u["id"], roleNames(doc), c.project, c.u.ID, c.roles)
		}
	}

	// Revocation.
	tok, _ := k.Token(ctx, k.MemberA)
	if err := k.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if code, _ := validate(t, k, tok); code != http.StatusNotFound {
		t.Errorf("revoked token: HTTP %d, want 404", code)
	}
	old, _ := k.Token(ctx, k.MemberB)
	if err := k.RevokeUserTokens(ctx, k.MemberB); err != nil {
		t.Fatal(err)
	}
	if code, _ := validate(t, k, old); code != http.StatusNotFound {
		t.Errorf("token of a user whose tokens were revoked: HTTP %d, want 404", code)
	}
	fresh, err := k.Token(ctx, k.MemberB)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := validate(t, k, fresh); code != http.StatusOK {
		t.Errorf("token issued after the revocation: HTTP %d, want 200", code)
	}

	// A short-lived token expires.
	short, exp, err := k.ShortLivedToken(ctx, k.MemberA, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d <= 0 || d > 4*time.Second {
		t.Fatalf("short-lived token expires in %v", d)
	}
	if code, _ := validate(t, k, short); code != http.StatusOK {
		t.Fatalf("short-lived token: HTTP %d", code)
	}
	time.Sleep(time.Until(exp) + 500*time.Millisecond)
	if code, _ := validate(t, k, short); code != http.StatusNotFound {
		t.Errorf("expired token: HTTP %d, want 404", code)
	}

	// Stop and restart keep users and keys: old tokens stay valid.
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Token(ctx, k.Admin); err == nil {
		t.Fatal("stopped keystone issued a token")
	}
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := validate(t, k, fresh); code != http.StatusOK {
		t.Errorf("token after restart: HTTP %d", code)
	}

	if err := k.RegisterNetworkEndpoint(ctx, "http://127.0.0.1:1/"); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterNetworkEndpoint(ctx, "http://127.0.0.1:2/"); err != nil {
		t.Fatal(err)
	}
	admin, _ := k.Token(ctx, k.Admin)
	var eps struct {
		Endpoints []struct {
			URL string `json:"url"`
		} `json:"endpoints"`
	}
	if err := k.do(ctx, admin, http.MethodGet, "/v3/endpoints?interface=public", nil, http.StatusOK, &eps); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, e := range eps.Endpoints {
		urls = append(urls, e.URL)
	}
	if !slices.Contains(urls, "http://127.0.0.1:2/") || slices.Contains(urls, "http://127.0.0.1:1/") {
		t.Errorf("endpoints after re-registering: %v", urls)
	}
}
