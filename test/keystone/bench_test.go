package keystone

import (
	"context"
	"errors"
	"fmt"
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
