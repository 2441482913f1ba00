package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spinel-net/spinel/internal/cli"
	"github.com/spinel-net/spinel/internal/testserver"
)

// BenchmarkNetworkList measures `spinel network list` over 500 networks
// in each output format against its baseline, a bare GET /v2.0/networks
// of the same list by net/http in the same run: the ratio is the client's
// own cost (decoding, rendering) on top of the API's.
func BenchmarkNetworkList(b *testing.B) {
	for _, k := range clientEnv {
		b.Setenv(k, "")
	}
	srv := testserver.Start(b)
	const n = 500
	if out, _, err := run("quota", "set", "admin", "--networks", "-1", "--url", srv.URL); err != nil {
		b.Fatalf("quota: %v %s", err, out)
	}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"network": {"name": "bench-%d"}}`, i)
		resp, err := http.Post(srv.URL+"/v2.0/networks", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("creating network %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	b.Run("baseline-GET", func(b *testing.B) {
		for b.Loop() {
			resp, err := http.Get(srv.URL + "/v2.0/networks")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, f := range []string{"table", "json", "yaml", "value"} {
		b.Run("spinel-"+f, func(b *testing.B) {
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				if err := cli.ExecuteIO(context.Background(), []string{"network", "list", "--url", srv.URL, "-f", f}, &out, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			if f == "value" && strings.Count(out.String(), "\n") != n {
				b.Fatalf("listed %d networks, want %d", strings.Count(out.String(), "\n"), n)
			}
		})
	}
}
