// Package apiserver serves the Neutron v2.0 REST API over the service
// layer: routing, request envelopes, query parameters, identity, metrics,
// health, and the mapping of errors to Neutron fault bodies, which happens
// in writeError and nowhere else.
package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/requestid"
	"github.com/spinel-net/spinel/internal/service"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// Server is the HTTP API.
type Server struct {
	svc     *service.Service
	auth    auth.Authenticator
	log     *slog.Logger
	mux     *http.ServeMux
	ready   func() bool
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec

	agentTokens auth.AgentTokens
	limiter     RateLimiter
	exemptAdmin bool
	accessLog   bool
	extra       []Route
}

// RateLimiter admits requests per key (the caller's project id); when it
// refuses, retryAfter says when to come back.
type RateLimiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// Options are the server's optional collaborators.
type Options struct {
	// Ready reports whether the server may take traffic (for /readyz).
	Ready func() bool
	// Registry receives the server's metrics; a new one if nil.
	Registry *prometheus.Registry
	// AgentTokens authenticates agents on /agent/v1 (no secret: refused).
	AgentTokens auth.AgentTokens
	// RateLimiter, if set, limits authenticated API requests per project:
	// over the limit they get 429 with Retry-After.
	RateLimiter RateLimiter
	// RateLimitExemptAdmin lets admin identities bypass RateLimiter.
	RateLimitExemptAdmin bool
	// AccessLog logs one line per API request at Info (otherwise Debug).
	AccessLog bool
	// Routes are served besides the Neutron API, with the same request
	// handling: identity, rate limit, metrics, access log, and errors
	// mapped to Neutron fault bodies.
	Routes []Route
}

// Route is an extra API route: a ServeMux pattern ("GET /spinel/v1/status")
// and its handler, which returns a *neutron.Error (or any error) instead of
// writing a failure itself.
type Route struct {
	Pattern string
	Handle  func(http.ResponseWriter, *http.Request) error
}

// New returns the API handler.
func New(svc *service.Service, a auth.Authenticator, log *slog.Logger, o Options) *Server {
	s := &Server{svc: svc, auth: a, log: log, mux: http.NewServeMux(), ready: o.Ready, reg: o.Registry, agentTokens: o.AgentTokens,
		limiter: o.RateLimiter, exemptAdmin: o.RateLimitExemptAdmin, accessLog: o.AccessLog, extra: o.Routes}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spinel_api_requests_total", Help: "API requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "spinel_api_request_duration_seconds", Help: "API request latency by route and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method"})
	s.reg.MustRegister(s.reqs, s.latency)
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.handle("GET /{$}", s.versions)
	s.handle("GET /v2.0", s.v2root)
	s.handle("GET /v2.0/{$}", s.v2root)
	s.handle("GET /v2.0/extensions", s.listExtensions)
	s.handle("GET /v2.0/extensions/{alias}", s.showExtension)
	for _, r := range s.svc.Resources() {
		s.resourceRoutes(r)
	}
	s.routerActionRoutes()
	s.agentRoutes()
	s.flavorRoutes()
	s.quotaRoutes()
	for _, rt := range s.extra {
		s.handle(rt.Pattern, rt.Handle)
	}
	s.handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return neutron.NotFound("HTTPNotFound", "The resource could not be found.")
	})
}

// handle registers an API route: request id, authenticated, rate limited,
// measured, access-logged, errors mapped.
func (s *Server) handle(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	route := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		route = p
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		reqID := requestid.New()
		rw.Header().Set("X-Openstack-Request-Id", reqID)
		r = r.WithContext(requestid.With(r.Context(), reqID))
		log := s.log.With(requestid.Key, reqID)
		var id *auth.Identity
		err := func() error {
			if pattern == "GET /{$}" {
				return h(rw, r) // the versions document needs no identity
			}
			var err error
			if id, err = s.auth.Authenticate(r); err != nil {
				return err
			}
			if err := s.rateLimit(id); err != nil {
				return err
			}
			r = r.WithContext(auth.With(r.Context(), id))
			return h(rw, r)
		}()
		if err != nil {
			s.writeError(rw, r, log, err)
		}
		d := time.Since(start)
		s.reqs.WithLabelValues(route, r.Method, strconv.Itoa(rw.code)).Inc()
		s.latency.WithLabelValues(route, r.Method).Observe(d.Seconds())
		level := slog.LevelDebug
		if s.accessLog {
			level = slog.LevelInfo
		}
		if log.Enabled(r.Context(), level) {
			var project, user string
			if id != nil {
				project, user = id.ProjectID, id.UserID
			}
			log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", rw.code,
				"duration_ms", float64(d.Microseconds())/1000, "project_id", project, "user_id", user, "remote", r.RemoteAddr)
		}
	})
}

// rateLimit applies the per-project rate limit to id.
func (s *Server) rateLimit(id *auth.Identity) error {
	if s.limiter == nil || (id.Admin && s.exemptAdmin) {
		return nil
	}
	ok, retry := s.limiter.Allow(id.ProjectID)
	if ok {
		return nil
	}
	secs := int((retry + time.Second - 1) / time.Second)
	return &headerError{
		err: neutron.Newf(http.StatusTooManyRequests, "HTTPTooManyRequests",
			"Too many requests: project %s is over its request rate limit; retry after %d seconds.", id.ProjectID, max(secs, 1)),
		header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}},
	}
}

// headerError is an error whose response carries extra headers.
type headerError struct {
	err    *neutron.Error
	header http.Header
}

func (e *headerError) Error() string               { return e.err.Error() }
func (e *headerError) Unwrap() error               { return e.err }
func (e *headerError) ResponseHeader() http.Header { return e.header }

// ServeHTTP implements http.Handler. A ".json" suffix on the path, which
// old Neutron clients send, is accepted and ignored.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p, ok := strings.CutSuffix(r.URL.Path, ".json"); ok {
		r.URL.Path = p
	}
	s.mux.ServeHTTP(w, r)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// writeError is the one place where errors become HTTP responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := neutron.As(err)
	if !ok {
		switch {
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			e = neutron.Newf(http.StatusServiceUnavailable, "ServiceUnavailable", "The request could not be completed in time; please retry.")
		default:
			log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
			e = neutron.Newf(http.StatusInternalServerError, "HTTPInternalServerError", "Request Failed: internal server error while processing your request.")
		}
	}
	if e.Status >= 500 {
		log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	// Errors may ask for headers: WWW-Authenticate on a 401 from Keystone
	// authentication, Retry-After on a 429.
	var he interface{ ResponseHeader() http.Header }
	if errors.As(err, &he) {
		for k, v := range he.ResponseHeader() {
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
	}
	writeJSON(w, e.Status, map[string]any{"NeutronError": map[string]string{"type": e.Type, "message": e.Message, "detail": e.Detail}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"NeutronError":{"type":"HTTPInternalServerError","message":"encoding failed","detail":""}}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// readBody reads and parses a JSON object body with the size limit.
func readBody(r *http.Request) (map[string]json.RawMessage, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, neutron.BadRequest("Failed to read request body: %v", err)
	}
	if len(data) > MaxBodyBytes {
		return nil, neutron.Newf(http.StatusRequestEntityTooLarge, "HTTPRequestEntityTooLarge", "Request body is larger than the limit of %d bytes.", MaxBodyBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, neutron.BadRequest("Resource body required")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, neutron.BadRequest("Malformed request body")
	}
	return m, nil
}

// envelope extracts {"<key>": {...}} from a body.
func envelope(body map[string]json.RawMessage, key string) (map[string]json.RawMessage, error) {
	raw, ok := body[key]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil, neutron.BadRequest("Unable to find '%s' in request body", key)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(raw, &inner); err != nil || inner == nil {
		return nil, neutron.BadRequest("Object '%s' contains invalid data", key)
	}
	return inner, nil
}

// ifMatch parses an If-Match: revision_number=N header.
func ifMatch(r *http.Request) (*int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil, nil
	}
	for _, part := range strings.Split(h, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "revision_number="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, neutron.BadRequest("If-Match header requires revision_number=<integer>, not '%s'", v)
			}
			return &n, nil
		}
	}
	return nil, nil
}

// baseURL is the scheme and host clients used to reach us.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
