// Package crash kills a real spinel server process with SIGKILL in the
// middle of a stream of writes and checks, after a restart on the same
// data directory, that every acknowledged write survived and that no
// allocation (claim) is orphaned or missing.
package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/store"
)

func buildBinary(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "spinel")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/spinel-net/spinel/cmd/spinel")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building spinel: %v", err)
	}
	return bin
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(t *testing.T, bin, dataDir, addr string) *exec.Cmd {
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--default-quota", "port=-1,network=-1,subnet=-1")
	logf, _ := os.Create(filepath.Join(t.TempDir(), "server.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("server did not become ready")
	return nil
}

func call(base, method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func TestSigkillDuringWrites(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freePort(t)
	base := "http://" + addr
	srv := startServer(t, bin, dataDir, addr)

	code, out, err := call(base, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "crash"}})
	if err != nil || code != 201 {
		t.Fatalf("network: %d %v %v", code, out, err)
	}
	netID := out["network"].(map[string]any)["id"].(string)
	code, out, err = call(base, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netID, "cidr": "10.7.0.0/22", "ip_version": 4}})
	if err != nil || code != 201 {
		t.Fatalf("subnet: %d %v %v", code, out, err)
	}

	// Eight writers create ports (and delete every third one they made)
	// until the server dies under them.
	var mu sync.Mutex
	acked := map[string]string{} // port id -> its IP, for acknowledged creates
	deleted := map[string]bool{} // acknowledged deletes
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				code, out, err := call(base, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "name": fmt.Sprintf("w%d-%d", w, i)}})
				if err != nil {
					return // the server is gone
				}
				if code != 201 {
					continue
				}
				p := out["port"].(map[string]any)
				id := p["id"].(string)
				ip := p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
				mu.Lock()
				acked[id] = ip
				mu.Unlock()
				if i%3 == 2 {
					code, _, err := call(base, "DELETE", "/v2.0/ports/"+id, nil)
					if err != nil {
						return
					}
					if code == 204 {
						mu.Lock()
						deleted[id] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
	wg.Wait()
	mu.Lock()
	t.Logf("acknowledged %d creates and %d deletes before SIGKILL", len(acked), len(deleted))
	if len(acked) < 20 {
		t.Fatalf("too few writes before the kill (%d) for the test to mean anything", len(acked))
	}

	// Restart on the same data directory: every acknowledged write is there.
	srv = startServer(t, bin, dataDir, addr)
	code, out, err = call(base, "GET", "/v2.0/ports?network_id="+netID, nil)
	if err != nil || code != 200 {
		t.Fatalf("list after restart: %d %v", code, err)
	}
	present := map[string]string{}
	for _, p := range out["ports"].([]any) {
		pm := p.(map[string]any)
		present[pm["id"].(string)] = pm["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	}
	for id, ip := range acked {
		if deleted[id] {
			if _, ok := present[id]; ok {
				t.Errorf("port %s deleted (acknowledged) but present after restart", id)
			}
			continue
		}
		if got, ok := present[id]; !ok {
			t.Errorf("port %s acknowledged but lost", id)
		} else if got != ip {
			t.Errorf("port %s has IP %s, acknowledged with %s", id, got, ip)
		}
	}
	mu.Unlock()
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()

	// Open the data directory directly: every claim belongs to an existing
	// resource and every port's IP and MAC are claimed by it.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dataDir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	resp, err := st.Client.Get(ctx, st.Prefix()+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]bool{}     // "kind/id"
	claims := map[string]string{} // claim key -> owner
	type portDoc struct {
		ID        string `json:"id"`
		NetworkID string `json:"network_id"`
		MAC       string `json:"mac_address"`
		FixedIPs  []struct {
			SubnetID  string `json:"subnet_id"`
			IPAddress string `json:"ip_address"`
		} `json:"fixed_ips"`
	}
	var ports []portDoc
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), st.Prefix()+"/")
		switch {
		case strings.HasPrefix(k, "r/"):
			docs[strings.TrimPrefix(k, "r/")] = true
			if strings.HasPrefix(k, "r/port/") {
				var p portDoc
				if err := json.Unmarshal(kv.Value, &p); err != nil {
					t.Fatal(err)
				}
				ports = append(ports, p)
			}
		case strings.HasPrefix(k, "c/"):
			claims[k] = string(kv.Value)
		}
	}
	for k, owner := range claims {
		if !docs[owner] {
			t.Errorf("orphaned claim %s owned by missing %s", k, owner)
		}
	}
	if len(ports) != len(present) {
		t.Errorf("%d port documents, %d listed", len(ports), len(present))
	}
	for _, p := range ports {
		for _, f := range p.FixedIPs {
			if owner := claims["c/ip/"+f.SubnetID+"/"+f.IPAddress]; owner != "port/"+p.ID {
				t.Errorf("IP %s of port %s is not claimed by it (owner %q)", f.IPAddress, p.ID, owner)
			}
		}
		if owner := claims["c/mac/"+p.NetworkID+"/"+p.MAC]; owner != "port/"+p.ID {
			t.Errorf("MAC %s of port %s is not claimed by it (owner %q)", p.MAC, p.ID, owner)
		}
	}
}
