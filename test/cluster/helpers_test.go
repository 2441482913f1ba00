// Package cluster runs spinel scaled out: several real `spinel server`
// processes on one etcd cluster (three members of Debian's etcd, or three
// members embedded in the servers themselves), all on loopback ports. It
// kills members and servers with SIGKILL under a stream of writes and
// checks that every acknowledged write survives and the rest keep serving.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/spinel-net/spinel/internal/server"
)

// spinelBin is the spinel binary built once by TestMain.
var spinelBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spinel-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	spinelBin = filepath.Join(dir, "spinel")
	build := exec.Command("go", "build", "-o", spinelBin, "github.com/spinel-net/spinel/cmd/spinel")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building spinel:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t testing.TB, name string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dump(t)
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// dump logs the last lines of the process's output.
func (p *proc) dump(t testing.TB) {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("--- last lines of %s (%s):\n%s", p.name, p.log, strings.Join(lines, "\n"))
}

// etcdMember is one member of a Debian etcd cluster.
type etcdMember struct {
	*proc
	client string // client URL
}

// startEtcdCluster starts n members of Debian's etcd on loopback ports and
// waits until the cluster answers.
func startEtcdCluster(t testing.TB, n int) []*etcdMember {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("Debian's etcd-server is needed (apt-get install etcd-server): %v", err)
	}
	ports := freePorts(t, 2*n)
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("e%d=http://127.0.0.1:%d", i, ports[2*i]))
	}
	var members []*etcdMember
	for i := range n {
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		p := start(t, fmt.Sprintf("etcd-e%d", i), bin,
			"--name", fmt.Sprintf("e%d", i), "--data-dir", t.TempDir(),
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "spinel-cluster-test", "--max-txn-ops", "4096")
		members = append(members, &etcdMember{proc: p, client: client})
	}
	cli := etcdClient(t, members)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Put(ctx, "/ready", "1")
		cancel()
		if err == nil {
			return members
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd cluster not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func etcdClient(t testing.TB, members []*etcdMember) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, m := range members {
		eps = append(eps, m.client)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// etcdLeader returns the index of the member that leads the raft group.
func etcdLeader(t testing.TB, members []*etcdMember) int {
	t.Helper()
	cli := etcdClient(t, members)
	defer cli.Close()
	for i, m := range members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, m.client)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no etcd member leads")
	return -1
}

// spinel is one `spinel server` process.
type spinel struct {
	*proc
	url string
}

// startSpinel starts a server with args (plus --listen) without waiting.
func startSpinel(t testing.TB, name string, args ...string) *spinel {
	t.Helper()
	port := freePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args = append([]string{"server", "--listen", addr, "--log-level", "debug",
		"--default-quota", "port=-1,network=-1,subnet=-1,router=-1"}, args...)
	return &spinel{proc: start(t, name, spinelBin, args...), url: "http://" + addr}
}

// waitReady waits until the server answers /readyz.
func (s *spinel) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if !s.alive() {
			t.Fatalf("%s exited before it was ready", s.name)
		}
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready in 45s", s.name)
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// call performs a request; err is set only when no HTTP answer came back.
func call(base, method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// must performs a request that must answer want and returns the object
// under key.
func must(t testing.TB, want int, base, method, path string, body any, key string) map[string]any {
	t.Helper()
	code, out, err := call(base, method, path, body)
	if err != nil || code != want {
		t.Fatalf("%s %s%s: %d %v %v, want %d", method, base, path, code, out, err, want)
	}
	m, _ := out[key].(map[string]any)
	return m
}

func status(t testing.TB, base string) server.Status {
	t.Helper()
	resp, err := httpClient.Get(base + server.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st server.Status
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&st) != nil {
		t.Fatalf("status from %s: HTTP %d", base, resp.StatusCode)
	}
	return st
}

// portIPs lists the ports of network through base: id -> first IP.
func portIPs(t testing.TB, base, network string) map[string]string {
	t.Helper()
	code, out, err := call(base, "GET", "/v2.0/ports?network_id="+network, nil)
	if err != nil || code != 200 {
		t.Fatalf("listing ports through %s: %d %v", base, code, err)
	}
	ips := map[string]string{}
	for _, p := range out["ports"].([]any) {
		pm := p.(map[string]any)
		ips[pm["id"].(string)] = pm["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	}
	return ips
}

// writes is the record of a stream of port creates.
type writes struct {
	mu      sync.Mutex
	acked   map[string]string // port id -> IP
	ackedAt map[string]time.Time
	codes   map[int]int // HTTP status of every answered create
	errs    int         // creates that got no HTTP answer
	lags    []time.Duration
}

func newWrites() *writes {
	return &writes{acked: map[string]string{}, ackedAt: map[string]time.Time{}, codes: map[int]int{}}
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// waitVisible polls base until the port is there and returns how long
// after since that was.
func waitVisible(base, id string, since time.Time, limit time.Duration) (time.Duration, bool) {
	for {
		code, _, err := call(base, "GET", "/v2.0/ports/"+id, nil)
		if err == nil && code == 200 {
			return time.Since(since), true
		}
		if time.Since(since) > limit {
			return 0, false
		}
		time.Sleep(200 * time.Microsecond)
	}
}
