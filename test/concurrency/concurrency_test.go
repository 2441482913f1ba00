// Package concurrency checks that racing requests never allocate anything
// twice: a real server with embedded etcd, hundreds of parallel clients.
package concurrency

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/service"
	"github.com/spinel-net/spinel/internal/testserver"
)

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c *client) do(method, path string, body any) (int, map[string]any) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func unlimited(c *server.Config) {
	c.Service = service.DefaultConfig()
	for k := range c.Service.DefaultQuotas {
		c.Service.DefaultQuotas[k] = -1
	}
}

func setup(t *testing.T) (*client, string, string) {
	srv := testserver.Start(t, unlimited)
	c := &client{t: t, base: srv.URL, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 400, MaxConnsPerHost: 400}}}
	code, net := c.do("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "race"}})
	if code != 201 {
		t.Fatalf("network create: %d %v", code, net)
	}
	netID := net["network"].(map[string]any)["id"].(string)
	code, sn := c.do("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netID, "cidr": "10.9.0.0/24", "ip_version": 4}})
	if code != 201 {
		t.Fatalf("subnet create: %d %v", code, sn)
	}
	return c, netID, sn["subnet"].(map[string]any)["id"].(string)
}

// checkUnique lists the network's ports and asserts distinct IPs and MACs.
func checkUnique(t *testing.T, c *client, netID string, want int) {
	t.Helper()
	code, out := c.do("GET", "/v2.0/ports?network_id="+netID, nil)
	if code != 200 {
		t.Fatalf("list: %d", code)
	}
	ports := out["ports"].([]any)
	if len(ports) != want {
		t.Errorf("ports listed = %d, want %d", len(ports), want)
	}
	ips, macs := map[string]bool{}, map[string]bool{}
	for _, p := range ports {
		pm := p.(map[string]any)
		mac := pm["mac_address"].(string)
		if macs[mac] {
			t.Errorf("duplicate MAC %s", mac)
		}
		macs[mac] = true
		for _, f := range pm["fixed_ips"].([]any) {
			ip := f.(map[string]any)["ip_address"].(string)
			if ips[ip] {
				t.Errorf("duplicate IP %s", ip)
			}
			ips[ip] = true
		}
	}
}

// TestParallelPortCreates: 300 parallel creates on a /24 (253 usable
// addresses) give exactly 253 ports with distinct IPs and MACs and 47
// clean 409 IpAddressGenerationFailure answers.
func TestParallelPortCreates(t *testing.T) {
	c, netID, _ := setup(t)
	var wg sync.WaitGroup
	codes := make(chan int, 300)
	types := make(chan string, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := c.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "name": fmt.Sprint("p", i)}})
			codes <- code
			if code != 201 {
				if e, ok := out["NeutronError"].(map[string]any); ok {
					types <- e["type"].(string)
				} else {
					types <- fmt.Sprint(out)
				}
			}
		}()
	}
	wg.Wait()
	close(codes)
	close(types)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 253 || count[409] != 47 || len(count) != 2 {
		t.Errorf("status counts = %v, want 253 x 201 and 47 x 409", count)
	}
	for ty := range types {
		if ty != "IpAddressGenerationFailure" {
			t.Errorf("refusal type %q, want IpAddressGenerationFailure", ty)
		}
	}
	checkUnique(t, c, netID, 253)
}

// TestDeletesRacingCreates: while 100 ports are deleted, 200 creates race
// for the 253 addresses (153 free plus those freed): nothing is ever
// allocated twice, and every refusal is a clean 409.
func TestDeletesRacingCreates(t *testing.T) {
	c, netID, _ := setup(t)
	var ids []string
	for i := range 200 {
		code, out := c.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "name": fmt.Sprint("seed", i)}})
		if code != 201 {
			t.Fatalf("seed create %d: %d %v", i, code, out)
		}
		ids = append(ids, out["port"].(map[string]any)["id"].(string))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused, deleted := 0, 0, 0
	for _, id := range ids[:100] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := c.do("DELETE", "/v2.0/ports/"+id, nil)
			mu.Lock()
			defer mu.Unlock()
			if code == 204 {
				deleted++
			} else {
				t.Errorf("delete: %d", code)
			}
		}()
	}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := c.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "name": fmt.Sprint("race", i)}})
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case 201:
				created++
			case 409:
				refused++
			default:
				t.Errorf("create: %d %v", code, out)
			}
		}()
	}
	wg.Wait()
	if deleted != 100 || created+refused != 200 {
		t.Fatalf("deleted %d, created %d, refused %d", deleted, created, refused)
	}
	// 53 addresses were free from the start, so at least 53 creates win.
	if created < 53 || created > 153 {
		t.Errorf("created %d, want between 53 and 153", created)
	}
	checkUnique(t, c, netID, 100+created)
}

// TestParallelExplicitIP: 50 requests for the same address: exactly one wins,
// the others get IpAddressAlreadyAllocated.
func TestParallelExplicitIP(t *testing.T) {
	c, netID, subnetID := setup(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[string]int{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := c.do("POST", "/v2.0/ports", map[string]any{"port": map[string]any{
				"network_id": netID, "fixed_ips": []any{map[string]any{"subnet_id": subnetID, "ip_address": "10.9.0.77"}}}})
			key := fmt.Sprint(code)
			if e, ok := out["NeutronError"].(map[string]any); ok {
				key += " " + e["type"].(string)
			}
			mu.Lock()
			count[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if count["201"] != 1 || count["409 IpAddressAlreadyAllocated"] != 49 {
		t.Errorf("outcomes = %v", count)
	}
}
