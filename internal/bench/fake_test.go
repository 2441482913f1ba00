package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeNeutron is a small in-memory Neutron v2.0 API: networks, subnets and
// ports CRUD plus /metrics.
type fakeNeutron struct {
	t *testing.T

	mu      sync.Mutex
	seq     int
	nets    map[string]map[string]any
	subnets map[string]map[string]any
	ports   map[string]map[string]any
	calls   map[string]int // "METHOD coll" -> count

	token     string // required X-Auth-Token when not empty
	projectID string // required X-Project-Id when not empty
	rss       string // value of process_resident_memory_bytes; no /metrics when empty

	// fail, when set, may answer a request with an error status and body.
	fail func(method, coll string, n int) (int, string)
	// onRequest is called before each request is served.
	onRequest func(r *http.Request)

	inFlight, maxInFlight atomic.Int64
}

func newFake(t *testing.T) (*fakeNeutron, *httptest.Server) {
	f := &fakeNeutron{
		t:       t,
		nets:    map[string]map[string]any{},
		subnets: map[string]map[string]any{},
		ports:   map[string]map[string]any{},
		calls:   map[string]int{},
	}
	mux := http.NewServeMux()
	for _, coll := range []string{"networks", "subnets", "ports"} {
		mux.HandleFunc("POST /v2.0/"+coll, f.wrap(coll, f.create))
		mux.HandleFunc("GET /v2.0/"+coll, f.wrap(coll, f.list))
		mux.HandleFunc("GET /v2.0/"+coll+"/{id}", f.wrap(coll, f.show))
		mux.HandleFunc("PUT /v2.0/"+coll+"/{id}", f.wrap(coll, f.update))
		mux.HandleFunc("DELETE /v2.0/"+coll+"/{id}", f.wrap(coll, f.delete))
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if f.rss == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"+
			"# TYPE process_resident_memory_bytes gauge\n"+
			"process_resident_memory_bytes_other 7\n"+
			"process_resident_memory_bytes %s\n"+
			"process_virtual_memory_bytes 1e+09\n", f.rss)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeNeutron) table(coll string) map[string]map[string]any {
	switch coll {
	case "networks":
		return f.nets
	case "subnets":
		return f.subnets
	}
	return f.ports
}

func singular(coll string) string { return coll[:len(coll)-1] }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func neutronErr(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]any{"NeutronError": map[string]any{"type": typ, "message": msg, "detail": ""}})
}

func (f *fakeNeutron) wrap(coll string, h func(w http.ResponseWriter, r *http.Request, coll string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.maxInFlight.Load()
			if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if f.onRequest != nil {
			f.onRequest(r)
		}
		if f.token != "" && r.Header.Get("X-Auth-Token") != f.token {
			neutronErr(w, http.StatusUnauthorized, "Unauthorized", "bad token")
			return
		}
		if f.projectID != "" && r.Header.Get("X-Project-Id") != f.projectID {
			neutronErr(w, http.StatusForbidden, "Forbidden", "bad project")
			return
		}
		f.mu.Lock()
		key := r.Method + " " + coll
		f.calls[key]++
		calls := f.calls[key]
		f.mu.Unlock()
		if f.fail != nil {
			if code, body := f.fail(r.Method, coll, calls); code != 0 {
				neutronErr(w, code, "Injected", body)
				return
			}
		}
		h(w, r, coll)
	}
}

func (f *fakeNeutron) create(w http.ResponseWriter, r *http.Request, coll string) {
	var in map[string]map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in[singular(coll)] == nil {
		neutronErr(w, http.StatusBadRequest, "BadRequest", "bad body")
		return
	}
	obj := in[singular(coll)]
	f.mu.Lock()
	defer f.mu.Unlock()
	netID, _ := obj["network_id"].(string)
	switch coll {
	case "subnets", "ports":
		if f.nets[netID] == nil {
			neutronErr(w, http.StatusNotFound, "NetworkNotFound", "network "+netID+" not found")
			return
		}
	}
	if coll == "subnets" {
		cidr, err := netip.ParsePrefix(fmt.Sprint(obj["cidr"]))
		if err != nil {
			neutronErr(w, http.StatusBadRequest, "BadRequest", "bad cidr")
			return
		}
		for _, s := range f.subnets {
			if s["network_id"] == netID && netip.MustParsePrefix(s["cidr"].(string)).Overlaps(cidr) {
				neutronErr(w, http.StatusConflict, "InvalidInput", "overlapping cidr "+cidr.String())
				return
			}
		}
	}
	f.seq++
	obj["id"] = fmt.Sprintf("%s-%08d", singular(coll), f.seq)
	f.table(coll)[obj["id"].(string)] = obj
	writeJSON(w, http.StatusCreated, map[string]any{singular(coll): obj})
}

func (f *fakeNeutron) list(w http.ResponseWriter, r *http.Request, coll string) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	f.mu.Lock()
	var out []map[string]any
	for _, o := range f.table(coll) {
		if net := q.Get("network_id"); net != "" && o["network_id"] != net {
			continue
		}
		out = append(out, o)
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b map[string]any) int {
		return cmpString(a["id"].(string), b["id"].(string))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{coll: out})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (f *fakeNeutron) show(w http.ResponseWriter, r *http.Request, coll string) {
	f.mu.Lock()
	obj := f.table(coll)[r.PathValue("id")]
	f.mu.Unlock()
	if obj == nil {
		neutronErr(w, http.StatusNotFound, "NotFound", singular(coll)+" not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{singular(coll): obj})
}

func (f *fakeNeutron) update(w http.ResponseWriter, r *http.Request, coll string) {
	var in map[string]map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in[singular(coll)] == nil {
		neutronErr(w, http.StatusBadRequest, "BadRequest", "bad body")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	obj := f.table(coll)[r.PathValue("id")]
	if obj == nil {
		neutronErr(w, http.StatusNotFound, "NotFound", singular(coll)+" not found")
		return
	}
	for k, v := range in[singular(coll)] {
		obj[k] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{singular(coll): obj})
}

func (f *fakeNeutron) delete(w http.ResponseWriter, r *http.Request, coll string) {
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	obj := f.table(coll)[id]
	if obj == nil {
		neutronErr(w, http.StatusNotFound, "NotFound", singular(coll)+" not found")
		return
	}
	inUse := func(m map[string]map[string]any, net string) bool {
		for _, o := range m {
			if o["network_id"] == net {
				return true
			}
		}
		return false
	}
	switch coll {
	case "networks":
		if inUse(f.subnets, id) || inUse(f.ports, id) {
			neutronErr(w, http.StatusConflict, "NetworkInUse", "network "+id+" in use")
			return
		}
	case "subnets":
		if inUse(f.ports, obj["network_id"].(string)) {
			neutronErr(w, http.StatusConflict, "SubnetInUse", "subnet "+id+" in use")
			return
		}
	}
	delete(f.table(coll), id)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeNeutron) sizes() (nets, subnets, ports int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.nets), len(f.subnets), len(f.ports)
}

func (f *fakeNeutron) assertEmpty(t *testing.T) {
	t.Helper()
	n, s, p := f.sizes()
	if n+s+p != 0 {
		t.Errorf("fake not empty after the run: %d networks, %d subnets, %d ports", n, s, p)
	}
}

func (f *fakeNeutron) callCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}
