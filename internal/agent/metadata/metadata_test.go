package metadata

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestSign checks the signature against Python's
// hmac.new(b's3cret', b'i-123', hashlib.sha256).hexdigest().
func TestSign(t *testing.T) {
	const want = "d985d433d86723609e6b4619757c1d8643057c56d6a2944ee36c8d79b8a97ac0"
	if got := Sign("s3cret", "i-123"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{NovaURL: "nova:8775", Secret: "s"},
		{NovaURL: "ftp://nova", Secret: "s"},
		{NovaURL: "http://nova", Secret: "s", Address: netip.MustParseAddrPort("[fe80::a9fe:a9fe]:80")},
	} {
		if p, err := New(cfg, nil); err == nil {
			p.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	p, err := New(Config{NovaURL: "http://nova:8775", Secret: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.cfg.Address != DefaultAddress || p.Name() != "metadata" {
		t.Fatalf("address %s, name %s", p.cfg.Address, p.Name())
	}
}

// TestHeaders drives the handler directly (no namespaces): the guest's
// identity headers are replaced, underscore spellings dropped, the body
// and path reach Nova and the answer comes back.
func TestHeaders(t *testing.T) {
	var got http.Header
	var gotPath, gotBody string
	nova := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotPath = r.URL.RequestURI()
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "answer")
	}))
	defer nova.Close()
	p, err := New(Config{NovaURL: nova.URL + "/base", Secret: "s3cret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	req := httptest.NewRequest(http.MethodPost, "http://169.254.169.254/openstack/latest/password?x=1", strings.NewReader("pw"))
	req.RemoteAddr = "10.0.0.11:40000"
	for k, v := range map[string]string{
		"X-Instance-ID": "other", "X-Instance-ID-Signature": "forged", "X-Tenant-ID": "evil",
		"X-Forwarded-For": "10.9.9.9", "X-Instance_ID": "other", "X-Metadata-Provider": "lb",
		"Forwarded": "for=10.9.9.9", "User-Agent": "cloud-init",
	} {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	p.serve(rec, req, &identity{portID: "p1", instanceID: "i-123", projectID: "proj"}, p.log)
	if rec.Code != http.StatusOK || rec.Body.String() != "answer" {
		t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
	}
	want := map[string]string{
		"X-Instance-Id":           "i-123",
		"X-Tenant-Id":             "proj",
		"X-Instance-Id-Signature": Sign("s3cret", "i-123"),
		"X-Forwarded-For":         "10.0.0.11",
		"User-Agent":              "cloud-init",
	}
	for k, v := range want {
		if vs := got.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("%s = %q, want [%s]", k, vs, v)
		}
	}
	for k := range got {
		if strings.Contains(k, "_") || k == "Forwarded" || k == "X-Metadata-Provider" {
			t.Errorf("guest header %s reached Nova", k)
		}
	}
	if gotPath != "/base/openstack/latest/password?x=1" || gotBody != "pw" {
		t.Errorf("path %q body %q", gotPath, gotBody)
	}

	// A port without an instance gets 404 and Nova is not asked.
	got = nil
	rec = httptest.NewRecorder()
	p.serve(rec, httptest.NewRequest(http.MethodGet, "/latest/meta-data/", nil), &identity{portID: "p2"}, p.log)
	if rec.Code != http.StatusNotFound || got != nil {
		t.Fatalf("no instance: %d, nova asked: %v", rec.Code, got != nil)
	}
}
