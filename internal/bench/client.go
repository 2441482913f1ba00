package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody is how much of an error response body is kept.
const maxErrorBody = 512

// requestTimeout bounds one request, body included.
const requestTimeout = 2 * time.Minute

// client speaks the Neutron v2.0 JSON API over one shared http.Client.
type client struct {
	http      *http.Client
	base      string // endpoint root, without /v2.0 and trailing slash
	token     string
	projectID string
}

// HTTPError is a non-2xx answer of the endpoint. Its message names the
// path with ids replaced by {id}, so that equal failures of different
// resources read the same.
type HTTPError struct {
	Method string
	Path   string // e.g. /v2.0/networks/{id}
	Status int
	Body   string // at most the first 512 bytes, whitespace collapsed
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

func isNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusNotFound
}

// newHTTPClient returns a client whose connection pool keeps a keep-alive
// connection for every worker.
func newHTTPClient(concurrency int) *http.Client {
	idle := 2 * max(concurrency, 1)
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// template is path (relative to /v2.0) without its query and with every
// segment after a collection name replaced by {id}.
func template(path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := 1; i < len(segs); i += 2 {
		segs[i] = "{id}"
	}
	return "/v2.0/" + strings.Join(segs, "/")
}

// do sends method path (relative to /v2.0) with body as JSON. It succeeds
// on status want or any other 2xx and then decodes the answer into out
// when out is not nil. The response body is always read to its end so
// that the connection is reused.
func (c *client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v2.0"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	if c.projectID != "" {
		req.Header.Set("X-Project-Id", c.projectID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, template(path), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		io.Copy(io.Discard, resp.Body)
		return &HTTPError{
			Method: method,
			Path:   template(path),
			Status: resp.StatusCode,
			Body:   strings.Join(strings.Fields(string(b)), " "),
		}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("%s %s: decoding the answer: %w", method, template(path), err)
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// serverRSS reads process_resident_memory_bytes from {base}/metrics; 0
// when the endpoint does not export it.
func (c *client) serverRSS(ctx context.Context) int64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Accept", "text/plain")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	return parseRSS(io.LimitReader(resp.Body, 32<<20))
}

// parseRSS finds process_resident_memory_bytes in Prometheus text format.
func parseRSS(r io.Reader) int64 {
	const name = "process_resident_memory_bytes"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "{"):
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				continue
			}
			rest = rest[i+1:]
		case rest == "" || (rest[0] != ' ' && rest[0] != '\t'):
			continue // another metric whose name starts the same
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil || v < 0 {
			continue
		}
		return int64(v)
	}
	return 0
}

// KeystoneAuth is Keystone v3 password authentication.
type KeystoneAuth struct {
	AuthURL           string // e.g. http://keystone:5000/v3 (/v3 is added when missing)
	Username          string
	Password          string
	ProjectName       string // project scope; unscoped when empty
	UserDomainName    string // default "Default"
	ProjectDomainName string // default "Default"
}

// keystoneToken obtains a token by POST {auth_url}/auth/tokens; Keystone
// returns it in the X-Subject-Token header.
func (c *client) keystoneToken(ctx context.Context, k *KeystoneAuth) (string, error) {
	if k.AuthURL == "" {
		return "", errors.New("bench: keystone: no auth URL")
	}
	u := strings.TrimRight(k.AuthURL, "/")
	if !strings.HasSuffix(u, "/v3") {
		u += "/v3"
	}
	u += "/auth/tokens"
	orDefault := func(s string) string {
		if s == "" {
			return "Default"
		}
		return s
	}
	auth := map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{
				"user": map[string]any{
					"name":     k.Username,
					"password": k.Password,
					"domain":   map[string]any{"name": orDefault(k.UserDomainName)},
				},
			},
		},
	}
	if k.ProjectName != "" {
		auth["scope"] = map[string]any{
			"project": map[string]any{
				"name":   k.ProjectName,
				"domain": map[string]any{"name": orDefault(k.ProjectDomainName)},
			},
		}
	}
	b, err := json.Marshal(map[string]any{"auth": auth})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("bench: keystone: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("bench: keystone: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("bench: keystone: POST %s: HTTP %d: %s", u, resp.StatusCode, strings.Join(strings.Fields(string(body)), " "))
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", fmt.Errorf("bench: keystone: POST %s: no X-Subject-Token in the answer", u)
	}
	return tok, nil
}
