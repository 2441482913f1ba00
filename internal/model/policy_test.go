package model

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestPolicyAttrs: the attribute rules a body brings into play, as
// Neutron's _build_match_rule builds them.
func TestPolicyAttrs(t *testing.T) {
	for _, c := range []struct {
		name string
		obj  Object
		op   Op
		body string
		want []string
	}{
		{"defaults spared on create", &Network{}, Create, `{"name":"n","shared":false,"router:external":false}`, []string{"name"}},
		{"set on create", &Network{}, Create, `{"shared":true,"provider:network_type":""}`, []string{"shared", "provider:network_type"}},
		{"any value on update", &Network{}, Update, `{"shared":false}`, []string{"shared"}},
		{"object keys", &Router{}, Create, `{"external_gateway_info":{"network_id":"n","enable_snat":null}}`,
			[]string{"external_gateway_info", "external_gateway_info:enable_snat", "external_gateway_info:network_id"}},
		{"list of objects", &Port{}, Create, `{"network_id":"n","fixed_ips":[{"subnet_id":"s"},{"ip_address":"10.0.0.1","subnet_id":"s"}]}`,
			[]string{"network_id", "fixed_ips", "fixed_ips:ip_address", "fixed_ips:subnet_id"}},
		{"maps have no sub-attributes", &Port{}, Create, `{"network_id":"n","binding:profile":{"a":1}}`, []string{"network_id", "binding:profile"}},
		{"null object", &Router{}, Update, `{"external_gateway_info":null}`, []string{"external_gateway_info"}},
	} {
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.body), &body); err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(body, c.obj, c.op); err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		if got := PolicyAttrs(body, c.obj, c.op); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPolicyValue: attributes spelled as Python prints them.
func TestPolicyValue(t *testing.T) {
	gw := "10.0.0.1"
	n := &Network{Standard: Standard{Name: "n"}, Shared: true, MTU: 1450}
	sn := &Subnet{GatewayIP: &gw}
	r := &Router{}
	for _, c := range []struct {
		obj  Object
		name string
		want string
		ok   bool
	}{
		{n, "name", "n", true},
		{n, "shared", "True", true},
		{n, "router:external", "False", true},
		{n, "mtu", "1450", true},
		{n, "provider:physical_network", "None", true},
		{n, "subnets", "", false},
		{n, "nope", "", false},
		{sn, "gateway_ip", "10.0.0.1", true},
		{r, "provider", "", false}, // internal
	} {
		if got, ok := PolicyValue(c.obj, c.name); got != c.want || ok != c.ok {
			t.Errorf("%T.%s: %q %v, want %q %v", c.obj, c.name, got, ok, c.want, c.ok)
		}
	}
}
