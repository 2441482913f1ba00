package apiserver_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/spinel-net/spinel/internal/testserver"
)

// FuzzCreateBodies sends arbitrary bodies to every collection, as admin and
// as a project, by POST and PUT: no input may produce a 5xx.
func FuzzCreateBodies(f *testing.F) {
	seeds := []string{
		`{"network": {"name": "n"}}`,
		`{"network": {"provider:network_type": "vlan", "provider:physical_network": "p", "provider:segmentation_id": 5000}}`,
		`{"subnet": {"network_id": "x", "cidr": "10.0.0.0/24", "ip_version": 4}}`,
		`{"subnet": {"cidr": "::/0", "ip_version": 6, "allocation_pools": [{"start": "1", "end": ""}]}}`,
		`{"port": {"network_id": "x", "fixed_ips": [{"ip_address": "10.0.0.300"}], "mac_address": "zz"}}`,
		`{"security_group_rule": {"direction": "ingress", "protocol": "icmp", "port_range_min": 300}}`,
		`{"networks": [{"name": 1}, null]}`,
		`{"quota": {"network": "x"}}`,
		`[]`, `null`, `{"network": []}`, `{"network": {"mtu": 1e400}}`, `{"port": {"binding:profile": [1]}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0))
	}
	srv := testserver.Start(f)
	paths := []string{"/v2.0/networks", "/v2.0/subnets", "/v2.0/ports", "/v2.0/security-groups", "/v2.0/security-group-rules", "/v2.0/quotas/p1"}
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, body []byte, sel uint8) {
		path := paths[int(sel)%len(paths)]
		method := http.MethodPost
		if sel&0x10 != 0 || path == "/v2.0/quotas/p1" {
			method = http.MethodPut
			if path != "/v2.0/quotas/p1" {
				path += "/00000000-0000-0000-0000-000000000000"
			}
		}
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if sel&0x20 != 0 {
			req.Header.Set("X-Project-Id", "p1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, resp.StatusCode, out)
		}
	})
}
