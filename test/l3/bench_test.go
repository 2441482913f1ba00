package l3

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkRouterWithFloatingIP creates, per iteration, a router with a
// gateway (flavor backed by a real external backend), an internal
// network and subnet, an interface, a VM port and a floating IP on it,
// and measures the router create latency and the time until the floating
// IP's status shows the backend's answer (ACTIVE).
//
//	go test -run '^$' -bench RouterWithFloatingIP -benchtime 1000x ./test/l3
func BenchmarkRouterWithFloatingIP(b *testing.B) {
	srv := testserver.Start(b, providers, func(c *server.Config) {
		for k := range c.Service.DefaultQuotas {
			c.Service.DefaultQuotas[k] = -1
		}
	})
	a := api{t: nil, base: srv.URL}
	a.tb = b
	be := newBackendTB(b, "s3cret")
	f := flavor(a, "bench", be)
	ext := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "ext", "router:external": true}}, "network")
	a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(ext), "cidr": "100.64.0.0/16", "ip_version": 4}}, "subnet")

	var createLat, statusLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		r := a.must(201, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"flavor_id": f,
			"external_gateway_info": map[string]any{"network_id": id(ext)}}}, "router")
		createLat = append(createLat, time.Since(start))
		n := a.must(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "geneve"}}, "network")
		s := a.must(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n),
			"cidr": fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), "ip_version": 4}}, "subnet")
		a.must(200, "PUT", "/v2.0/routers/"+id(r)+"/add_router_interface", map[string]any{"subnet_id": id(s)}, "")
		p := a.must(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, "port")
		start = time.Now()
		fip := a.must(201, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(ext), "port_id": id(p)}}, "floatingip")
		for a.must(200, "GET", "/v2.0/floatingips/"+id(fip), nil, "floatingip")["status"] != "ACTIVE" {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("floating IP %s not ACTIVE after 10s", id(fip))
			}
			time.Sleep(time.Millisecond)
		}
		statusLat = append(statusLat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(pct(createLat, 50), "router-create-p50-ms")
	b.ReportMetric(pct(createLat, 99), "router-create-p99-ms")
	b.ReportMetric(pct(statusLat, 50), "fip-status-p50-ms")
	b.ReportMetric(pct(statusLat, 99), "fip-status-p99-ms")
}

// pct is the nearest-rank percentile of ds, in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return float64(s[max(i, 0)].Microseconds()) / 1000
}
