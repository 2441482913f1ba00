package keystone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/bench"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkKeystoneOverhead runs `spinel bench`'s port phase (create,
// show, list, update, delete) against two servers in one process: one in
// noauth mode, one validating a real Keystone token (cache warm). Each
// round runs the two benches at the same time, with the same workload and
// half the workers each, so that whatever else runs on the machine slows
// both alike, and yields one keystone/noauth throughput ratio per
// operation; the figure is the median of the rounds' ratios. The target is
// a ratio above 0.9 (token checks cost under 10% of throughput).
//
// The show phase is short, so the two benches' phases overlap unevenly and
// its ratio swings from round to round; the reported show-ratio comes from
// a paired measurement instead: workers alternate GETs of one port on
// either server, request by request, and the ratio of the mean latencies
// is the throughput ratio.
//
//	go test -run '^$' -bench KeystoneOverhead -benchtime 1x ./test/keystone
func BenchmarkKeystoneOverhead(b *testing.B) {
	needKeystone(b)
	const rounds, count, conc = 8, 1000, 8
	noauth := testserver.Start(b, unlimitedQuotas)
	keyst := startSpinel(b, 5*time.Minute, unlimitedQuotas)
	tok := token(b, ks.Admin)
	newClient(b, keyst, tok).do("GET", "/v2.0/networks", nil).expect(b, "warm the token cache", http.StatusOK)

	rates := map[string]map[string][]float64{"noauth": {}, "keystone": {}} // mode -> op -> per round
	run := func(mode, url, token string) (*bench.Report, error) {
		rep, err := bench.Run(context.Background(), bench.Options{URL: url, Token: token, Resources: []string{bench.ResourcePort}, Count: count, Concurrency: conc})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mode, err)
		}
		for _, op := range rep.Ops {
			if op.Errors > 0 {
				return nil, fmt.Errorf("%s: %s: %d errors: %v", mode, op.Name, op.Errors, rep.Errors)
			}
		}
		return rep, nil
	}
	b.ResetTimer()
	for range b.N {
		for range rounds {
			var wg sync.WaitGroup
			var nrep, krep *bench.Report
			var nerr, kerr error
			wg.Go(func() { nrep, nerr = run("noauth", noauth.URL, "") })
			wg.Go(func() { krep, kerr = run("keystone", keyst.URL, tok) })
			wg.Wait()
			if err := errors.Join(nerr, kerr); err != nil {
				b.Fatal(err)
			}
			for mode, rep := range map[string]*bench.Report{"noauth": nrep, "keystone": krep} {
				for _, op := range rep.Ops {
					rates[mode][op.Name] = append(rates[mode][op.Name], op.PerSecond)
				}
			}
		}
	}
	paired := pairedShow(b, noauth.URL, keyst.URL, tok, 8, 2000)
	b.StopTimer()
	b.Logf("paired show  noauth %7.0f µs  keystone %7.0f µs  (mean latency, %d pairs)  ratio %.3f",
		paired.noauth.Seconds()*1e6, paired.keystone.Seconds()*1e6, paired.n, paired.noauth.Seconds()/paired.keystone.Seconds())
	b.ReportMetric(paired.noauth.Seconds()/paired.keystone.Seconds(), "show-ratio")
	for _, op := range []string{"port create", "port show", "port list", "port update", "port delete"} {
		n, k := rates["noauth"][op], rates["keystone"][op]
		if len(n) == 0 || len(k) == 0 {
			b.Fatalf("no figures for %s", op)
		}
		ratios := make([]float64, len(n))
		for i := range n {
			ratios[i] = k[i] / n[i]
		}
		nm, km, ratio := median(n), median(k), median(ratios)
		b.Logf("%-12s noauth %7.0f/s  keystone %7.0f/s  (medians of %d rounds)  ratio %.3f (rounds %.2f to %.2f)",
			op, nm, km, len(n), ratio, slices.Min(ratios), slices.Max(ratios))
		switch op {
		case "port create":
			b.ReportMetric(nm, "create-noauth/s")
			b.ReportMetric(km, "create-keystone/s")
			b.ReportMetric(ratio, "create-ratio")
		}
	}
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type pairedResult struct {
	n                int
	noauth, keystone time.Duration // mean latencies
}

// pairedShow has workers GET one port on the noauth and the Keystone
// server alternately (which goes first alternates too) and returns the
// mean latencies.
func pairedShow(b *testing.B, noauthURL, keystURL, tok string, workers, perWorker int) pairedResult {
	b.Helper()
	ctx := context.Background()
	portOn := func(url, token string) string {
		c := &client{tb: b, url: url, token: token, http: &http.Client{Timeout: 30 * time.Second}}
		net := c.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "paired"}}).expect(b, "paired network", http.StatusCreated).obj("network")
		return c.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"]}}).expect(b, "paired port", http.StatusCreated).obj("port")["id"].(string)
	}
	targets := []struct{ url, token string }{{noauthURL, ""}, {keystURL, tok}}
	var paths [2]string
	for i, t := range targets {
		paths[i] = t.url + "/v2.0/ports/" + portOn(t.url, t.token)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}, Timeout: 30 * time.Second}
	get := func(i int) time.Duration {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, paths[i], nil)
		if targets[i].token != "" {
			req.Header.Set("X-Auth-Token", targets[i].token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("paired show: HTTP %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	var mu sync.Mutex
	var sums [2]time.Duration
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var local [2]time.Duration
			for i := range perWorker {
				first := (i + w) % 2
				local[first] += get(first)
				local[1-first] += get(1 - first)
			}
			mu.Lock()
			sums[0] += local[0]
			sums[1] += local[1]
			mu.Unlock()
		})
	}
	wg.Wait()
	n := workers * perWorker
	return pairedResult{n: n, noauth: sums[0] / time.Duration(n), keystone: sums[1] / time.Duration(n)}
}
