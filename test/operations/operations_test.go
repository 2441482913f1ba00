// Package operations tests the server's operational features through the
// real spinel binary and the in-process test server: TLS, request ids and
// the access log, per-project rate limiting and --check-config.
package operations

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

var spinelBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spinel-operations-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	spinelBin = filepath.Join(dir, "spinel")
	if out, err := exec.Command("go", "build", "-o", spinelBin, "github.com/spinel-net/spinel/cmd/spinel").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building spinel: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spinel-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running spinel server process whose stderr is collected.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []string
	done chan struct{}
}

func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// startBinary runs `spinel server` with args on addr and waits for /healthz.
func startBinary(t *testing.T, addr string, client *http.Client, scheme string, args ...string) *proc {
	t.Helper()
	full := append([]string{"server", "--listen", addr, "--data-dir", t.TempDir(), "--etcd-unsafe-no-fsync"}, args...)
	cmd := exec.Command(spinelBin, full...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(scheme + "://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("spinel server exited:\n%s", strings.Join(p.lines(), "\n"))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("spinel server not ready in 60 s:\n%s", strings.Join(p.lines(), "\n"))
		}
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	addr := freePort(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	startBinary(t, addr, client, "https", "--tls-cert", certFile, "--tls-key", keyFile)

	resp, err := client.Post("https://"+addr+"/v2.0/networks", "application/json", strings.NewReader(`{"network":{"name":"over-tls"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.TLS == nil {
		t.Fatalf("POST over TLS: HTTP %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Versions document links carry the https scheme.
	resp, err = client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"https://`+addr+`/v2.0/"`) {
		t.Errorf("versions document over TLS: %s", body)
	}
	// Plain HTTP on the TLS port is refused.
	resp, err = http.Get("http://" + addr + "/v2.0/networks")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: HTTP %d, want 400", resp.StatusCode)
		}
	}
	// A client that does not trust the certificate fails the handshake.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + addr + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: %v, want a certificate error", err)
	}
	// The openstack CLI over TLS with the CA given.
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient; .ci/run does it)")
	}
	out, err := exec.Command("openstack", "--os-auth-type", "none", "--os-endpoint", "https://"+addr, "--os-cacert", certFile,
		"network", "list", "-f", "value", "-c", "Name").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "over-tls" {
		t.Errorf("openstack network list over TLS: %v\n%s", err, out)
	}
}

func TestRequestIDsAndAccessLog(t *testing.T) {
	addr := freePort(t)
	client := &http.Client{Timeout: 10 * time.Second}
	p := startBinary(t, addr, client, "http", "--access-log", "--log-format", "json")

	send := func(method, path, body string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Openstack-Request-Id")
	}
	reqs := map[string]accessWant{}
	code, id := send("POST", "/v2.0/networks", `{"network":{"name":"n"}}`, "X-Project-Id", "proj-1", "X-User-Id", "user-1")
	reqs[id] = accessWant{"POST", "/v2.0/networks", code, "proj-1"}
	code, id = send("GET", "/v2.0/networks/nonexistent", "")
	reqs[id] = accessWant{"GET", "/v2.0/networks/nonexistent", code, "admin"}
	code, id = send("POST", "/v2.0/networks", `{"network":`)
	reqs[id] = accessWant{"POST", "/v2.0/networks", code, "admin"}
	if len(reqs) != 3 {
		t.Fatalf("request ids not distinct: %v", reqs)
	}
	for id := range reqs {
		if !strings.HasPrefix(id, "req-") {
			t.Fatalf("request id %q", id)
		}
	}

	// Every request has one access line at info level naming its id.
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := map[string]map[string]any{}
		for _, l := range p.lines() {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) != nil || rec["msg"] != "request" {
				continue
			}
			if id, _ := rec["request_id"].(string); reqs[id].method != "" {
				if found[id] != nil {
					t.Fatalf("two access lines for %s", id)
				}
				found[id] = rec
			}
		}
		if len(found) == len(reqs) {
			for id, rec := range found {
				w := reqs[id]
				if rec["level"] != "INFO" || rec["method"] != w.method || rec["path"] != w.path || rec["status"] != float64(w.status) ||
					rec["project_id"] != w.project || rec["duration_ms"] == nil {
					t.Errorf("access line %v, want %+v", rec, w)
				}
			}
			if rec := found[firstKey(reqs, "proj-1")]; rec["user_id"] != "user-1" {
				t.Errorf("access line without the user: %v", rec)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access lines for %d of %d requests:\n%s", len(found), len(reqs), strings.Join(p.lines(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Unauthenticated endpoints stay out of the access log; API requests
	// each got a distinct id even when they failed.
	if code, id := send("GET", "/healthz", ""); code != http.StatusOK || id != "" {
		t.Errorf("healthz: %d %q", code, id)
	}
}

// accessWant is what an access log line must say about a request.
type accessWant struct {
	method, path string
	status       int
	project      string
}

func firstKey(m map[string]accessWant, project string) string {
	for k, v := range m {
		if v.project == project {
			return k
		}
	}
	return ""
}

func TestRateLimit(t *testing.T) {
	srv := testserver.Start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 2, 4 })
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, project, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if project != "" {
			req.Header.Set("X-Project-Id", project)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// A burst of 4, then 429.
	for i := range 4 {
		if r := do("GET", "/v2.0/networks", "p1", ""); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d of the burst: HTTP %d", i, r.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v2.0/networks", strings.NewReader(`{"network":{"name":"limited"}}`))
	req.Header.Set("X-Project-Id", "p1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fault struct {
		NeutronError struct{ Type, Message string } `json:"NeutronError"`
	}
	json.Unmarshal(body, &fault)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || fault.NeutronError.Type != "HTTPTooManyRequests" {
		t.Fatalf("over the limit: HTTP %d, Retry-After %q, body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Other projects have their own buckets.
	if r := do("GET", "/v2.0/networks", "p2", ""); r.StatusCode != http.StatusOK {
		t.Errorf("other project: HTTP %d", r.StatusCode)
	}
	// Nothing was written by the refused request; after Retry-After the
	// project may go on.
	time.Sleep(time.Second)
	r := do("GET", "/v2.0/networks?name=limited", "p1", "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("after Retry-After: HTTP %d", r.StatusCode)
	}
	resp, err = client.Get(srv.URL + "/v2.0/networks?name=limited") // admin
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`"networks":[]`)) {
		t.Errorf("a rate-limited create wrote: %s", body)
	}
	// 10 requests in a row with a burst of 4 at 2/s: 6 refused, less one
	// per half second they took.
	refused, start := 0, time.Now()
	for range 10 {
		if do("GET", "/v2.0/networks", "p3", "").StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refill := int(time.Since(start).Seconds() * 2); refused > 6 || refused < 6-refill {
		t.Errorf("10 requests in %v with a burst of 4 at 2/s: %d refused, want %d to 6", time.Since(start), refused, 6-refill)
	}

	// Admin exemption, when configured.
	ex := testserver.Start(t, func(c *server.Config) { c.RateLimit, c.RateBurst, c.RateLimitExemptAdmin = 1, 1, true })
	for i := range 5 {
		resp, err := client.Get(ex.URL + "/v2.0/networks")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("exempt admin, request %d: HTTP %d", i, resp.StatusCode)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	dir := t.TempDir()
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.CommandContext(context.Background(), spinelBin, append([]string{"server", "--check-config"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	dataDir := filepath.Join(dir, "data")
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(fmt.Sprintf(`listen: 127.0.0.1:9696
data-dir: %s
auth: keystone
keystone-url: http://keystone.example:5000/v3
keystone-username: spinel
tls-cert: %s
tls-key: %s
rate-limit: 10
rate-burst: 20
access-log: true
`, dataDir, certFile, keyFile)), 0o600)
	// The password from the environment, as the docs recommend.
	if code, out := run([]string{"SPINEL_KEYSTONE_PASSWORD=s3cret"}, "--config", good); code != 0 || strings.TrimSpace(out) != "configuration OK" {
		t.Errorf("good configuration: exit %d: %s", code, out)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("--check-config touched the data directory: %v", err)
	}
	for name, c := range map[string]struct {
		env  []string
		args []string
		want []string
	}{
		"keystone without password": {nil, []string{"--config", good}, []string{"--keystone-password"}},
		"unreadable key": {[]string{"SPINEL_KEYSTONE_PASSWORD=x"}, []string{"--config", good, "--tls-key", filepath.Join(dir, "missing.pem")},
			[]string{"--tls-cert/--tls-key", "missing.pem"}},
		"cert without key":        {nil, []string{"--tls-cert", certFile}, []string{"give both or neither"}},
		"key that does not match": {nil, []string{"--tls-cert", certFile, "--tls-key", certFile}, []string{"--tls-cert/--tls-key"}},
		"several errors": {nil, []string{"--auth", "keystone", "--rate-limit", "-1", "--listen", "nowhere"},
			[]string{"--keystone-url", "--keystone-username", "--rate-limit", "--listen"}},
		"unknown auth":        {nil, []string{"--auth", "ldap"}, []string{`--auth "ldap"`}},
		"unknown file key":    {nil, []string{"--config", writeFile(t, dir, "bad.yaml", "auht: keystone\n")}, []string{`unknown setting "auht"`}},
		"bad etcd CA":         {nil, []string{"--etcd-ca", certFile + ".nope"}, []string{"--etcd-ca"}},
		"missing policy file": {nil, []string{"--policy-file", filepath.Join(dir, "nope.yaml")}, []string{"--policy-file", "nope.yaml"}},
		"bad policy file":     {nil, []string{"--policy-file", writeFile(t, dir, "policy.yaml", "create_network: [\n")}, []string{"--policy-file"}},
	} {
		code, out := run(c.env, c.args...)
		if code == 0 || strings.Contains(out, "configuration OK") {
			t.Errorf("%s: exit %d: %s", name, code, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output does not name %q:\n%s", name, w, out)
			}
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
