package osauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Session is an authenticated connection to the network API.
type Session struct {
	// Endpoint is the network API's root without the version, e.g.
	// http://127.0.0.1:9696.
	Endpoint string
	// Token is sent as X-Auth-Token; empty in noauth mode.
	Token string
	// ProjectID and ProjectName are the project the session acts in
	// (ProjectID empty for a noauth admin; ProjectName empty unless Keystone said).
	ProjectID, ProjectName string
	// UserID is the authenticated user (Keystone only).
	UserID string
	// NoAuth is true when nothing was authenticated.
	NoAuth bool
	// Header holds extra headers for every request (noauth's X-Project-Id, X-Roles).
	Header http.Header
	// HTTP is the client for requests (TLS settings applied).
	HTTP *http.Client

	identityURL string // Keystone's /v3 root, for project look-ups
}

// Mode names how Settings will connect: "noauth", "token" (a token at a
// given endpoint) or "keystone"; an error says what is missing.
func (s Settings) Mode() (string, error) {
	switch strings.ToLower(s.AuthType) {
	case "none", "noauth":
		if s.URL == "" && s.Endpoint == "" {
			return "", fmt.Errorf("osauth: auth type %s needs an endpoint (--os-endpoint, OS_ENDPOINT or --url)", s.AuthType)
		}
		return "noauth", nil
	case "", "password", "v3password", "token", "v3token", "admin_token", "token_endpoint":
	default:
		return "", fmt.Errorf("osauth: auth type %q is not supported (password, token or none)", s.AuthType)
	}
	switch {
	case s.URL != "":
		return "noauth", nil
	case s.Token != "" && s.Endpoint != "":
		return "token", nil
	case s.AuthURL != "":
		return "keystone", nil
	}
	return "", fmt.Errorf("osauth: no credentials: give --url (or SPINEL_URL) for a noauth server, " +
		"or set OS_CLOUD, or OS_AUTH_URL with OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME")
}

// HTTPClient returns an HTTP client honouring CACert and Insecure.
func (s Settings) HTTPClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.CACert != "" || s.Insecure {
		cfg := &tls.Config{InsecureSkipVerify: s.Insecure}
		if s.CACert != "" {
			pem, err := os.ReadFile(s.CACert)
			if err != nil {
				return nil, fmt.Errorf("osauth: cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("osauth: cacert %s holds no PEM certificate", s.CACert)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// Connect turns settings into a session, authenticating against Keystone
// when they say so.
func Connect(ctx context.Context, s Settings) (*Session, error) {
	mode, err := s.Mode()
	if err != nil {
		return nil, err
	}
	hc, err := s.HTTPClient()
	if err != nil {
		return nil, err
	}
	sess := &Session{HTTP: hc, Header: http.Header{}}
	switch mode {
	case "noauth":
		sess.NoAuth = true
		sess.Endpoint = trimVersion(first(s.URL, s.Endpoint))
		// A token given with --url is sent along: the URL may be a
		// Keystone-authenticated server reached directly.
		sess.Token = s.Token
		if s.ProjectID != "" {
			sess.ProjectID = s.ProjectID
			sess.Header.Set("X-Project-Id", s.ProjectID)
		}
		if s.Roles != "" {
			sess.Header.Set("X-Roles", s.Roles)
		}
		return sess, nil
	case "token":
		sess.Token, sess.Endpoint, sess.ProjectID = s.Token, trimVersion(s.Endpoint), s.ProjectID
		if s.AuthURL != "" {
			sess.identityURL = identityRoot(s.AuthURL)
		}
		return sess, nil
	}
	if err := sess.keystone(ctx, s); err != nil {
		return nil, err
	}
	return sess, nil
}

// identityRoot returns Keystone's v3 root for an auth URL given with or
// without the version.
func identityRoot(authURL string) string {
	u := strings.TrimRight(authURL, "/")
	if strings.HasSuffix(u, "/v3") {
		return u
	}
	return u + "/v3"
}

// trimVersion strips a trailing /v2.0 from a network endpoint: requests
// add it themselves.
func trimVersion(endpoint string) string {
	e := strings.TrimRight(endpoint, "/")
	e = strings.TrimSuffix(e, "/v2.0")
	return strings.TrimRight(e, "/")
}

// keystone authenticates with Keystone v3 (password, or token when no
// password is given) scoped to the project, and takes the network
// endpoint from the catalog unless Endpoint overrides it.
func (sess *Session) keystone(ctx context.Context, s Settings) error {
	sess.identityURL = identityRoot(s.AuthURL)
	identity := map[string]any{}
	switch {
	case s.Password != "" || s.Username != "" || s.UserID != "":
		if s.Username == "" && s.UserID == "" {
			return fmt.Errorf("osauth: password authentication needs a user (OS_USERNAME or OS_USER_ID)")
		}
		if s.Password == "" {
			return fmt.Errorf("osauth: password authentication needs a password (OS_PASSWORD)")
		}
		user := map[string]any{"password": s.Password}
		if s.UserID != "" {
			user["id"] = s.UserID
		} else {
			user["name"] = s.Username
			user["domain"] = domain(s.UserDomainID, s.UserDomainName)
		}
		identity["methods"] = []string{"password"}
		identity["password"] = map[string]any{"user": user}
	case s.Token != "":
		identity["methods"] = []string{"token"}
		identity["token"] = map[string]any{"id": s.Token}
	default:
		return fmt.Errorf("osauth: no credentials for %s: set OS_USERNAME and OS_PASSWORD, or OS_TOKEN", s.AuthURL)
	}
	authBody := map[string]any{"identity": identity}
	switch {
	case s.ProjectID != "":
		authBody["scope"] = map[string]any{"project": map[string]any{"id": s.ProjectID}}
	case s.ProjectName != "":
		authBody["scope"] = map[string]any{"project": map[string]any{
			"name": s.ProjectName, "domain": domain(s.ProjectDomainID, s.ProjectDomainName)}}
	default:
		return fmt.Errorf("osauth: a project is needed (OS_PROJECT_NAME or OS_PROJECT_ID)")
	}
	b, _ := json.Marshal(map[string]any{"auth": authBody})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sess.identityURL+"/auth/tokens", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("osauth: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// A command authenticates once: keeping the connection open only
	// holds one of Keystone's workers (uwsgi keeps it for its socket timeout).
	req.Close = true
	resp, err := sess.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("osauth: authenticating with Keystone: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("osauth: Keystone refused authentication: %s", keystoneError(resp.StatusCode, rb))
	}
	var out struct {
		Token struct {
			Project struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"project"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					Region    string `json:"region"`
					RegionID  string `json:"region_id"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(rb, &out); err != nil {
		return fmt.Errorf("osauth: Keystone's token: %w", err)
	}
	sess.Token = resp.Header.Get("X-Subject-Token")
	if sess.Token == "" {
		return fmt.Errorf("osauth: Keystone answered without X-Subject-Token")
	}
	sess.ProjectID, sess.ProjectName, sess.UserID = out.Token.Project.ID, out.Token.Project.Name, out.Token.User.ID
	if s.Endpoint != "" {
		sess.Endpoint = trimVersion(s.Endpoint)
		return nil
	}
	iface := strings.TrimSuffix(strings.ToLower(first(s.Interface, "public")), "url")
	for _, svc := range out.Token.Catalog {
		if svc.Type != "network" {
			continue
		}
		for _, e := range svc.Endpoints {
			if e.Interface != iface {
				continue
			}
			if s.RegionName != "" && e.RegionID != s.RegionName && e.Region != s.RegionName {
				continue
			}
			sess.Endpoint = trimVersion(e.URL)
			return nil
		}
	}
	where := "interface " + iface
	if s.RegionName != "" {
		where += ", region " + s.RegionName
	}
	return fmt.Errorf("osauth: Keystone's catalog has no network endpoint (%s)", where)
}

// domain names a Keystone domain by id or name, "default" when neither is given.
func domain(id, name string) map[string]string {
	switch {
	case id != "":
		return map[string]string{"id": id}
	case name != "":
		return map[string]string{"name": name}
	}
	return map[string]string{"id": "default"}
}

// keystoneError renders Keystone's error body.
func keystoneError(code int, body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Title   string `json:"title"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Error.Message, code)
	}
	return fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
}

// NewRequest builds a request for path (e.g. /v2.0/networks) on the
// session's endpoint, carrying the token or the noauth headers.
func (sess *Session) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, sess.Endpoint+path, body)
	if err != nil {
		return nil, fmt.Errorf("osauth: %w", err)
	}
	if sess.Token != "" {
		req.Header.Set("X-Auth-Token", sess.Token)
	}
	for k, v := range sess.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

var keystoneID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ResolveProject resolves a project given by name or id. In noauth mode the
// value is taken as an id. With Keystone, a 32-hex-digit value is an id,
// the session's own project name is its id, and other names are looked up
// in Keystone (which needs a role allowed to list projects).
func (sess *Session) ResolveProject(ctx context.Context, nameOrID string) (string, error) {
	if sess.NoAuth || sess.identityURL == "" || keystoneID.MatchString(nameOrID) || nameOrID == sess.ProjectID {
		return nameOrID, nil
	}
	if nameOrID == sess.ProjectName && sess.ProjectID != "" {
		return sess.ProjectID, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sess.identityURL+"/projects?name="+url.QueryEscape(nameOrID), nil)
	if err != nil {
		return "", fmt.Errorf("osauth: %w", err)
	}
	req.Header.Set("X-Auth-Token", sess.Token)
	req.Header.Set("Accept", "application/json")
	req.Close = true
	resp, err := sess.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("osauth: looking up project %s: %w", nameOrID, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("osauth: looking up project %q in Keystone: %s (give the project's id instead)", nameOrID, keystoneError(resp.StatusCode, rb))
	}
	var out struct {
		Projects []struct {
			ID string `json:"id"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(rb, &out); err != nil {
		return "", fmt.Errorf("osauth: looking up project %s: %w", nameOrID, err)
	}
	switch len(out.Projects) {
	case 0:
		// Keystone ids need not be 32 hex digits (LDAP, federation): try it as one.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, sess.identityURL+"/projects/"+url.PathEscape(nameOrID), nil)
		if err != nil {
			return "", fmt.Errorf("osauth: %w", err)
		}
		req.Header.Set("X-Auth-Token", sess.Token)
		req.Close = true
		resp, err := sess.HTTP.Do(req)
		if err != nil {
			return "", fmt.Errorf("osauth: looking up project %s: %w", nameOrID, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nameOrID, nil
		}
		return "", fmt.Errorf("osauth: no project with a name or id of %q exists", nameOrID)
	case 1:
		return out.Projects[0].ID, nil
	}
	return "", fmt.Errorf("osauth: more than one project is named %q: give its id", nameOrID)
}
