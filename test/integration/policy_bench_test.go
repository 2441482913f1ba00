package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkListPorts measures GET /v2.0/ports over HTTP with 2 000 ports
// in each of two projects, as a member of one (who sees its 2 000: every
// port passes the scope check and get_port, and has its binding:*
// attributes hidden by the get_port:binding:* rules) and as the admin
// (all 4 000). The baseline is a second server whose policy file makes
// get_port and every get_port:* rule "@": the same scope checks and
// encoding, nothing hidden, rules that pass at once. Each iteration lists
// on both servers, alternately, so that the ratio (reported as
// member-ratio and admin-ratio: defaults/allow-all) is measured under the
// same load; ms-per-list figures are reported too.
func BenchmarkListPorts(b *testing.B) {
	dir := b.TempDir()
	allowAll := filepath.Join(dir, "allow-all.yaml")
	if err := os.WriteFile(allowAll, []byte(`
get_port: "@"
"get_port:binding:vif_type": "@"
"get_port:binding:vif_details": "@"
"get_port:binding:host_id": "@"
"get_port:binding:profile": "@"
`), 0o600); err != nil {
		b.Fatal(err)
	}
	defaults, baseline := portsServer(b, ""), portsServer(b, allowAll)
	hc := &http.Client{Timeout: 30 * time.Second}
	list := func(url, project string, want int) time.Duration {
		req, _ := http.NewRequest("GET", url+"/v2.0/ports", nil)
		if project != "" {
			req.Header.Set("X-Project-Id", project)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("list: %d %v", resp.StatusCode, err)
		}
		if n := bytes.Count(body, []byte(`"network_id":`)); n != want {
			b.Fatalf("%d ports, want %d", n, want)
		}
		return d
	}
	var memberD, memberB, adminD, adminB time.Duration
	for b.Loop() {
		memberB += list(baseline, "projP", 2000)
		memberD += list(defaults, "projP", 2000)
		adminB += list(baseline, "", 4000)
		adminD += list(defaults, "", 4000)
	}
	n := float64(b.N)
	b.ReportMetric(float64(memberD)/float64(memberB), "member-ratio")
	b.ReportMetric(float64(adminD)/float64(adminB), "admin-ratio")
	b.ReportMetric(float64(memberD.Milliseconds())/n, "member-ms")
	b.ReportMetric(float64(memberB.Milliseconds())/n, "member-baseline-ms")
	b.ReportMetric(float64(adminD.Milliseconds())/n, "admin-ms")
	b.ReportMetric(float64(adminB.Milliseconds())/n, "admin-baseline-ms")
}

// portsServer starts a server (with a policy file, if not empty) holding
// 2 000 ports in each of projects projP and projQ, and returns its URL.
func portsServer(b *testing.B, policyFile string) string {
	b.Helper()
	srv := testserver.Start(b, func(c *server.Config) {
		c.PolicyFile = policyFile
		c.Service.DefaultQuotas["port"] = -1
	})
	e := &env{srv: srv}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for pi, p := range []string{"projP", "projQ"} {
		c := e.serviceClient(projectHeaders(p))
		n, err := networks.Create(ctx, c, networks.CreateOpts{Name: p}).Extract()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := subnets.Create(ctx, c, subnets.CreateOpts{NetworkID: n.ID, CIDR: fmt.Sprintf("10.%d.0.0/20", 100+pi), IPVersion: gophercloud.IPv4}).Extract(); err != nil {
			b.Fatal(err)
		}
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 2000; i += 8 {
					if _, err := ports.Create(ctx, c, ports.CreateOpts{NetworkID: n.ID}).Extract(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return srv.URL
}
