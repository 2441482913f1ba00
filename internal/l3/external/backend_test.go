package external_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3/external"
)

// backend is a small but real external L3 backend, as a vendor would write
// one in Go: it verifies every request with external.Verify, keeps the
// routers it is given, and answers statuses. Tests can make it fail, slow
// or reset connections.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	routers  map[string]external.Router
	bodies   map[string][]byte // last PUT body per router
	headers  http.Header       // of the last request
	requests int               // requests received, verified or not
	rejected []error           // verification failures
	fail     int               // answer this code to everything when set
	delay    time.Duration     // wait this long before answering
	resets   int               // reset this many next connections
	answer   func(external.Router) (int, []byte)
}

func newBackend(t *testing.T, secret string) *backend {
	b := &backend{t: t, secret: secret, routers: map[string]external.Router{}, bodies: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /spinel/routers/{id}", b.put)
	mux.HandleFunc("DELETE /spinel/routers/{id}", b.delete)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.requests++
		b.headers = r.Header.Clone()
		reset := b.resets > 0
		if reset {
			b.resets--
		}
		fail, delay := b.fail, b.delay
		b.mu.Unlock()
		if reset {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
			return
		}
		if delay > 0 {
			// Read the body first: only then does the server notice a
			// client that hangs up.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fail != 0 {
			http.Error(w, "backend told to fail", fail)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// url is the base URL profiles give for the backend.
func (b *backend) url() string { return b.srv.URL + "/spinel" }

// verify reads and checks a request; on failure it answers 401.
func (b *backend) verify(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err == nil {
		err = external.Verify(b.secret, r, body, time.Minute)
	}
	if err == nil && r.Header.Get("Content-Type") != "application/json" {
		err = fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	if err != nil {
		b.mu.Lock()
		b.rejected = append(b.rejected, err)
		b.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

func (b *backend) put(w http.ResponseWriter, r *http.Request) {
	body, ok := b.verify(w, r)
	if !ok {
		return
	}
	var rt external.Router
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rt); err != nil {
		http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if rt.Version != external.Version || rt.ID != r.PathValue("id") {
		http.Error(w, "version or id mismatch", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.routers[rt.ID] = rt // full replacement
	b.bodies[rt.ID] = body
	answer := b.answer
	b.mu.Unlock()
	if answer != nil {
		code, out := answer(rt)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(out)
		return
	}
	// A floating IP is up once its port is bound to a host.
	a := external.Answer{Status: external.StatusActive, FloatingIPs: map[string]string{}}
	if !rt.AdminStateUp {
		a.Status = external.StatusDown
	}
	for _, f := range rt.FloatingIPs {
		if f.Port.Host != "" {
			a.FloatingIPs[f.ID] = external.StatusActive
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

func (b *backend) delete(w http.ResponseWriter, r *http.Request) {
	body, ok := b.verify(w, r)
	if !ok {
		return
	}
	var req external.DeleteRequest
	if err := json.Unmarshal(body, &req); err != nil || req.ID != r.PathValue("id") {
		http.Error(w, "id mismatch", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	_, ok = b.routers[req.ID]
	delete(b.routers, req.ID)
	b.mu.Unlock()
	if !ok {
		http.Error(w, "no such router", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

func (b *backend) router(id string) (external.Router, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.routers[id]
	return r, ok
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

func (b *backend) set(f func(b *backend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}
