package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

func TestStatusShowsAgentsAndSessions(t *testing.T) {
	srv := testserver.Start(t, func(c *server.Config) { c.AgentSecret = "s" })
	rep := agentapi.Report{Host: "hv7", Configurations: map[string]any{"ports": 3, "advertised_prefixes": 4,
		"bgp_peers": []map[string]any{{"interface": "up1", "peer": "10.255.1.0", "state": "established", "prefixes_sent": 4, "prefixes_received": 1}}}}
	b, _ := json.Marshal(rep)
	req, _ := http.NewRequest("POST", srv.URL+"/agent/v1/report", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+auth.AgentTokens{Secret: []byte("s")}.Issue("hv7"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("report: %v %v", resp, err)
	}
	var out bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		root := newRootCmd()
		root.SetOut(&out)
		root.SetArgs([]string{"status", "--url", srv.URL})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The L3 reconciler's election takes a moment after start.
		if strings.Contains(out.String(), "l3-reconciler") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"hv7", "true", "up1(10.255.1.0) established sent=4 recv=1",
		"(answering)", "l3-reconciler", "spinel", "healthy", "leader",
		"agent                1", "port                 0", "(etcd revision)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

func TestStatusReportsHTTPErrors(t *testing.T) {
	srv := testserver.Start(t)
	root := newRootCmd()
	root.SetOut(io.Discard)
	root.SetArgs([]string{"status", "--url", srv.URL + "/nonexistent"})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("status against a wrong URL: %v", err)
	}
}
