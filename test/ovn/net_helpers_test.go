package ovn

// Helpers of the network backend's tests (net_*_test.go). Their names
// start with net so as not to clash with the L3 tests in this package.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// netEnv is a spinel server with the ovn backends enabled against a real
// OVN (NB, SB, ovn-northd).
type netEnv struct {
	t   testing.TB
	o   *ovntest.OVN
	srv *testserver.Server
}

// netStart starts OVN and a server using it; withSB also gives the server
// the southbound database (ports then bind only to hosts with a chassis).
func netStart(t testing.TB, withSB bool, opts ...testserver.Option) *netEnv {
	t.Helper()
	o := ovntest.Start(t)
	sb := ""
	if withSB {
		sb = o.SB.Endpoint()
	}
	base := func(c *server.Config) {
		c.Service.VLANRanges = map[string][2]int{"physnet1": {100, 199}}
		for _, q := range []string{"network", "subnet", "port", "security_group", "security_group_rule"} {
			c.Service.DefaultQuotas[q] = -1
		}
	}
	srv := testserver.Start(t, append([]testserver.Option{base, testserver.WithOVN(o.NB.Endpoint(), sb)}, opts...)...)
	return &netEnv{t: t, o: o, srv: srv}
}

// do sends a request (as admin, or as project when given) and returns
// the status and decoded body.
func (e *netEnv) do(method, path string, body any, project ...string) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	if len(project) > 0 {
		req.Header.Set("X-Project-Id", project[0])
		req.Header.Set("X-Roles", "member")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// create POSTs a resource and returns it; anything but 201 fails the test.
func (e *netEnv) create(kind string, attrs map[string]any, project ...string) map[string]any {
	e.t.Helper()
	path := "/v2.0/" + strings.ReplaceAll(kind, "_", "-") + "s"
	st, body := e.do("POST", path, map[string]any{kind: attrs}, project...)
	if st != 201 {
		e.t.Fatalf("create %s %v: %d %v", kind, attrs, st, body)
	}
	return body[kind].(map[string]any)
}

// update PUTs attributes of a resource and returns it.
func (e *netEnv) update(kind, id string, attrs map[string]any) map[string]any {
	e.t.Helper()
	st, body := e.do("PUT", "/v2.0/"+strings.ReplaceAll(kind, "_", "-")+"s/"+id, map[string]any{kind: attrs})
	if st != 200 {
		e.t.Fatalf("update %s %s %v: %d %v", kind, id, attrs, st, body)
	}
	return body[kind].(map[string]any)
}

// remove DELETEs a resource.
func (e *netEnv) remove(kind, id string) {
	e.t.Helper()
	if st, body := e.do("DELETE", "/v2.0/"+strings.ReplaceAll(kind, "_", "-")+"s/"+id, nil); st != 204 {
		e.t.Fatalf("delete %s %s: %d %v", kind, id, st, body)
	}
}

func netID(m map[string]any) string { return m["id"].(string) }

// nbctl runs ovn-nbctl and returns its trimmed output.
func (e *netEnv) nbctl(args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.o.NBCtl(e.t, args...))
}

// eventually polls cond (every 20 ms, up to d) and returns how long it
// took to hold.
func netEventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// waitNB waits until ovn-nbctl args prints something containing every
// want, and returns the output.
func (e *netEnv) waitNB(want []string, args ...string) string {
	e.t.Helper()
	var out string
	deadline := time.Now().Add(15 * time.Second)
	for {
		o, err := e.o.NBCtlErr(args...)
		out = strings.TrimSpace(o)
		ok := err == nil
		for _, w := range want {
			ok = ok && strings.Contains(out, w)
		}
		if ok {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("ovn-nbctl %s: want %q in:\n%s (err %v)", strings.Join(args, " "), want, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// netLines splits output into sorted non-empty lines.
func netLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// network creates a network of typ ("" for the default) with attrs.
func (e *netEnv) network(name, typ string, attrs map[string]any, project ...string) map[string]any {
	e.t.Helper()
	a := map[string]any{"name": name}
	if typ != "" {
		a["provider:network_type"] = typ
	}
	for k, v := range attrs {
		a[k] = v
	}
	return e.create("network", a, project...)
}

// subnet creates an IPv4 subnet with DHCP on network.
func (e *netEnv) subnet(network, cidr string, project ...string) map[string]any {
	e.t.Helper()
	return e.create("subnet", map[string]any{"network_id": network, "cidr": cidr, "ip_version": 4}, project...)
}

// port creates a port on network with attrs.
func (e *netEnv) port(network string, attrs map[string]any, project ...string) map[string]any {
	e.t.Helper()
	a := map[string]any{"network_id": network}
	for k, v := range attrs {
		a[k] = v
	}
	return e.create("port", a, project...)
}

func netMAC(p map[string]any) string { return p["mac_address"].(string) }

func netIP(p map[string]any) string {
	return p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
}

// dumpOwned lists every row netsync owns in the NB tables it writes, as
// "table: columns" lines without UUIDs, sorted: equal dumps mean equal
// contents.
func (e *netEnv) dumpOwned() []string {
	e.t.Helper()
	var out []string
	for _, tc := range []struct{ table, cols string }{
		{"Logical_Switch", "name,other_config,external_ids"},
		{"Logical_Switch_Port", "name,type,options,tag,addresses,port_security,enabled,external_ids"},
		{"DHCP_Options", "cidr,options,external_ids"},
		{"Port_Group", "name,external_ids"},
		{"ACL", "priority,direction,match,action,external_ids"},
	} {
		rows := e.nbctl("--bare", "--columns="+tc.cols, "--data=bare", "find", tc.table, `external_ids:spinel\:owner=netsync`)
		for _, rec := range strings.Split(rows, "\n\n") {
			if rec = strings.TrimSpace(rec); rec != "" {
				out = append(out, fmt.Sprintf("%s: %s", tc.table, strings.ReplaceAll(rec, "\n", " | ")))
			}
		}
	}
	sort.Strings(out)
	return out
}
