package external_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/external"
	"github.com/spinel-net/spinel/internal/l3/reconciler"
	"github.com/spinel-net/spinel/internal/model"
)

// The framework finds DeleteWithProfile through its own interface.
var _ reconciler.ProfileDeleter = (*external.Driver)(nil)

const secret = "s3cret-shared-with-the-backend"

func profile(metainfo string) *model.ServiceProfile {
	return &model.ServiceProfile{ID: "prof-1", Driver: external.Name, Metainfo: metainfo, Enabled: true}
}

func profileFor(b *backend, extra string) *model.ServiceProfile {
	return profile(`{"url": "` + b.url() + `", "timeout": "2s"` + extra + `}`)
}

func fip(id, addr, fixed string, port *model.Port) l3.FloatingIP {
	return l3.FloatingIP{
		FloatingIP: model.FloatingIP{Standard: model.Standard{ID: id}, FloatingIPAddress: addr,
			FloatingNetworkID: "ext-net", FixedIPAddress: &fixed, PortID: &port.ID, RouterID: new("r1")},
		Port: port,
	}
}

// desired is a router with a gateway, two interfaces, a route and
// floating IPs, one of them on a bound port.
func desired(p *model.ServiceProfile) *l3.Router {
	seg := 100
	phys := "physnet1"
	gw4 := "10.0.0.1"
	vm1 := &model.Port{Standard: model.Standard{ID: "vm1"}, NetworkID: "net-a", MACAddress: "fa:16:3e:00:00:01", HostID: "hv1"}
	vm2 := &model.Port{Standard: model.Standard{ID: "vm2"}, NetworkID: "net-b", MACAddress: "fa:16:3e:00:00:02"}
	return &l3.Router{
		Router: model.Router{Standard: model.Standard{ID: "r1", Name: "edge", ProjectID: "proj"}, AdminStateUp: true,
			FlavorID: new("gold"), Routes: []model.Route{{Destination: "192.168.0.0/16", Nexthop: "10.0.0.254"}}},
		Flavor:  &model.Flavor{ID: "gold", Name: "gold"},
		Profile: p,
		Gateway: &l3.Gateway{
			Network: model.Network{Standard: model.Standard{ID: "ext-net"}, NetworkType: "vlan", PhysicalNetwork: &phys, SegmentationID: &seg, MTU: 1500},
			Port: model.Port{Standard: model.Standard{ID: "gw-port"}, NetworkID: "ext-net", MACAddress: "fa:16:3e:00:00:aa",
				FixedIPs: []model.FixedIP{{SubnetID: "ext-v4", IPAddress: "203.0.113.2"}}},
			Subnets:    []model.Subnet{{Standard: model.Standard{ID: "ext-v4"}, CIDR: "203.0.113.0/24", IPVersion: 4}},
			EnableSNAT: true,
		},
		Interfaces: []l3.Interface{
			{
				Port: model.Port{Standard: model.Standard{ID: "if-b"}, NetworkID: "net-b", MACAddress: "fa:16:3e:00:00:bb",
					FixedIPs: []model.FixedIP{{SubnetID: "sub-b", IPAddress: "10.1.0.1"}}},
				Network: model.Network{Standard: model.Standard{ID: "net-b"}, NetworkType: "vxlan", SegmentationID: new(5001), MTU: 1450},
				Subnets: []model.Subnet{{Standard: model.Standard{ID: "sub-b"}, CIDR: "10.1.0.0/24", IPVersion: 4}},
			},
			{
				Port: model.Port{Standard: model.Standard{ID: "if-a"}, NetworkID: "net-a", MACAddress: "fa:16:3e:00:00:cc",
					FixedIPs: []model.FixedIP{{SubnetID: "sub-a", IPAddress: "10.0.0.1"}}},
				Network: model.Network{Standard: model.Standard{ID: "net-a"}, NetworkType: "vxlan", SegmentationID: new(5000), MTU: 1450},
				Subnets: []model.Subnet{{Standard: model.Standard{ID: "sub-a"}, CIDR: "10.0.0.0/24", GatewayIP: &gw4, IPVersion: 4}},
			},
		},
		FloatingIPs: []l3.FloatingIP{
			fip("fip-2", "203.0.113.20", "10.1.0.5", vm2),
			fip("fip-1", "203.0.113.10", "10.0.0.5", vm1),
			{FloatingIP: model.FloatingIP{Standard: model.Standard{ID: "fip-dangling"}, PortID: new("gone")}}, // port not found
		},
	}
}

func TestSyncDeliversFullStateAndMapsStatus(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	st, err := d.Sync(t.Context(), desired(profileFor(b, "")))
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	want := l3.Status{Router: "ACTIVE", FloatingIPs: map[string]string{"fip-1": "ACTIVE", "fip-2": "DOWN"}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("status = %+v, want %+v", st, want)
	}
	got, ok := b.router("r1")
	if !ok {
		t.Fatal("backend did not receive router r1")
	}
	wantJSON := `{
	  "version": "v1", "id": "r1", "name": "edge", "project_id": "proj", "admin_state_up": true,
	  "flavor_id": "gold", "ha": false, "distributed": false,
	  "gateway": {
	    "network_id": "ext-net",
	    "network": {"id": "ext-net", "type": "vlan", "physical_network": "physnet1", "segmentation_id": 100, "mtu": 1500},
	    "port": {"id": "gw-port", "mac": "fa:16:3e:00:00:aa", "fixed_ips": [{"subnet_id": "ext-v4", "ip_address": "203.0.113.2"}]},
	    "subnets": [{"id": "ext-v4", "cidr": "203.0.113.0/24", "gateway_ip": null, "ip_version": 4}],
	    "enable_snat": true
	  },
	  "interfaces": [
	    {"port_id": "if-a", "mac": "fa:16:3e:00:00:cc", "fixed_ips": [{"subnet_id": "sub-a", "ip_address": "10.0.0.1"}],
	     "network": {"id": "net-a", "type": "vxlan", "physical_network": null, "segmentation_id": 5000, "mtu": 1450},
	     "subnets": [{"id": "sub-a", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "ip_version": 4}]},
	    {"port_id": "if-b", "mac": "fa:16:3e:00:00:bb", "fixed_ips": [{"subnet_id": "sub-b", "ip_address": "10.1.0.1"}],
	     "network": {"id": "net-b", "type": "vxlan", "physical_network": null, "segmentation_id": 5001, "mtu": 1450},
	     "subnets": [{"id": "sub-b", "cidr": "10.1.0.0/24", "gateway_ip": null, "ip_version": 4}]}
	  ],
	  "routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
	  "floating_ips": [
	    {"id": "fip-1", "floating_ip_address": "203.0.113.10", "floating_network_id": "ext-net", "fixed_ip_address": "10.0.0.5",
	     "port": {"id": "vm1", "mac": "fa:16:3e:00:00:01", "host": "hv1", "network_id": "net-a"}},
	    {"id": "fip-2", "floating_ip_address": "203.0.113.20", "floating_network_id": "ext-net", "fixed_ip_address": "10.1.0.5",
	     "port": {"id": "vm2", "mac": "fa:16:3e:00:00:02", "host": "", "network_id": "net-b"}}
	  ]
	}`
	var wantRouter external.Router
	if err := json.Unmarshal([]byte(wantJSON), &wantRouter); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantRouter) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("backend holds\n%s\nwant\n%s", gj, wantJSON)
	}
	h := b.headers
	if h.Get(external.TimestampHeader) == "" || !strings.HasPrefix(h.Get(external.SignatureHeader), "sha256=") {
		t.Errorf("headers = %v", h)
	}
}

func TestSyncIsStableAndIdempotent(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	want := desired(profileFor(b, ""))
	if _, err := d.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	first := string(b.bodies["r1"])
	// The same state in another order encodes to the same bytes.
	again := desired(profileFor(b, ""))
	again.Interfaces[0], again.Interfaces[1] = again.Interfaces[1], again.Interfaces[0]
	again.FloatingIPs[0], again.FloatingIPs[1] = again.FloatingIPs[1], again.FloatingIPs[0]
	if _, err := d.Sync(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	if got := string(b.bodies["r1"]); got != first {
		t.Errorf("body changed with input order:\n%s\n%s", first, got)
	}
	if want.Interfaces[0].Port.ID != "if-b" {
		t.Error("Sync reordered the caller's desired state")
	}
}

func TestRemovedFloatingIPDisappearsAtBackend(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	r := desired(profileFor(b, ""))
	if _, err := d.Sync(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.router("r1"); len(got.FloatingIPs) != 2 {
		t.Fatalf("backend has %d floating IPs, want 2", len(got.FloatingIPs))
	}
	// fip-1 moves to a router of another flavor; an interface goes too.
	r.FloatingIPs = r.FloatingIPs[:1]
	r.Interfaces = r.Interfaces[:1]
	r.Gateway = nil
	st, err := d.Sync(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := b.router("r1")
	if len(got.FloatingIPs) != 1 || got.FloatingIPs[0].ID != "fip-2" {
		t.Errorf("backend floating IPs = %+v, want only fip-2", got.FloatingIPs)
	}
	if len(got.Interfaces) != 1 || got.Gateway != nil {
		t.Errorf("backend interfaces = %+v, gateway = %+v", got.Interfaces, got.Gateway)
	}
	if _, ok := st.FloatingIPs["fip-1"]; ok {
		t.Errorf("status still reports fip-1: %v", st.FloatingIPs)
	}
	// Nothing left: lists are empty, not null.
	r.FloatingIPs, r.Interfaces, r.Router.Routes = nil, nil, nil
	if _, err := d.Sync(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	body := string(b.bodies["r1"])
	for _, k := range []string{`"interfaces":[]`, `"routes":[]`, `"floating_ips":[]`, `"gateway":null`} {
		if !strings.Contains(body, k) {
			t.Errorf("body %s lacks %s", body, k)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		answer  string
		want    l3.Status
		wantErr string
	}{
		{"explicit", 200, `{"status": "DOWN", "floating_ips": {"fip-1": "ERROR", "fip-2": "ACTIVE", "other": "ACTIVE"}}`,
			l3.Status{Router: "DOWN", FloatingIPs: map[string]string{"fip-1": "ERROR", "fip-2": "ACTIVE"}}, ""},
		{"router error", 200, `{"status": "ERROR"}`,
			l3.Status{Router: "ERROR", FloatingIPs: map[string]string{"fip-1": "DOWN", "fip-2": "DOWN"}}, ""},
		{"empty object", 200, `{}`,
			l3.Status{Router: "ACTIVE", FloatingIPs: map[string]string{"fip-1": "DOWN", "fip-2": "DOWN"}}, ""},
		{"no content", 204, ``,
			l3.Status{Router: "ACTIVE", FloatingIPs: map[string]string{"fip-1": "DOWN", "fip-2": "DOWN"}}, ""},
		{"unknown router status", 200, `{"status": "BUILD"}`, l3.Status{}, `router status "BUILD"`},
		{"unknown fip status", 200, `{"floating_ips": {"fip-1": "up"}}`, l3.Status{}, `status "up" for floating IP fip-1`},
		{"not json", 200, `ok`, l3.Status{}, "answer is not"},
		{"server error", 500, `{"error": "boom"}`, l3.Status{}, `answered 500 Internal Server Error: {"error": "boom"}`},
		{"conflict", 409, `busy`, l3.Status{}, "answered 409 Conflict: busy"},
		{"redirect not followed", 307, ``, l3.Status{}, "answered 307"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, secret)
			b.set(func(b *backend) {
				b.answer = func(external.Router) (int, []byte) { return tc.code, []byte(tc.answer) }
			})
			d := external.New(external.Options{Secret: secret})
			st, err := d.Sync(t.Context(), desired(profileFor(b, "")))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if n := b.count(); n != 1 {
					t.Errorf("backend saw %d requests, want 1 (no retry)", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st, tc.want) {
				t.Errorf("status = %+v, want %+v", st, tc.want)
			}
		})
	}
}

func TestBackendRejectsBadSignature(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: "not-the-secret"})
	_, err := d.Sync(t.Context(), desired(profileFor(b, "")))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Sync with the wrong secret: err = %v, want a 401", err)
	}
	if len(b.rejected) != 1 || !errors.Is(b.rejected[0], external.ErrBadSignature) {
		t.Fatalf("backend rejections = %v, want one ErrBadSignature", b.rejected)
	}
	if _, ok := b.router("r1"); ok {
		t.Error("backend applied a request it rejected")
	}
}

func TestProfileSecretWins(t *testing.T) {
	b := newBackend(t, "profile-secret")
	d := external.New(external.Options{Secret: "driver-secret"})
	if _, err := d.Sync(t.Context(), desired(profileFor(b, `, "secret": "profile-secret"`))); err != nil {
		t.Fatalf("Sync with the profile's secret: %v", err)
	}
	if _, err := d.Sync(t.Context(), desired(profileFor(b, ""))); err == nil {
		t.Fatal("Sync with the driver's secret was accepted by a backend expecting the profile's")
	}
}

func TestBackendDown(t *testing.T) {
	b := newBackend(t, secret)
	p := profileFor(b, "")
	b.srv.Close()
	d := external.New(external.Options{Secret: secret})
	start := time.Now()
	_, err := d.Sync(t.Context(), desired(p))
	if err == nil || !strings.Contains(err.Error(), "PUT "+b.url()+"/routers/r1") {
		t.Fatalf("Sync to a closed backend: err = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Sync took %s against a closed port", time.Since(start))
	}
}

func TestBackendFailingIsNotRetried(t *testing.T) {
	b := newBackend(t, secret)
	b.set(func(b *backend) { b.fail = http.StatusServiceUnavailable })
	d := external.New(external.Options{Secret: secret})
	_, err := d.Sync(t.Context(), desired(profileFor(b, "")))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want a 503", err)
	}
	if n := b.count(); n != 1 {
		t.Errorf("backend saw %d requests, want 1", n)
	}
	// Once it recovers, the next Sync goes through.
	b.set(func(b *backend) { b.fail = 0 })
	if _, err := d.Sync(t.Context(), desired(profileFor(b, ""))); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutHonoured(t *testing.T) {
	b := newBackend(t, secret)
	b.set(func(b *backend) { b.delay = 3 * time.Second })
	d := external.New(external.Options{Secret: secret})
	p := profile(`{"url": "` + b.url() + `", "timeout": "100ms"}`)
	start := time.Now()
	_, err := d.Sync(t.Context(), desired(p))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timeout of 100ms") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took < 100*time.Millisecond || took > time.Second {
		t.Errorf("Sync returned after %s, want about 100ms", took)
	}
	if err := d.Delete(t.Context(), "r1"); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Delete against the slow backend: err = %v, want a timeout", err)
	}
}

func TestCallerContextCancels(t *testing.T) {
	b := newBackend(t, secret)
	b.set(func(b *backend) { b.delay = 3 * time.Second })
	d := external.New(external.Options{Secret: secret})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := d.Sync(ctx, desired(profileFor(b, ""))); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Sync outlived its context by %s", time.Since(start))
	}
}

func TestConnectionResetRetriedOnce(t *testing.T) {
	b := newBackend(t, secret)
	b.set(func(b *backend) { b.resets = 1 })
	d := external.New(external.Options{Secret: secret})
	if _, err := d.Sync(t.Context(), desired(profileFor(b, ""))); err != nil {
		t.Fatalf("Sync after one reset: %v", err)
	}
	if n := b.count(); n != 2 {
		t.Errorf("backend saw %d requests, want 2", n)
	}
	if _, ok := b.router("r1"); !ok {
		t.Error("the retry did not deliver the router")
	}

	b2 := newBackend(t, secret)
	b2.set(func(b *backend) { b.resets = 5 })
	if _, err := d.Sync(t.Context(), desired(profileFor(b2, ""))); err == nil {
		t.Fatal("Sync succeeded against a backend that always resets")
	}
	if n := b2.count(); n != 2 {
		t.Errorf("backend saw %d requests, want 2 (one retry only)", n)
	}
}

func TestDelete(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	p := profileFor(b, "")
	if _, err := d.Sync(t.Context(), desired(p)); err != nil {
		t.Fatal(err)
	}
	// Delete knows the backend from the Sync.
	if err := d.Delete(t.Context(), "r1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := b.router("r1"); ok {
		t.Fatal("backend still holds r1")
	}
	// Gone already: 404 is success.
	if err := d.DeleteWithProfile(t.Context(), "r1", p); err != nil {
		t.Fatalf("Delete of a router the backend does not hold: %v", err)
	}

	// After a restart only the profile tells where the router lives.
	if _, err := d.Sync(t.Context(), desired(p)); err != nil {
		t.Fatal(err)
	}
	restarted := external.New(external.Options{Secret: secret})
	n := b.count()
	if err := restarted.Delete(t.Context(), "r1"); err != nil {
		t.Fatalf("Delete without memory or profile: %v", err)
	}
	if b.count() != n {
		t.Fatal("Delete without memory or profile sent a request")
	}
	if err := restarted.DeleteWithProfile(t.Context(), "r1", p); err != nil {
		t.Fatalf("DeleteWithProfile after restart: %v", err)
	}
	if _, ok := b.router("r1"); ok {
		t.Fatal("backend still holds r1 after DeleteWithProfile")
	}

	// A failing backend fails the Delete, which the framework retries.
	if _, err := d.Sync(t.Context(), desired(p)); err != nil {
		t.Fatal(err)
	}
	b.set(func(b *backend) { b.fail = http.StatusInternalServerError })
	if err := d.Delete(t.Context(), "r1"); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Delete against a failing backend: err = %v", err)
	}
	b.set(func(b *backend) { b.fail = 0 })
	if err := d.Delete(t.Context(), "r1"); err != nil {
		t.Fatalf("Delete retried: %v", err)
	}
	if _, ok := b.router("r1"); ok {
		t.Fatal("backend still holds r1")
	}
}

func TestDeleteSignatureBindsRouter(t *testing.T) {
	// A DELETE replayed against another router's path is refused: its
	// signed body names the router.
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	for _, id := range []string{"r1", "r2"} {
		r := desired(profileFor(b, ""))
		r.Router.ID = id
		if _, err := d.Sync(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	var captured *http.Request
	var body []byte
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		captured = r.Clone(r.Context())
		body, _ = readAll(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer spy.Close()
	if err := d.DeleteWithProfile(t.Context(), "r1-elsewhere", profile(`{"url": "`+spy.URL+`"}`)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, b.url()+"/routers/r2", strings.NewReader(string(body)))
	req.Header = captured.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed DELETE answered %d, want 400", resp.StatusCode)
	}
	if _, ok := b.router("r2"); !ok {
		t.Error("replayed DELETE removed r2")
	}
}

func TestSyncWithoutProfile(t *testing.T) {
	d := external.New(external.Options{Secret: secret})
	r := desired(nil)
	_, err := d.Sync(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), "service profile") {
		t.Fatalf("Sync without a profile: err = %v", err)
	}
	if err := d.Validate(l3.OpCreate, r); err == nil {
		t.Fatal("Validate accepted a router without a profile")
	}
}

func TestConcurrentSyncs(t *testing.T) {
	b := newBackend(t, secret)
	d := external.New(external.Options{Secret: secret})
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			r := desired(profileFor(b, ""))
			r.Router.ID = "r" + string(rune('a'+i))
			_, err := d.Sync(t.Context(), r)
			if err == nil {
				err = d.Delete(t.Context(), r.Router.ID)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(b.routers) != 0 {
		t.Errorf("backend still holds %d routers", len(b.routers))
	}
}
