package keystone

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/bench"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkKeystoneOverhead runs `spinel bench`'s port phase (create,
// show, list, update, delete) against two servers in one process: one in
// noauth mode, one validating a real Keystone token (cache warm). Rounds
// alternate between them to spread machine noise evenly. It reports the
// throughput of both and their ratio; the target is a ratio above 0.9
// (token checks cost under 10%).
//
//	go test -run '^$' -bench KeystoneOverhead -benchtime 1x ./test/keystone
func BenchmarkKeystoneOverhead(b *testing.B) {
	needKeystone(b)
	const rounds, count, conc = 3, 1000, 16
	noauth := testserver.Start(b, unlimitedQuotas)
	keyst := startSpinel(b, 5*time.Minute, unlimitedQuotas)
	tok := token(b, ks.Admin)
	newClient(b, keyst, tok).do("GET", "/v2.0/networks", nil).expect(b, "warm the token cache", http.StatusOK)

	type total struct{ ops, secs float64 }
	sum := map[string]map[string]*total{"noauth": {}, "keystone": {}}
	run := func(mode, url, token string) {
		rep, err := bench.Run(context.Background(), bench.Options{URL: url, Token: token, Resources: []string{bench.ResourcePort}, Count: count, Concurrency: conc})
		if err != nil {
			b.Fatalf("%s: %v", mode, err)
		}
		for _, op := range rep.Ops {
			if op.Errors > 0 {
				b.Fatalf("%s: %s: %d errors: %v", mode, op.Name, op.Errors, rep.Errors)
			}
			t := sum[mode][op.Name]
			if t == nil {
				t = &total{}
				sum[mode][op.Name] = t
			}
			t.ops += float64(op.Count)
			t.secs += op.Seconds
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
		n, k := sum["noauth"][op], sum["keystone"][op]
		if n == nil || k == nil {
			b.Fatalf("no figures for %s", op)
		}
		nps, kps := n.ops/n.secs, k.ops/k.secs
		b.Logf("%-12s noauth %7.0f/s  keystone %7.0f/s  ratio %.3f", op, nps, kps, kps/nps)
		switch op {
		case "port create":
			b.ReportMetric(nps, "create-noauth/s")
			b.ReportMetric(kps, "create-keystone/s")
			b.ReportMetric(kps/nps, "create-ratio")
		case "port show":
			b.ReportMetric(nps, "show-noauth/s")
			b.ReportMetric(kps, "show-keystone/s")
			b.ReportMetric(kps/nps, "show-ratio")
		}
	}
}
