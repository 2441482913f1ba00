package external

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Timeout bounds of a profile's "timeout".
const (
	DefaultTimeout = 10 * time.Second
	MaxTimeout     = 5 * time.Minute
)

// Config is the parsed metainfo of a service profile served by this driver.
type Config struct {
	// URL is the backend's base URL, without a trailing slash; requests go
	// to URL + "/routers/" + router id.
	URL string
	// Timeout bounds one whole Sync or Delete call, the retry included.
	Timeout time.Duration
	// Secret is the HMAC key given in the profile; "" means the driver's own.
	Secret string
}

// String describes c without its secret.
func (c Config) String() string {
	s := "none"
	if c.Secret != "" {
		s = "set"
	}
	return fmt.Sprintf("url=%s timeout=%s secret=%s", redact(c.URL), c.Timeout, s)
}

// metainfo is the JSON form of a profile's metainfo.
type metainfo struct {
	URL     *string `json:"url"`
	Timeout *string `json:"timeout"`
	Secret  *string `json:"secret"`
}

// ParseMetainfo parses and checks a service profile's metainfo:
//
//	{"url": "https://backend.example/spinel", "timeout": "5s", "secret": "..."}
//
// url is required (http or https, with a host, no query or fragment);
// timeout is a Go duration, default 10s, at most 5m; secret is optional.
// Unknown keys are refused so that a misspelt one does not go unnoticed.
// Errors never quote the secret.
func ParseMetainfo(s string) (Config, error) {
	if strings.TrimSpace(s) == "" {
		return Config{}, errors.New(`the service profile has no metainfo; it must be a JSON object such as {"url": "https://backend.example/spinel", "timeout": "5s"}`)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var m metainfo
	if err := dec.Decode(&m); err != nil {
		return Config{}, fmt.Errorf(`the service profile's metainfo is not a valid JSON object with keys "url", "timeout" and "secret": %v`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, errors.New("the service profile's metainfo has data after its JSON object")
	}
	if m.URL == nil || *m.URL == "" {
		return Config{}, errors.New(`the service profile's metainfo has no "url" (the backend's base URL, such as "https://backend.example/spinel")`)
	}
	base, err := checkURL(*m.URL)
	if err != nil {
		return Config{}, err
	}
	c := Config{URL: base, Timeout: DefaultTimeout}
	if m.Timeout != nil {
		t, err := time.ParseDuration(*m.Timeout)
		if err != nil {
			return Config{}, fmt.Errorf(`the service profile's metainfo has a bad "timeout" %q: want a duration such as "5s" or "500ms"`, *m.Timeout)
		}
		if t <= 0 || t > MaxTimeout {
			return Config{}, fmt.Errorf(`the service profile's metainfo has a bad "timeout" %q: it must be more than 0 and at most %s`, *m.Timeout, MaxTimeout)
		}
		c.Timeout = t
	}
	if m.Secret != nil {
		c.Secret = *m.Secret
	}
	return c, nil
}

// checkURL validates a backend base URL and returns it without trailing
// slashes.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf(`the service profile's metainfo has a malformed "url": %v`, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf(`the service profile's metainfo "url" %s must be an http or https URL`, u.Redacted())
	}
	if u.Host == "" {
		return "", fmt.Errorf(`the service profile's metainfo "url" %s has no host`, u.Redacted())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf(`the service profile's metainfo "url" %s must not have a query or fragment`, u.Redacted())
	}
	return strings.TrimRight(raw, "/"), nil
}

// redact hides the password of a URL's user information.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed url)"
	}
	return u.Redacted()
}

// routerURL is the resource of one router at a backend.
func routerURL(base, routerID string) string {
	return base + "/routers/" + url.PathEscape(routerID)
}

// snippet is the start of a backend's answer, for error messages.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	const max = 200
	if len(b) > max {
		return strings.ToValidUTF8(string(b[:max]), "") + "…"
	}
	return strings.ToValidUTF8(string(b), "")
}
