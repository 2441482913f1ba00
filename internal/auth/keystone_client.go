package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxKeystoneBody bounds the Keystone answers read.
const maxKeystoneBody = 1 << 20

// tokenBody is the part of Keystone's token document spinel reads.
type tokenBody struct {
	Token struct {
		ExpiresAt keystoneTime `json:"expires_at"`
		User      struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Domain struct {
				ID string `json:"id"`
			} `json:"domain"`
		} `json:"user"`
		Project *struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Domain struct {
				ID string `json:"id"`
			} `json:"domain"`
		} `json:"project"`
		Roles []struct {
			Name string `json:"name"`
		} `json:"roles"`
	} `json:"token"`
}

// validate asks Keystone about token. It returns the identity and the
// token's expiry, or a *neutron.Error: 401/403 for Keystone's refusal of the
// token, 503 when Keystone cannot give an answer.
func (k *Keystone) validate(ctx context.Context, token string) (*Identity, time.Time, error) {
	for attempt := 0; ; attempt++ {
		svc, err := k.serviceToken(ctx, "")
		if err != nil {
			return nil, time.Time{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.base+"/v3/auth/tokens?nocatalog", nil)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("keystone: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Auth-Token", svc)
		req.Header.Set("X-Subject-Token", token)
		resp, err := k.http.Do(req)
		if err != nil {
			k.log.Warn("keystone unreachable", "op", "validate-token", "err", err)
			return nil, time.Time{}, unavailable()
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeystoneBody))
		resp.Body.Close()
		if err != nil {
			k.log.Warn("reading keystone's answer", "op", "validate-token", "err", err)
			return nil, time.Time{}, unavailable()
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return k.identity(body)
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest:
			return nil, time.Time{}, k.unauthorized() // expired, revoked, or not a token
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			// Our own token expired or was revoked: get a new one, once.
			if _, err := k.serviceToken(ctx, svc); err != nil {
				return nil, time.Time{}, err
			}
			continue
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			k.log.Error("keystone refuses spinel's service token for validating tokens: give the service user the service or admin role in its project",
				"op", "validate-token", "status", resp.StatusCode, "user", k.cfg.Username, "project", k.cfg.ProjectName)
			return nil, time.Time{}, unavailable()
		default:
			k.log.Warn("keystone failed", "op", "validate-token", "status", resp.StatusCode, "body", snippet(body))
			return nil, time.Time{}, unavailable()
		}
	}
}

// identity maps a valid token document to an Identity.
func (k *Keystone) identity(body []byte) (*Identity, time.Time, error) {
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil || tb.Token.User.ID == "" || tb.Token.ExpiresAt.Time.IsZero() {
		k.log.Warn("keystone's token document is not understood", "op", "validate-token", "err", err, "body", snippet(body))
		return nil, time.Time{}, unavailable()
	}
	t := tb.Token
	expires := t.ExpiresAt.Time
	if !expires.After(k.now()) {
		return nil, time.Time{}, k.unauthorized()
	}
	if t.Project == nil || t.Project.ID == "" {
		return nil, expires, notProjectScoped()
	}
	id := &Identity{
		ProjectID:       t.Project.ID,
		ProjectName:     t.Project.Name,
		ProjectDomainID: t.Project.Domain.ID,
		UserID:          t.User.ID,
		UserName:        t.User.Name,
		UserDomainID:    t.User.Domain.ID,
	}
	for _, r := range t.Roles {
		id.Roles = append(id.Roles, r.Name)
	}
	// Neutron's context_is_admin: the admin role, in whatever project.
	id.Admin = id.HasRole("admin")
	return id, expires, nil
}

// serviceToken returns spinel's own token, authenticating when there is
// none, when it is about to expire, or when stale (the token Keystone just
// refused) is still the current one. Refreshes are serialised so that a
// burst of requests authenticates once.
func (k *Keystone) serviceToken(ctx context.Context, stale string) (string, error) {
	k.svcMu.Lock()
	defer k.svcMu.Unlock()
	if k.svcToken != "" && k.svcToken != stale && k.now().Add(k.svcMargin).Before(k.svcExpiry) {
		return k.svcToken, nil
	}
	tok, issued, expiry, err := k.passwordAuth(ctx)
	if err != nil {
		k.svcToken = ""
		return "", err
	}
	k.svcToken, k.svcExpiry = tok, expiry
	// Renew a tenth of the lifetime (at most a minute) before expiry.
	k.svcMargin = min(time.Minute, expiry.Sub(issued)/10)
	return tok, nil
}

// passwordAuth obtains a project-scoped token for the service user.
func (k *Keystone) passwordAuth(ctx context.Context) (token string, issued, expiry time.Time, err error) {
	type named struct {
		Name string `json:"name"`
	}
	var body struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   named  `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string `json:"name"`
					Domain named  `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	a := &body.Auth
	a.Identity.Methods = []string{"password"}
	a.Identity.Password.User.Name = k.cfg.Username
	a.Identity.Password.User.Password = k.cfg.Password
	a.Identity.Password.User.Domain.Name = k.cfg.UserDomainName
	a.Scope.Project.Name = k.cfg.ProjectName
	a.Scope.Project.Domain.Name = k.cfg.ProjectDomainName
	b, err := json.Marshal(&body)
	if err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("keystone: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base+"/v3/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("keystone: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := k.http.Do(req)
	if err != nil {
		k.log.Warn("keystone unreachable", "op", "service-auth", "err", err)
		return "", time.Time{}, time.Time{}, unavailable()
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxKeystoneBody))
	if err != nil {
		k.log.Warn("reading keystone's answer", "op", "service-auth", "err", err)
		return "", time.Time{}, time.Time{}, unavailable()
	}
	if resp.StatusCode != http.StatusCreated {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
			k.log.Error("keystone refuses spinel's service credentials", "op", "service-auth", "status", resp.StatusCode,
				"user", k.cfg.Username, "project", k.cfg.ProjectName)
		} else {
			k.log.Warn("keystone failed", "op", "service-auth", "status", resp.StatusCode, "body", snippet(rb))
		}
		return "", time.Time{}, time.Time{}, unavailable()
	}
	var tb struct {
		Token struct {
			IssuedAt  keystoneTime `json:"issued_at"`
			ExpiresAt keystoneTime `json:"expires_at"`
		} `json:"token"`
	}
	token = resp.Header.Get("X-Subject-Token")
	if err := json.Unmarshal(rb, &tb); err != nil || token == "" || tb.Token.ExpiresAt.Time.IsZero() {
		k.log.Warn("keystone's token answer is not understood", "op", "service-auth", "err", err)
		return "", time.Time{}, time.Time{}, unavailable()
	}
	issued = tb.Token.IssuedAt.Time
	if issued.IsZero() {
		issued = k.now()
	}
	return token, issued, tb.Token.ExpiresAt.Time, nil
}

// keystoneTime is a time in Keystone's JSON: ISO 8601, with or without
// fraction and zone ("2026-11-22T06:57:38.000000Z", and
// "2026-11-22T06:57:38" for tokens capped by an application credential's
// expiry); times without a zone are UTC.
type keystoneTime struct{ time.Time }

func (t *keystoneTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("keystone: bad time %q", s)
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
