// Package agentapi tests the server side of the agent API: per-host
// authentication, host state, reports, /v2.0/agents and routed binding.
package agentapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

const secret = "agent-secret"

func withAgents(c *server.Config) {
	c.AgentSecret = secret
	c.Service.AgentDownTime = 2 * time.Second
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, token string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c client) obj(want int, method, path string, body any, key string) map[string]any {
	c.t.Helper()
	code, b := c.do(method, path, "", body)
	if code != want {
		c.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if key == "" {
		return m
	}
	return m[key].(map[string]any)
}

func TestAgentAPI(t *testing.T) {
	srv := testserver.Start(t, withAgents)
	c := client{t, srv.URL}
	tokens := auth.AgentTokens{Secret: []byte(secret)}
	hv1, hv2 := tokens.Issue("hv1"), tokens.Issue("hv2")

	// No or a forged token: 401.
	if code, _ := c.do("GET", "/agent/v1/state", "", nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := c.do("GET", "/agent/v1/state", "hv1.forged", nil); code != 401 {
		t.Errorf("forged token: %d", code)
	}

	net := c.obj(201, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}, "network")
	c.obj(201, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.8.0.0/24", "ip_version": 4}}, "subnet")

	// Before any agent reports, binding to hv1 fails.
	p0 := c.obj(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1"}}, "port")
	if p0["binding:vif_type"] != "binding_failed" {
		t.Errorf("binding without agent: %v", p0["binding:vif_type"])
	}

	// hv1's agent reports: it is listed alive and ports bind to it as taps.
	if code, b := c.do("POST", "/agent/v1/report", hv1, agentapi.Report{Host: "hv1", Configurations: map[string]any{"bgp": "none"}}); code != 204 {
		t.Fatalf("report: %d %s", code, b)
	}
	agents := c.obj(200, "GET", "/v2.0/agents", nil, "")["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["host"] != "hv1" || agents[0].(map[string]any)["alive"] != true ||
		agents[0].(map[string]any)["agent_type"] != "Spinel agent" {
		t.Fatalf("agents: %v", agents)
	}
	p1 := c.obj(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1", "name": "vm1"}}, "port")
	if p1["binding:vif_type"] != "tap" || p1["binding:vif_details"].(map[string]any)["port_filter"] != true || p1["status"] != "DOWN" {
		t.Errorf("routed binding: %v %v %v", p1["binding:vif_type"], p1["binding:vif_details"], p1["status"])
	}
	pid := p1["id"].(string)

	// hv1 sees its port (and only its own); hv2 sees nothing.
	code, b := c.do("GET", "/agent/v1/state", hv1, nil)
	var st agentapi.State
	json.Unmarshal(b, &st)
	if code != 200 || st.Host != "hv1" || len(st.Ports) != 1 || st.Ports[0].ID != pid || st.Ports[0].Tap != agentapi.TapName(pid) ||
		len(st.Ports[0].Subnets) != 1 || len(st.SecurityGroups) != 1 || len(st.SecurityGroups[0].Members) != 2 {
		t.Fatalf("hv1 state: %d %s", code, b)
	}
	_, b = c.do("GET", "/agent/v1/state", hv2, nil)
	json.Unmarshal(b, &st)
	if len(st.Ports) != 0 {
		t.Errorf("hv2 sees hv1's ports: %s", b)
	}

	// The agent reports its port ACTIVE; hv2 may not report for it.
	if code, b := c.do("POST", "/agent/v1/report", hv2, agentapi.Report{Ports: []agentapi.PortStatus{{ID: pid, Status: "ACTIVE"}}}); code != 403 {
		t.Errorf("hv2 reporting hv1's port: %d %s", code, b)
	}
	if code, _ := c.do("POST", "/agent/v1/report", hv1, agentapi.Report{Ports: []agentapi.PortStatus{{ID: pid, Status: "ACTIVE"}}}); code != 204 {
		t.Errorf("report port status: %d", code)
	}
	if s := c.obj(200, "GET", "/v2.0/ports/"+pid, nil, "port")["status"]; s != "ACTIVE" {
		t.Errorf("port status after report: %v", s)
	}

	// The stream sends the state at once and again when it changes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/agent/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+hv1)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() agentapi.State {
		for lines.Scan() {
			if len(bytes.TrimSpace(lines.Bytes())) == 0 {
				continue
			}
			var s agentapi.State
			if err := json.Unmarshal(lines.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return agentapi.State{}
	}
	if s := next(); len(s.Ports) != 1 {
		t.Fatalf("first streamed state: %+v", s)
	}
	start := time.Now()
	c.obj(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1", "name": "vm2"}}, "port")
	if s := next(); len(s.Ports) != 2 {
		t.Fatalf("streamed state after a new port: %+v", s)
	}
	t.Logf("state change reached the agent stream in %v", time.Since(start))

	// An agent disabled by the admin gets no new bindings.
	agentID := agents[0].(map[string]any)["id"].(string)
	c.obj(200, "PUT", "/v2.0/agents/"+agentID, map[string]any{"agent": map[string]any{"admin_state_up": false}}, "agent")
	p3 := c.obj(201, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net["id"], "binding:host_id": "hv1"}}, "port")
	if p3["binding:vif_type"] != "binding_failed" {
		t.Errorf("binding to a disabled agent: %v", p3["binding:vif_type"])
	}
	// Alive agents cannot be deleted; dead ones can.
	if code, _ := c.do("DELETE", "/v2.0/agents/"+agentID, "", nil); code != 409 {
		t.Errorf("deleting an alive agent: %d", code)
	}
	time.Sleep(2500 * time.Millisecond)
	if a := c.obj(200, "GET", "/v2.0/agents/"+agentID, nil, "agent"); a["alive"] != false {
		t.Errorf("silent agent still alive: %v", a)
	}
	if code, b := c.do("DELETE", "/v2.0/agents/"+agentID, "", nil); code != 204 {
		t.Errorf("deleting a dead agent: %d %s", code, b)
	}
	// Tenants do not see agents.
	req2, _ := http.NewRequest("GET", srv.URL+"/v2.0/agents", nil)
	req2.Header.Set("X-Project-Id", "p1")
	r2, _ := http.DefaultClient.Do(req2)
	var out map[string][]any
	json.NewDecoder(r2.Body).Decode(&out)
	r2.Body.Close()
	if len(out["agents"]) != 0 {
		t.Errorf("tenant sees agents: %v", out)
	}
}
