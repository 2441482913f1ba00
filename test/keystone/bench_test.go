package keystone

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/bench"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkKeystoneOverhead runs `spinel bench`'s port phase (create,
// show, list, update, delete) against two servers in one process: one in
// noauth mode, one validating a real Keystone token (cache warm). Each
// round runs both back to back (in alternating order) and yields one
// keystone/noauth throughput ratio per operation; the figure is the median
// of the rounds' ratios, which cancels slow drift and spikes from other
// work on the machine. The target is a ratio above 0.9 (token checks cost
// under 10% of throughput).
//
//	go test -run '^$' -bench KeystoneOverhead -benchtime 1x ./test/keystone
func BenchmarkKeystoneOverhead(b *testing.B) {
	needKeystone(b)
	const rounds, count, conc = 8, 1000, 16
	noauth := testserver.Start(b, unlimitedQuotas)
	keyst := startSpinel(b, 5*time.Minute, unlimitedQuotas)
	tok := token(b, ks.Admin)
	newClient(b, keyst, tok).do("GET", "/v2.0/networks", nil).expect(b, "warm the token cache", http.StatusOK)

	rates := map[string]map[string][]float64{"noauth": {}, "keystone": {}} // mode -> op -> per round
	run := func(mode, url, token string) {
		rep, err := bench.Run(context.Background(), bench.Options{URL: url, Token: token, Resources: []string{bench.ResourcePort}, Count: count, Concurrency: conc})
		if err != nil {
			b.Fatalf("%s: %v", mode, err)
		}
		for _, op := range rep.Ops {
			if op.Errors > 0 {
				b.Fatalf("%s: %s: %d errors: %v", mode, op.Name, op.Errors, rep.Errors)
			}
			rates[mode][op.Name] = append(rates[mode][op.Name], op.PerSecond)
		}
	}
	b.ResetTimer()
	for range b.N {
		for r := range rounds {
			if r%2 == 0 {
				run("noauth", noauth.URL, "")
				run("keystone", keyst.URL, tok)
			} else {
				run("keystone", keyst.URL, tok)
				run("noauth", noauth.URL, "")
			}
		}
	}
	b.StopTimer()
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
		case "port show":
			b.ReportMetric(nm, "show-noauth/s")
			b.ReportMetric(km, "show-keystone/s")
			b.ReportMetric(ratio, "show-ratio")
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
