package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func opByName(t *testing.T, r *Report, name string) OpStats {
	t.Helper()
	for _, s := range r.Ops {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no op %q in report (ops: %v)", name, opNames(r))
	return OpStats{}
}

func opNames(r *Report) []string {
	var names []string
	for _, s := range r.Ops {
		names = append(names, s.Name)
	}
	return names
}

func TestRunAll(t *testing.T) {
	f, srv := newFake(t)
	f.rss = "5.24288e+07"
	f.projectID = "p1"
	const count, conc = 60, 6
	rep, err := Run(context.Background(), Options{
		URL: srv.URL + "/", ProjectID: "p1", Concurrency: conc, Count: count, ListSize: 25,
	})
	if err != nil {
		t.Fatalf("Run: %v (errors %v)", err, rep)
	}
	want := []string{
		"network create", "network show", "network list", "network update", "network delete",
		"subnet create", "subnet show", "subnet list", "subnet update", "subnet delete",
		"port create", "port show", "port list", "port update", "port delete",
		"port list-large",
	}
	if got := opNames(rep); !slices.Equal(got, want) {
		t.Fatalf("ops = %v, want %v", got, want)
	}
	for _, s := range rep.Ops {
		wantCount := count
		if s.Name == "port list-large" {
			wantCount = 10 // max(count/10, 10)
		}
		if s.Count != wantCount || s.Errors != 0 {
			t.Errorf("%s: count %d errors %d, want %d and 0", s.Name, s.Count, s.Errors, wantCount)
		}
		if s.Seconds <= 0 || s.PerSecond <= 0 || s.Max <= 0 {
			t.Errorf("%s: no timing: %+v", s.Name, s)
		}
		if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
			t.Errorf("%s: percentiles out of order: %+v", s.Name, s)
		}
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if rep.ServerRSSBytes != 52428800 {
		t.Errorf("rss = %d, want 52428800", rep.ServerRSSBytes)
	}
	if m := f.maxInFlight.Load(); m > conc {
		t.Errorf("max in flight %d > concurrency %d", m, conc)
	}
	// Timed and setup requests: 60 network creates + 1 subnets setup
	// network + 1 ports setup network.
	if got := f.callCount("POST networks"); got != count+2 {
		t.Errorf("POST networks = %d, want %d", got, count+2)
	}
	// 60 timed ports + 25 list-large ports (the timed ones were deleted).
	if got := f.callCount("POST ports"); got != count+25 {
		t.Errorf("POST ports = %d, want %d", got, count+25)
	}
	f.assertEmpty(t)
}

func TestRunSubset(t *testing.T) {
	f, srv := newFake(t)
	rep, err := Run(context.Background(), Options{URL: srv.URL, Count: 20, Resources: []string{"subnet"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := opNames(rep); len(got) != 5 || got[0] != "subnet create" {
		t.Fatalf("ops = %v", got)
	}
	if rep.ServerRSSBytes != 0 {
		t.Errorf("rss = %d without /metrics", rep.ServerRSSBytes)
	}
	if f.callCount("POST ports") != 0 {
		t.Errorf("ports created although not asked for")
	}
	f.assertEmpty(t)
}

func TestRunCountsErrors(t *testing.T) {
	f, srv := newFake(t)
	f.fail = func(method, coll string, n int) (int, string) {
		switch {
		case method == http.MethodPut && coll == "networks":
			return http.StatusConflict, "no renaming today"
		case method == http.MethodGet && coll == "ports" && n%4 == 0:
			return http.StatusInternalServerError, "flaky"
		case method == http.MethodPost && coll == "subnets" && n <= 3:
			return http.StatusBadRequest, "bad subnet"
		}
		return 0, ""
	}
	const count = 40
	rep, err := Run(context.Background(), Options{URL: srv.URL, Count: count, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if s := opByName(t, rep, "network update"); s.Errors != count || s.Count != count || s.PerSecond != 0 {
		t.Errorf("network update: %+v, want %d errors", s, count)
	}
	if s := opByName(t, rep, "network show"); s.Errors != 0 {
		t.Errorf("network show: %d errors", s.Errors)
	}
	// GET ports (show and list share the counter): every 4th fails.
	show, list := opByName(t, rep, "port show"), opByName(t, rep, "port list")
	if got := show.Errors + list.Errors; got != 2*count/4 {
		t.Errorf("port show+list errors = %d, want %d", got, 2*count/4)
	}
	if s := opByName(t, rep, "subnet create"); s.Errors != 3 || s.Count != count {
		t.Errorf("subnet create: %+v, want 3 errors", s)
	}
	// Only the created subnets are shown and deleted.
	if s := opByName(t, rep, "subnet delete"); s.Count != count-3 || s.Errors != 0 {
		t.Errorf("subnet delete: %+v", s)
	}
	// Errors are deduplicated by path template, status and body.
	wantErrs := []string{
		"PUT /v2.0/networks/{id}: HTTP 409:",
		"POST /v2.0/subnets: HTTP 400:",
		"GET /v2.0/ports/{id}: HTTP 500:",
		"GET /v2.0/ports: HTTP 500:",
	}
	if len(rep.Errors) != len(wantErrs) {
		t.Fatalf("errors = %q, want %d", rep.Errors, len(wantErrs))
	}
	for i, w := range wantErrs {
		if !strings.HasPrefix(rep.Errors[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, rep.Errors[i], w)
		}
	}
	if !strings.Contains(rep.Errors[0], "no renaming today") {
		t.Errorf("error body missing: %q", rep.Errors[0])
	}
	f.assertEmpty(t)
}

func TestRunKeepsFiveErrors(t *testing.T) {
	f, srv := newFake(t)
	f.fail = func(method, coll string, n int) (int, string) {
		if method == http.MethodGet && coll == "networks" {
			return http.StatusInternalServerError, "boom " + strings.Repeat("x", n)
		}
		return 0, ""
	}
	rep, err := Run(context.Background(), Options{URL: srv.URL, Count: 20, Resources: []string{"network"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != maxReportErrors {
		t.Errorf("kept %d errors, want %d", len(rep.Errors), maxReportErrors)
	}
	f.assertEmpty(t)
}

func TestRunCancelCleansUp(t *testing.T) {
	f, srv := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onRequest = func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/ports") && f.callCount("POST ports") >= 30 {
			cancel()
		}
	}
	rep, err := Run(ctx, Options{URL: srv.URL, Count: 200, Concurrency: 8})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep == nil || len(rep.Ops) == 0 {
		t.Fatalf("no partial report: %+v", rep)
	}
	f.assertEmpty(t)
}

func TestRunSetupFailure(t *testing.T) {
	f, srv := newFake(t)
	f.fail = func(method, coll string, n int) (int, string) {
		if method == http.MethodPost && coll == "networks" && n > 10 {
			return http.StatusConflict, "quota exceeded"
		}
		return 0, ""
	}
	rep, err := Run(context.Background(), Options{URL: srv.URL, Count: 10})
	if err == nil || !strings.Contains(err.Error(), "setup network") {
		t.Fatalf("err = %v, want a setup error", err)
	}
	if rep == nil || len(rep.Ops) != 5 {
		t.Fatalf("want the network ops in the partial report, got %+v", rep)
	}
	f.assertEmpty(t)
}

func TestRunKeystone(t *testing.T) {
	f, srv := newFake(t)
	f.token = "tok-123"
	var got map[string]any
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.NotFound(w, r)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("X-Subject-Token", "tok-123")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"token":{}}`))
	}))
	defer ks.Close()
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Count: 10, Resources: []string{"network"},
		Keystone: &KeystoneAuth{AuthURL: ks.URL, Username: "u", Password: "pw", ProjectName: "demo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := opByName(t, rep, "network create"); s.Errors != 0 {
		t.Errorf("network create errors: %v", rep.Errors)
	}
	b, _ := json.Marshal(got)
	for _, w := range []string{`"methods":["password"]`, `"name":"u"`, `"password":"pw"`, `"name":"demo"`, `"domain":{"name":"Default"}`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("auth body %s lacks %s", b, w)
		}
	}
	f.assertEmpty(t)

	_, err = Run(context.Background(), Options{
		URL: srv.URL, Keystone: &KeystoneAuth{AuthURL: srv.URL + "/v3"},
	})
	if err == nil || !strings.Contains(err.Error(), "keystone") {
		t.Errorf("bad keystone: err = %v", err)
	}
}

func TestRunBadToken(t *testing.T) {
	f, srv := newFake(t)
	f.token = "right"
	rep, err := Run(context.Background(), Options{URL: srv.URL, Token: "wrong", Count: 5, Resources: []string{"network"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := opByName(t, rep, "network create"); s.Errors != 5 {
		t.Errorf("network create: %+v", s)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "HTTP 401") {
		t.Errorf("errors = %q", rep.Errors)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{},
		{URL: "127.0.0.1:9696"},
		{URL: "http://x", Resources: []string{"router"}},
		{URL: "http://x", ListSize: -1},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v): no error", o)
		}
	}
	o, err := Options{URL: "http://x:1/v2.0/"}.withDefaults()
	if err != nil || o.URL != "http://x:1" || o.Concurrency != DefaultConcurrency || o.Count != DefaultCount || len(o.Resources) != 3 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestSubnetCIDR(t *testing.T) {
	seen := map[string]bool{}
	for i := range MaxSubnets {
		c := subnetCIDR(i)
		if seen[c] || !strings.HasPrefix(c, "10.200.") || !strings.HasSuffix(c, "/28") {
			t.Fatalf("subnetCIDR(%d) = %s", i, c)
		}
		seen[c] = true
	}
	if subnetCIDR(0) != "10.200.0.0/28" || subnetCIDR(17) != "10.200.1.16/28" || subnetCIDR(4095) != "10.200.255.240/28" {
		t.Errorf("unexpected CIDRs %s %s %s", subnetCIDR(0), subnetCIDR(17), subnetCIDR(4095))
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	ten := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one p50", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50", ms(1, 2), 50, 1 * time.Millisecond},
		{"two p51", ms(1, 2), 51, 2 * time.Millisecond},
		{"ten p50", ten, 50, 5 * time.Millisecond},
		{"ten p90", ten, 90, 9 * time.Millisecond},
		{"ten p91", ten, 91, 10 * time.Millisecond},
		{"ten p99", ten, 99, 10 * time.Millisecond},
		{"ten p100", ten, 100, 10 * time.Millisecond},
		{"ten p0", ten, 0, 1 * time.Millisecond},
		{"hundred p99", hundred, 99, 99 * time.Millisecond},
		{"hundred p90", hundred, 90, 90 * time.Millisecond},
		{"five p30", ms(15, 20, 35, 40, 50), 30, 20 * time.Millisecond},
		{"five p40", ms(15, 20, 35, 40, 50), 40, 20 * time.Millisecond},
		{"five p50", ms(15, 20, 35, 40, 50), 50, 35 * time.Millisecond},
	} {
		if got := percentile(tc.samples, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize("x", []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}, 1, 2*time.Second)
	if s.Count != 4 || s.Errors != 1 || s.Seconds != 2 || s.PerSecond != 1.5 ||
		s.P50 != 2*time.Millisecond || s.P90 != 4*time.Millisecond || s.Max != 4*time.Millisecond {
		t.Errorf("summarize = %+v", s)
	}
}

func TestReportJSON(t *testing.T) {
	r := &Report{
		Ops: []OpStats{{
			Name: "network create", Count: 10, Errors: 1, Seconds: 0.5, PerSecond: 18,
			P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4250 * time.Microsecond,
		}},
		ServerRSSBytes: 1234,
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["server_rss_bytes"] != 1234.0 {
		t.Errorf("top level = %v", m)
	}
	if errs, ok := m["errors"].([]any); !ok || len(errs) != 0 {
		t.Errorf("errors = %#v, want []", m["errors"])
	}
	ops := m["ops"].([]any)
	op := ops[0].(map[string]any)
	want := map[string]any{
		"name": "network create", "count": 10.0, "errors": 1.0, "seconds": 0.5, "per_second": 18.0,
		"p50_ms": 1.5, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.25,
	}
	if len(op) != len(want) {
		t.Errorf("op keys = %v", op)
	}
	for k, v := range want {
		if op[k] != v {
			t.Errorf("op[%q] = %v, want %v", k, op[k], v)
		}
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops[0] != r.Ops[0] || back.ServerRSSBytes != 1234 {
		t.Errorf("round trip = %+v", back)
	}
}

func TestReportTable(t *testing.T) {
	r := &Report{
		Ops:            []OpStats{{Name: "port list-large", Count: 10, Seconds: 1, PerSecond: 10, P50: time.Millisecond, Max: 2 * time.Millisecond}},
		ServerRSSBytes: 3 << 20,
		Errors:         []string{"GET /v2.0/ports: HTTP 500: boom"},
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"OPERATION", "P99 ms", "port list-large", "10.0", "server RSS: 3.0 MiB", "HTTP 500: boom"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
}

func TestParseRSS(t *testing.T) {
	for in, want := range map[string]int64{
		"process_resident_memory_bytes 1.2e+07\n":                           12000000,
		"# HELP x\nprocess_resident_memory_bytes{job=\"a\"} 4096 1700000\n": 4096,
		"process_resident_memory_bytes_total 5\n":                           0,
		"other 5\n": 0,
		"":          0,
	} {
		if got := parseRSS(strings.NewReader(in)); got != want {
			t.Errorf("parseRSS(%q) = %d, want %d", in, got, want)
		}
	}
}
