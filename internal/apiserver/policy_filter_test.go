package apiserver

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/spinel-net/spinel/internal/model"
)

// TestAppendFiltered: filtering the stored bytes gives exactly what
// re-encoding the object without those attributes gives.
func TestAppendFiltered(t *testing.T) {
	gw := "10.0.0.1"
	objs := []model.Object{
		&model.Port{Standard: model.Standard{ID: "p1", Name: `a "quoted" {name}, with [brackets]`, Tags: []string{"x,y", "}"}},
			NetworkID: "n1", HostID: "h1", Profile: map[string]any{"k": map[string]any{"nested": []any{1, "}", nil}}},
			VIFDetails: map[string]any{}, FixedIPs: []model.FixedIP{{SubnetID: "s", IPAddress: "10.0.0.5"}}},
		&model.Subnet{Standard: model.Standard{ID: "s1", Description: "back\\slash \u00e9"}, GatewayIP: &gw, CIDR: "10.0.0.0/24"},
		&model.Network{Standard: model.Standard{ID: "n1"}, Shared: true},
	}
	for _, o := range objs {
		model.FillEmpty(o)
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ keep, drop []string }{
			{nil, []string{"binding:host_id", "binding:profile"}},
			{[]string{"id", "name", "binding:profile", "nope"}, nil},
			{[]string{"id", "binding:host_id", "tags"}, []string{"binding:host_id"}},
			{nil, []string{"id", "name", "description", "project_id", "tenant_id", "created_at", "updated_at", "revision_number", "tags"}},
			{[]string{"gateway_ip", "shared"}, nil},
		} {
			var got, want bytes.Buffer
			if !appendFiltered(&got, raw, c.keep, c.drop) {
				t.Fatalf("%T: not filtered", o)
			}
			if err := model.AppendJSON(&want, o, c.keep, c.drop); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%T keep %v drop %v:\n got  %s\n want %s", o, c.keep, c.drop, got.String(), want.String())
			}
		}
	}
	// Whitespace is tolerated; malformed objects are refused untouched.
	var b bytes.Buffer
	if !appendFiltered(&b, []byte(` { "a" : 1 , "b" : [ 1 , 2 ] , "c":"x" } `), nil, []string{"a"}) || b.String() != `{"b":[ 1 , 2 ],"c":"x"}` {
		t.Errorf("spaced: %q", b.String())
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":}`, `{"a":1`, `{"a":"x}`, `{"a":[1,2}`, `{"a":1 "b":2}`, `{a:1}`} {
		b.Reset()
		b.WriteString("keep")
		if appendFiltered(&b, []byte(bad), nil, []string{"x"}) || b.String() != "keep" {
			t.Errorf("%q: accepted or wrote %q", bad, b.String())
		}
	}
}
