package keystonetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Token returns a new project-scoped token for u (password authentication).
func (k *Keystone) Token(ctx context.Context, u User) (string, error) {
	tok, _, err := k.auth(ctx, map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": u.Name, "password": u.Password, "domain": map[string]string{"name": Domain},
			}},
		},
		"scope": map[string]any{"project": map[string]any{"name": u.Project, "domain": map[string]string{"name": Domain}}},
	})
	return tok, err
}

// ShortLivedToken returns a token of u that expires after ttl (rounded up to
// whole seconds), and its expiry. Keystone's token lifetime is global, so
// the token comes from an application credential expiring then: Keystone
// caps a token's expiry at its application credential's.
func (k *Keystone) ShortLivedToken(ctx context.Context, u User, ttl time.Duration) (string, time.Time, error) {
	tok, err := k.Token(ctx, u)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := time.Now().UTC().Add(ttl).Truncate(time.Second).Add(time.Second)
	var out struct {
		AppCred struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		} `json:"application_credential"`
	}
	body := map[string]any{"application_credential": map[string]any{
		"name": fmt.Sprintf("short-%d", time.Now().UnixNano()), "expires_at": exp.Format("2006-01-02T15:04:05"),
	}}
	if err := k.do(ctx, tok, http.MethodPost, "/v3/users/"+u.ID+"/application_credentials", body, http.StatusCreated, &out); err != nil {
		return "", time.Time{}, err
	}
	short, expires, err := k.auth(ctx, map[string]any{"identity": map[string]any{
		"methods":                []string{"application_credential"},
		"application_credential": map[string]string{"id": out.AppCred.ID, "secret": out.AppCred.Secret},
	}})
	return short, expires, err
}

// RevokeToken revokes token (DELETE /v3/auth/tokens as the admin).
func (k *Keystone) RevokeToken(ctx context.Context, token string) error {
	admin, err := k.Token(ctx, k.Admin)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, k.URL+"/v3/auth/tokens", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", admin)
	req.Header.Set("X-Subject-Token", token)
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("keystonetest: revoking a token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("keystonetest: revoking a token: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// RevokeUserTokens revokes every token of u issued so far, by setting its
// password (to the same value): Keystone records a revocation event for
// the user.
func (k *Keystone) RevokeUserTokens(ctx context.Context, u User) error {
	admin, err := k.Token(ctx, k.Admin)
	if err != nil {
		return err
	}
	// Revocation events have a resolution of one second: a token issued in
	// the same second as the event would be revoked too.
	defer time.Sleep(1100 * time.Millisecond)
	return k.do(ctx, admin, http.MethodPatch, "/v3/users/"+u.ID, map[string]any{"user": map[string]any{"password": u.Password}}, http.StatusOK, nil)
}

// RegisterNetworkEndpoint registers url (spinel's root, e.g.
// http://127.0.0.1:9696) as the public endpoint of the "network" service in
// region RegionOne, creating the service on first use and replacing any
// endpoint registered before.
func (k *Keystone) RegisterNetworkEndpoint(ctx context.Context, endpoint string) error {
	admin, err := k.Token(ctx, k.Admin)
	if err != nil {
		return err
	}
	var svcs struct {
		Services []struct {
			ID string `json:"id"`
		} `json:"services"`
	}
	if err := k.do(ctx, admin, http.MethodGet, "/v3/services?type=network", nil, http.StatusOK, &svcs); err != nil {
		return err
	}
	var svcID string
	if len(svcs.Services) > 0 {
		svcID = svcs.Services[0].ID
	} else {
		var created struct {
			Service struct {
				ID string `json:"id"`
			} `json:"service"`
		}
		if err := k.do(ctx, admin, http.MethodPost, "/v3/services", map[string]any{"service": map[string]any{
			"type": "network", "name": "spinel", "enabled": true,
		}}, http.StatusCreated, &created); err != nil {
			return err
		}
		svcID = created.Service.ID
	}
	var eps struct {
		Endpoints []struct {
			ID string `json:"id"`
		} `json:"endpoints"`
	}
	if err := k.do(ctx, admin, http.MethodGet, "/v3/endpoints?service_id="+url.QueryEscape(svcID), nil, http.StatusOK, &eps); err != nil {
		return err
	}
	for _, e := range eps.Endpoints {
		if err := k.do(ctx, admin, http.MethodDelete, "/v3/endpoints/"+e.ID, nil, http.StatusNoContent, nil); err != nil {
			return err
		}
	}
	return k.do(ctx, admin, http.MethodPost, "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": svcID, "interface": "public", "region_id": "RegionOne", "url": endpoint, "enabled": true,
	}}, http.StatusCreated, nil)
}

// populate creates the projects, roles and users beyond the bootstrap admin.
func (k *Keystone) populate(ctx context.Context) error {
	admin, err := k.Token(ctx, k.Admin)
	if err != nil {
		return err
	}
	if k.Admin.ID, err = k.lookup(ctx, admin, "users", k.Admin.Name); err != nil {
		return err
	}
	if k.Admin.ProjectID, err = k.lookup(ctx, admin, "projects", k.Admin.Project); err != nil {
		return err
	}
	projects := map[string]string{}
	for _, p := range []string{"project-a", "project-b", "service"} {
		var out struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		if err := k.do(ctx, admin, http.MethodPost, "/v3/projects", map[string]any{"project": map[string]any{
			"name": p, "domain_id": "default", "enabled": true,
		}}, http.StatusCreated, &out); err != nil {
			return err
		}
		projects[p] = out.Project.ID
	}
	k.ProjectA, k.ProjectB = projects["project-a"], projects["project-b"]
	roles := map[string]string{}
	for _, r := range []string{"member", "reader", "service"} {
		id, err := k.lookup(ctx, admin, "roles", r)
		if err != nil {
			var out struct {
				Role struct {
					ID string `json:"id"`
				} `json:"role"`
			}
			if err := k.do(ctx, admin, http.MethodPost, "/v3/roles", map[string]any{"role": map[string]any{"name": r}}, http.StatusCreated, &out); err != nil {
				return err
			}
			id = out.Role.ID
		}
		roles[r] = id
	}
	k.MemberA = User{Name: "member-a", Password: "member-a-secret", Project: "project-a", Roles: []string{"member"}}
	k.MemberB = User{Name: "member-b", Password: "member-b-secret", Project: "project-b", Roles: []string{"member"}}
	k.Reader = User{Name: "reader-a", Password: "reader-a-secret", Project: "project-a", Roles: []string{"reader"}}
	k.Service = User{Name: "spinel", Password: "spinel-service-secret", Project: "service", Roles: []string{"service"}}
	for _, u := range []*User{&k.MemberA, &k.MemberB, &k.Reader, &k.Service} {
		u.ProjectID = projects[u.Project]
		var out struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		if err := k.do(ctx, admin, http.MethodPost, "/v3/users", map[string]any{"user": map[string]any{
			"name": u.Name, "password": u.Password, "domain_id": "default", "enabled": true,
		}}, http.StatusCreated, &out); err != nil {
			return err
		}
		u.ID = out.User.ID
		for _, r := range u.Roles {
			if err := k.do(ctx, admin, http.MethodPut, "/v3/projects/"+u.ProjectID+"/users/"+u.ID+"/roles/"+roles[r], nil, http.StatusNoContent, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup returns the id of the users/projects/roles entry named name.
func (k *Keystone) lookup(ctx context.Context, token, collection, name string) (string, error) {
	var out map[string]json.RawMessage
	if err := k.do(ctx, token, http.MethodGet, "/v3/"+collection+"?name="+url.QueryEscape(name), nil, http.StatusOK, &out); err != nil {
		return "", err
	}
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out[collection], &list); err != nil {
		return "", fmt.Errorf("keystonetest: listing %s: %w", collection, err)
	}
	if len(list) != 1 {
		return "", fmt.Errorf("keystonetest: %d %s named %q", len(list), collection, name)
	}
	return list[0].ID, nil
}

// auth posts an auth request and returns the token and its expiry.
func (k *Keystone) auth(ctx context.Context, authBody map[string]any) (string, time.Time, error) {
	b, _ := json.Marshal(map[string]any{"auth": authBody})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.URL+"/v3/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.http.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("keystonetest: authenticating: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", time.Time{}, fmt.Errorf("keystonetest: authenticating: HTTP %d: %s", resp.StatusCode, rb)
	}
	var out struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(rb, &out); err != nil {
		return "", time.Time{}, fmt.Errorf("keystonetest: authenticating: %w", err)
	}
	// RFC 3339, or without a zone (UTC) when capped by an application credential.
	exp, err := time.Parse(time.RFC3339Nano, out.Token.ExpiresAt)
	if err != nil {
		if exp, err = time.Parse("2006-01-02T15:04:05.999999999", out.Token.ExpiresAt); err != nil {
			return "", time.Time{}, fmt.Errorf("keystonetest: authenticating: %w", err)
		}
	}
	return resp.Header.Get("X-Subject-Token"), exp.UTC(), nil
}

// do sends a Keystone API request as token and decodes the answer into out.
func (k *Keystone) do(ctx context.Context, token, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("keystonetest: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("keystonetest: %s %s: HTTP %d: %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return fmt.Errorf("keystonetest: %s %s: %w", method, path, err)
		}
	}
	return nil
}
