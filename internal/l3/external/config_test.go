package external_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/external"
)

func TestCapabilities(t *testing.T) {
	c := external.New(external.Options{}).Capabilities()
	if c.HA != l3.Optional || c.Distributed != l3.Optional || len(c.NetworkTypes) != 0 || !c.FloatingIPs {
		t.Errorf("capabilities = %+v", c)
	}
}

func TestParseMetainfo(t *testing.T) {
	c, err := external.ParseMetainfo(`{"url": "https://backend.example/spinel/", "timeout": "5s", "secret": "x"}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://backend.example/spinel" || c.Timeout != 5*time.Second || c.Secret != "x" {
		t.Errorf("config = %+v", c)
	}
	if strings.Contains(c.String(), "secret=x") {
		t.Errorf("String shows the secret: %s", c)
	}
	c, err = external.ParseMetainfo(`{"url": "http://10.0.0.1:8080"}`)
	if err != nil || c.Timeout != external.DefaultTimeout || c.Secret != "" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestValidate(t *testing.T) {
	bad := []struct{ metainfo, want string }{
		{``, "no metainfo"},
		{`   `, "no metainfo"},
		{`not json`, "not a valid JSON object"},
		{`["https://x"]`, "not a valid JSON object"},
		{`null`, `no "url"`},
		{`{}`, `no "url"`},
		{`{"url": ""}`, `no "url"`},
		{`{"url": 42}`, "not a valid JSON object"},
		{`{"url": "backend.example/spinel"}`, "must be an http or https URL"},
		{`{"url": "ftp://backend.example/"}`, "must be an http or https URL"},
		{`{"url": "https://"}`, "has no host"},
		{`{"url": "https://backend.example/?a=b"}`, "query or fragment"},
		{`{"url": "https://backend.example/#x"}`, "query or fragment"},
		{`{"url": "https://backend.example:port/"}`, "malformed"},
		{`{"url": "https://backend.example", "timeout": "5"}`, `bad "timeout" "5"`},
		{`{"url": "https://backend.example", "timeout": "soon"}`, `bad "timeout" "soon"`},
		{`{"url": "https://backend.example", "timeout": "0s"}`, "more than 0"},
		{`{"url": "https://backend.example", "timeout": "-1s"}`, "more than 0"},
		{`{"url": "https://backend.example", "timeout": "1h"}`, "at most 5m0s"},
		{`{"url": "https://backend.example", "timeout": 5}`, "not a valid JSON object"},
		{`{"url": "https://backend.example", "tmeout": "5s"}`, `unknown field "tmeout"`},
		{`{"url": "https://backend.example"} {}`, "data after"},
	}
	d := external.New(external.Options{Secret: "driver"})
	for _, tc := range bad {
		r := desired(profile(tc.metainfo))
		err := d.Validate(l3.OpUpdate, r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("metainfo %q: err = %v, want it to contain %q", tc.metainfo, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), "prof-1") {
			t.Errorf("metainfo %q: err %q does not name the profile", tc.metainfo, err)
		}
		// Sync refuses it the same way, without I/O.
		if _, serr := d.Sync(t.Context(), r); serr == nil || !strings.Contains(serr.Error(), tc.want) {
			t.Errorf("metainfo %q: Sync err = %v", tc.metainfo, serr)
		}
		// A router with a broken profile can still be deleted.
		if err := d.Validate(l3.OpDelete, r); err != nil {
			t.Errorf("metainfo %q: Validate(delete) = %v", tc.metainfo, err)
		}
	}

	if err := d.Validate(l3.OpCreate, desired(nil)); err == nil || !strings.Contains(err.Error(), "service profile") {
		t.Errorf("no profile: err = %v", err)
	}
	good := desired(profile(`{"url": "https://backend.example/spinel", "timeout": "5s"}`))
	for _, op := range []l3.Operation{l3.OpCreate, l3.OpUpdate, l3.OpAssociateFIP, l3.OpAddInterface} {
		if err := d.Validate(op, good); err != nil {
			t.Errorf("Validate(%s) of a good profile: %v", op, err)
		}
	}
	// No secret anywhere: refused, since requests could not be signed.
	if err := external.New(external.Options{}).Validate(l3.OpCreate, good); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("no secret: err = %v", err)
	}
	withSecret := desired(profile(`{"url": "https://backend.example/spinel", "secret": "p"}`))
	if err := external.New(external.Options{}).Validate(l3.OpCreate, withSecret); err != nil {
		t.Errorf("profile secret only: %v", err)
	}
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	d := external.New(external.Options{})
	for _, m := range []string{
		`{"url": "https://user:hunter2@backend.example/?q", "secret": "hunter2"}`,
		`{"url": "ftp://user:hunter2@backend.example/", "secret": "hunter2"}`,
		`{"url": "https://user:hunter2@backend.example:port/", "secret": "hunter2"}`,
		`{"url": "https://backend.example/", "secret": "hunter2", "timeout": "x"}`,
	} {
		err := d.Validate(l3.OpCreate, desired(profile(m)))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("metainfo %s: err = %v", m, err)
		}
	}
	// Transport errors redact the URL's password too.
	_, err := d.Sync(t.Context(), desired(profile(`{"url": "http://user:hunter2@127.0.0.1:1/x", "secret": "s", "timeout": "1s"}`)))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Sync err = %v", err)
	}
}
