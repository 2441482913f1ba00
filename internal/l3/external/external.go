// Package external is the L3 flavor driver for out-of-process backends:
// any router implementation that speaks a small, signed HTTP+JSON
// contract (docs/external-driver.md).
//
// Each router's backend is named by the service profile of its flavor,
// whose metainfo is JSON:
//
//	{"url": "https://backend.example/spinel", "timeout": "5s", "secret": "..."}
//
// Sync PUTs the router's complete desired state to {url}/routers/{id} and
// maps the backend's answer to a status; Delete DELETEs it. Every request
// is signed with an HMAC-SHA256 of "<timestamp>.<body>" keyed with the
// profile's secret, or the driver's own when the profile has none. Verify
// checks such a signature on the backend's side.
//
// The driver holds no state but the backend of each router it has synced,
// kept in memory so Delete, which is handed only a router id, knows where
// to go. Through Deleter the framework also hands over the router's last
// known profile, used when the driver has no record of the router.
package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
)

// Name is the driver name service providers and profiles use.
const Name = "external"

// maxAnswer bounds the answer read from a backend.
const maxAnswer = 1 << 20

// retryDelay is the pause before the one retry after a connection reset.
const retryDelay = 100 * time.Millisecond

// Options configure a Driver.
type Options struct {
	// Secret signs requests for profiles whose metainfo has no "secret".
	Secret string
	// HTTPClient sends the requests; nil means a client of its own. The
	// driver uses a copy that never follows redirects, and bounds every
	// call with the profile's timeout through its context.
	HTTPClient *http.Client
	// Log receives retries and successes (at debug); nil discards.
	Log *slog.Logger
}

// Deleter is implemented by drivers that can delete a router given the
// service profile it was last synced with; the framework prefers it to
// l3.Driver.Delete. It is the same method set as
// reconciler.ProfileDeleter.
type Deleter interface {
	DeleteWithProfile(ctx context.Context, routerID string, profile *model.ServiceProfile) error
}

// Driver is the external L3 driver. It is safe for concurrent use.
type Driver struct {
	secret string
	client *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	known map[string]target // router id -> backend of its last Sync
}

// target is a backend with the secret to sign for it.
type target struct {
	Config
	key string // the effective secret
}

var (
	_ l3.Driver = (*Driver)(nil)
	_ Deleter   = (*Driver)(nil)
)

// New returns an external driver.
func New(opts Options) *Driver {
	c := &http.Client{}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{secret: opts.Secret, client: c, log: log.With("driver", Name), known: map[string]target{}}
}

// Capabilities: HA and distributed both served (the backend decides what
// they mean), any network type, floating IPs served. They are static: a
// profile's metainfo cannot change them.
func (d *Driver) Capabilities() l3.Capabilities {
	return l3.Capabilities{HA: l3.Optional, Distributed: l3.Optional, FloatingIPs: true}
}

// errNoProfile is the refusal of a router without a service profile.
var errNoProfile = errors.New(`the external driver serves only routers whose flavor has a service profile naming the backend (metainfo {"url": ...}); this router has none`)

// resolve is the backend of a profile.
func (d *Driver) resolve(p *model.ServiceProfile) (target, error) {
	if p == nil {
		return target{}, errNoProfile
	}
	c, err := ParseMetainfo(p.Metainfo)
	if err != nil {
		return target{}, fmt.Errorf("service profile %s: %w", p.ID, err)
	}
	t := target{Config: c, key: c.Secret}
	if t.key == "" {
		t.key = d.secret
	}
	if t.key == "" {
		return target{}, fmt.Errorf(`service profile %s: no secret to sign requests with: set "secret" in its metainfo or in the external driver's configuration`, p.ID)
	}
	return t, nil
}

// Validate refuses a router whose flavor has no service profile, or whose
// profile's metainfo is missing or malformed, or when no secret is known
// for it. Deleting a router is always allowed, so that a broken profile
// cannot pin routers in place. It does no I/O.
func (d *Driver) Validate(op l3.Operation, desired *l3.Router) error {
	if op == l3.OpDelete {
		return nil
	}
	_, err := d.resolve(desired.Profile)
	return err
}

// Sync PUTs the router's complete desired state to its backend and maps
// the answer to a status. A transport error, a timeout, an answer other
// than 2xx or a malformed answer is an error; a connection reset is
// retried once, after 100ms, and nothing else is retried.
func (d *Driver) Sync(ctx context.Context, desired *l3.Router) (l3.Status, error) {
	id := desired.Router.ID
	t, err := d.resolve(desired.Profile)
	if err != nil {
		return l3.Status{}, fmt.Errorf("external: router %s: %w", id, err)
	}
	doc := FromDesired(desired)
	body, err := json.Marshal(doc)
	if err != nil {
		return l3.Status{}, fmt.Errorf("external: router %s: encoding its state: %w", id, err)
	}
	// Remember the backend before sending: a request that fails may still
	// have been applied, and Delete must then reach it.
	d.mu.Lock()
	d.known[id] = t
	d.mu.Unlock()

	code, answer, err := d.do(ctx, t, http.MethodPut, id, body)
	if err != nil {
		return l3.Status{}, err
	}
	if code < 200 || code > 299 {
		return l3.Status{}, fmt.Errorf("external: PUT %s: backend answered %d %s: %s",
			redact(routerURL(t.URL, id)), code, http.StatusText(code), snippet(answer))
	}
	st, err := status(doc, answer)
	if err != nil {
		return l3.Status{}, fmt.Errorf("external: PUT %s: %w", redact(routerURL(t.URL, id)), err)
	}
	d.log.Debug("router synced", "router_id", id, "status", st.Router, "floating_ips", len(doc.FloatingIPs))
	return st, nil
}

// status maps a backend's answer to the status of the router it was
// sent; only floating IPs of doc are reported.
func status(doc Router, answer []byte) (l3.Status, error) {
	var a Answer
	if len(bytes.TrimSpace(answer)) > 0 {
		if err := json.Unmarshal(answer, &a); err != nil {
			return l3.Status{}, fmt.Errorf(`backend's answer is not {"status": ..., "floating_ips": {...}}: %v`, err)
		}
	}
	st := l3.Status{Router: StatusActive, FloatingIPs: make(map[string]string, len(doc.FloatingIPs))}
	if a.Status != "" {
		if !validStatus(a.Status) {
			return l3.Status{}, fmt.Errorf("backend answered router status %q; want ACTIVE, DOWN or ERROR", a.Status)
		}
		st.Router = a.Status
	}
	for _, f := range doc.FloatingIPs {
		s := a.FloatingIPs[f.ID]
		switch {
		case s == "":
			s = StatusDown
		case !validStatus(s):
			return l3.Status{}, fmt.Errorf("backend answered status %q for floating IP %s; want ACTIVE, DOWN or ERROR", s, f.ID)
		}
		st.FloatingIPs[f.ID] = s
	}
	return st, nil
}

func validStatus(s string) bool { return s == StatusActive || s == StatusDown || s == StatusError }

// Delete removes the router from the backend this driver last synced it
// to. A router it has not synced since it started is left alone (with a
// warning); the framework avoids that case by calling DeleteWithProfile.
func (d *Driver) Delete(ctx context.Context, routerID string) error {
	return d.DeleteWithProfile(ctx, routerID, nil)
}

// DeleteWithProfile removes the router from its backend: the one this
// driver last synced it to, or else the one profile names. 404 counts as
// success. Without either there is nowhere to go: the router was never
// delivered by this process, and nil is returned with a warning.
func (d *Driver) DeleteWithProfile(ctx context.Context, routerID string, profile *model.ServiceProfile) error {
	d.mu.Lock()
	t, ok := d.known[routerID]
	d.mu.Unlock()
	if !ok {
		if profile == nil {
			d.log.Warn("deleting a router this driver never synced and whose profile is unknown: nothing to tell a backend", "router_id", routerID)
			return nil
		}
		var err error
		if t, err = d.resolve(profile); err != nil {
			return fmt.Errorf("external: deleting router %s: %w", routerID, err)
		}
	}
	body, err := json.Marshal(DeleteRequest{Version: Version, ID: routerID})
	if err != nil {
		return err
	}
	code, answer, err := d.do(ctx, t, http.MethodDelete, routerID, body)
	if err != nil {
		return err
	}
	if code != http.StatusNotFound && (code < 200 || code > 299) {
		return fmt.Errorf("external: DELETE %s: backend answered %d %s: %s",
			redact(routerURL(t.URL, routerID)), code, http.StatusText(code), snippet(answer))
	}
	d.mu.Lock()
	if cur, ok := d.known[routerID]; ok && cur == t {
		delete(d.known, routerID)
	}
	d.mu.Unlock()
	d.log.Debug("router deleted", "router_id", routerID, "code", code)
	return nil
}

// do sends one signed request, bounded by the target's timeout, retrying
// once after a connection reset. It returns the answer's code and body.
func (d *Driver) do(parent context.Context, t target, method, routerID string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(parent, t.Timeout)
	defer cancel()
	u := routerURL(t.URL, routerID)
	for attempt := 1; ; attempt++ {
		code, answer, err := d.once(ctx, t, method, u, body)
		if err == nil {
			return code, answer, nil
		}
		if attempt == 1 && connReset(err) && ctx.Err() == nil {
			d.log.Warn("connection reset by backend, retrying once", "router_id", routerID, "method", method, "err", err)
			select {
			case <-time.After(retryDelay):
				continue
			case <-ctx.Done():
			}
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			return 0, nil, fmt.Errorf("external: %s %s: no answer within the profile's timeout of %s", method, redact(u), t.Timeout)
		}
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // its own message would repeat the URL
		}
		return 0, nil, fmt.Errorf("external: %s %s: %w", method, redact(u), err)
	}
}

// once sends one signed request and reads its answer.
func (d *Driver) once(ctx context.Context, t target, method, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "spinel-l3-external/"+Version)
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(t.key, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(answer) > maxAnswer {
		return 0, nil, fmt.Errorf("the answer is larger than %d bytes", maxAnswer)
	}
	return resp.StatusCode, answer, nil
}

// connReset reports whether err is the backend dropping the connection.
func connReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
