package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/store"
)

type thing struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

func (t *thing) GetID() string        { return t.ID }
func (t *thing) GetProjectID() string { return "" }

var thingKind = &Kind{Name: "thing", New: func() model.Object { return &thing{} }}

func testLog() *slog.Logger {
	if os.Getenv("SPINEL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proxy forwards TCP connections to target until cut, which drops every
// connection and refuses new ones until resume.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	paused bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.paused {
				p.mu.Unlock()
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close(); c.Close() }()
			go func() { io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

// recorder counts the events a cache publishes per id.
type recorder struct {
	mu      sync.Mutex
	creates map[string]int
	deletes map[string]int
}

func newRecorder(c *Cache) *recorder {
	r := &recorder{creates: map[string]int{}, deletes: map[string]int{}}
	c.Subscribe(func(ev Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case ev.Old == nil:
			r.creates[ev.New.GetID()]++
		case ev.New == nil:
			r.deletes[ev.Old.GetID()]++
		}
	})
	return r
}

// env is one embedded etcd member and a cache watching it through a proxy.
type env struct {
	st    *store.Store
	proxy *proxy
	cli   *clientv3.Client
	cache *Cache
	stop  func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	addr := freeAddr(t)
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir(), UnsafeNoFsync: true, ListenClient: "http://" + addr}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := startProxy(t, addr)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + p.ln.Addr().String()}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	e := &env{st: st, proxy: p, cli: cli, cache: New(cli, st.Prefix(), []*Kind{thingKind}, testLog())}
	return e
}

func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.cache.Run(ctx) }()
	e.stop = func() { cancel(); <-done }
	t.Cleanup(e.stop)
	select {
	case <-e.cache.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("cache not ready")
	}
}

func (e *env) put(t *testing.T, id string, n int) int64 {
	t.Helper()
	b, _ := json.Marshal(thing{ID: id, N: n})
	resp, err := e.st.Client.Put(context.Background(), e.st.ResourceKey("thing", id), string(b))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func (e *env) del(t *testing.T, id string) int64 {
	t.Helper()
	resp, err := e.st.Client.Delete(context.Background(), e.st.ResourceKey("thing", id))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// same waits for the cache to reach rev and checks it holds exactly what
// etcd holds.
func (e *env) same(t *testing.T, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.cache.WaitFor(ctx, rev); err != nil {
		t.Fatal(err)
	}
	resp, err := e.st.Client.Get(ctx, e.st.ResourceKey("thing", ""), clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, kv := range resp.Kvs {
		want[strings.TrimPrefix(string(kv.Key), e.st.ResourceKey("thing", ""))] = string(kv.Value)
	}
	got := map[string]string{}
	e.cache.List("thing", func(en *Entry) bool { got[en.Obj.GetID()] = string(en.Raw); return true })
	if len(got) != len(want) {
		t.Errorf("cache holds %d things, etcd %d", len(got), len(want))
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("thing %s: cache %q, etcd %q", id, got[id], v)
		}
	}
}

// TestWatchResumesWithoutLoss cuts the cache's connection to etcd several
// times during a stream of creates, updates and deletes: the cache ends up
// identical to etcd, saw every create once, and never reloaded.
func TestWatchResumesWithoutLoss(t *testing.T) {
	e := newEnv(t)
	e.put(t, "seed", 0)
	e.run(t)
	rec := newRecorder(e.cache)
	var last int64
	for i := range 300 {
		id := fmt.Sprintf("t%03d", i)
		last = e.put(t, id, i)
		if i%3 == 0 {
			last = e.put(t, id, i+1000)
		}
		if i%5 == 0 {
			last = e.del(t, id)
		}
		if i%60 == 30 {
			e.proxy.cut()
			time.Sleep(50 * time.Millisecond)
			e.proxy.resume()
		}
	}
	e.same(t, last)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := range 300 {
		id := fmt.Sprintf("t%03d", i)
		wantDel := 0
		if i%5 == 0 {
			wantDel = 1
		}
		if rec.creates[id] != 1 || rec.deletes[id] != wantDel {
			t.Errorf("%s: %d creates, %d deletes seen; want 1, %d", id, rec.creates[id], rec.deletes[id], wantDel)
		}
	}
	if rec.creates["seed"] != 0 {
		t.Errorf("the cache reloaded: seed reported again %d times", rec.creates["seed"])
	}
}

// TestCatchUpNeverRunsAhead lets the cache fall more than etcd's watch
// batch (1000 revisions) behind: while it catches up, the revision it
// reports must never run ahead of the events it has applied, or a writer
// waiting for its revision would not read its own write.
func TestCatchUpNeverRunsAhead(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	e.proxy.cut()
	keyAt := map[int64]string{}
	var last int64
	for i := range 2500 {
		id := fmt.Sprintf("c%04d", i)
		last = e.put(t, id, i)
		keyAt[last] = id
	}
	e.proxy.resume()
	deadline := time.Now().Add(20 * time.Second)
	checks := 0
	for {
		rev := e.cache.Rev()
		if id, ok := keyAt[rev]; ok {
			checks++
			if _, ok := e.cache.Get("thing", id); !ok {
				t.Fatalf("cache at revision %d lacks %s, written at that revision", rev, id)
			}
		}
		if rev >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache stuck at %d, want %d", rev, last)
		}
		time.Sleep(100 * time.Microsecond)
	}
	e.same(t, last)
	t.Logf("%d checks during catch-up", checks)
}

// TestCompactedWatchReloads compacts etcd past the cache's revision while
// it is disconnected: it reloads, reporting what was deleted meanwhile.
func TestCompactedWatchReloads(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.put(t, fmt.Sprintf("k%d", i), i)
	}
	e.run(t)
	rec := newRecorder(e.cache)
	e.proxy.cut()
	e.del(t, "k1")
	e.del(t, "k2")
	e.put(t, "k3", 33)
	last := e.put(t, "new", 1)
	if _, err := e.st.Client.Compact(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	e.proxy.resume()
	e.same(t, last)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.deletes["k1"] != 1 || rec.deletes["k2"] != 1 || rec.deletes["k3"] != 0 {
		t.Errorf("deletions reported after the reload: %v", rec.deletes)
	}
	if rec.creates["new"] != 1 || rec.creates["k3"] != 1 {
		t.Errorf("creations reported after the reload: %v", rec.creates)
	}
	if n := e.cache.Count("thing", nil); n != 9 {
		t.Errorf("%d things after reload, want 9", n)
	}
}

// TestWatchSurvivesQuorumLoss stops two of three etcd members under the
// cache: its member loses its leader and cancels the watch; once a member
// is back the cache resumes from its revision instead of reloading, and
// ends up identical to etcd having seen every change once.
func TestWatchSurvivesQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	var addrs []string
	for range 6 {
		addrs = append(addrs, freeAddr(t))
	}
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i, addrs[2*i]))
	}
	cfgs := make([]store.Config, 3)
	stores := make([]*store.Store, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		cfgs[i] = store.Config{DataDir: t.TempDir(), UnsafeNoFsync: true, Name: fmt.Sprintf("m%d", i),
			InitialCluster: strings.Join(initial, ","), ListenClientURLs: []string{"http://" + addrs[2*i+1]}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if stores[i], err = store.Open(context.Background(), cfgs[i], testLog()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range stores {
			if s != nil {
				s.Close()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addrs[1]}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	e := &env{st: stores[0], cli: cli, cache: New(cli, stores[0].Prefix(), []*Kind{thingKind}, testLog())}
	e.put(t, "seed", 0)
	e.run(t)
	rec := newRecorder(e.cache)
	for i := range 20 {
		e.put(t, fmt.Sprintf("a%d", i), i)
	}
	stores[1].Close()
	stores[2].Close()
	stores[1], stores[2] = nil, nil
	time.Sleep(3 * time.Second) // m0 notices it has no leader and cancels the watch
	stores[1], err = store.Open(context.Background(), cfgs[1], testLog())
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 20 {
		last = e.put(t, fmt.Sprintf("b%d", i), i)
	}
	e.same(t, last)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range []string{"a", "b"} {
		for i := range 20 {
			if id := fmt.Sprintf("%s%d", p, i); rec.creates[id] != 1 {
				t.Errorf("%s reported created %d times", id, rec.creates[id])
			}
		}
	}
	if rec.creates["seed"] != 0 {
		t.Errorf("the cache reloaded instead of resuming")
	}
}
