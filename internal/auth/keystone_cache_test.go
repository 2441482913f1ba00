package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func key(s string) tokenKey { return sha256.Sum256([]byte(s)) }

func TestTokenCacheBoundedFIFO(t *testing.T) {
	now := time.Now()
	c := newTokenCache(3)
	for i := range 5 {
		c.put(key(fmt.Sprint(i)), cacheEntry{id: &Identity{UserID: fmt.Sprint(i)}, until: now.Add(time.Hour)})
	}
	if n := c.len(); n != 3 {
		t.Fatalf("len = %d, want 3", n)
	}
	for i := range 5 {
		e, ok := c.get(key(fmt.Sprint(i)), now)
		if want := i >= 2; ok != want {
			t.Errorf("entry %d present = %v, want %v", i, ok, want)
		}
		if ok && e.id.UserID != fmt.Sprint(i) {
			t.Errorf("entry %d = %v", i, e.id)
		}
	}
	// Re-putting a key keeps its slot: it does not evict another entry.
	c.put(key("3"), cacheEntry{id: &Identity{UserID: "3b"}, until: now.Add(time.Hour)})
	if n := c.len(); n != 3 {
		t.Fatalf("len after re-put = %d, want 3", n)
	}
	if e, _ := c.get(key("3"), now); e.id.UserID != "3b" {
		t.Errorf("re-put entry = %v", e.id)
	}
	// The oldest (2) goes next, then 3 (re-put entries keep their age).
	c.put(key("5"), cacheEntry{until: now.Add(time.Hour)})
	if _, ok := c.get(key("2"), now); ok {
		t.Error("oldest entry not evicted")
	}
	c.put(key("6"), cacheEntry{until: now.Add(time.Hour)})
	for _, k := range []string{"4", "5", "6"} {
		if _, ok := c.get(key(k), now); !ok {
			t.Errorf("entry %s evicted", k)
		}
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	now := time.Now()
	c := newTokenCache(10)
	c.put(key("a"), cacheEntry{id: &Identity{}, until: now.Add(time.Second)})
	if _, ok := c.get(key("a"), now); !ok {
		t.Fatal("live entry missed")
	}
	if _, ok := c.get(key("a"), now.Add(time.Second)); ok {
		t.Fatal("entry served at its expiry")
	}
}

func TestFlightGroupOneCallPerKey(t *testing.T) {
	var g flightGroup
	var calls atomic.Int32
	release := make(chan struct{})
	fn := func() (*Identity, error) {
		calls.Add(1)
		<-release
		return &Identity{UserID: "u"}, nil
	}
	var wg sync.WaitGroup
	results := make(chan *Identity, 20)
	for range 20 {
		wg.Go(func() {
			id, err := g.do(context.Background(), key("t"), fn)
			if err != nil {
				t.Error(err)
			}
			results <- id
		})
	}
	// Let every caller reach do before the call returns.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	if n := calls.Load(); n != 1 {
		t.Errorf("fn called %d times, want 1", n)
	}
	for id := range results {
		if id == nil || id.UserID != "u" {
			t.Errorf("result %v", id)
		}
	}
	// After the call the key is free again.
	g.do(context.Background(), key("t"), func() (*Identity, error) { calls.Add(1); return &Identity{}, nil })
	if n := calls.Load(); n != 2 {
		t.Errorf("fn called %d times after the first call ended, want 2", n)
	}
}

func TestFlightGroupWaiterContext(t *testing.T) {
	var g flightGroup
	release := make(chan struct{})
	started := make(chan struct{})
	go g.do(context.Background(), key("t"), func() (*Identity, error) { close(started); <-release; return &Identity{}, nil })
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.do(ctx, key("t"), func() (*Identity, error) { t.Error("second call ran"); return nil, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter err = %v, want deadline exceeded", err)
	}
	close(release)
}

func TestFlightGroupPanicGivesRefusal(t *testing.T) {
	var g flightGroup
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer func() { recover() }()
		g.do(context.Background(), key("t"), func() (*Identity, error) { close(started); <-release; panic("boom") })
	}()
	<-started
	done := make(chan error)
	go func() {
		id, err := g.do(context.Background(), key("t"), nil)
		if id != nil {
			t.Error("identity from a panicked call")
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-done; err == nil {
		t.Error("waiter of a panicked call got no error")
	}
}

func TestKeystoneTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		`"2026-11-22T06:57:38.000000Z"`:      time.Date(2026, 11, 22, 6, 57, 38, 0, time.UTC),
		`"2026-11-22T06:57:38Z"`:             time.Date(2026, 11, 22, 6, 57, 38, 0, time.UTC),
		`"2026-11-22T06:57:38"`:              time.Date(2026, 11, 22, 6, 57, 38, 0, time.UTC),
		`"2026-11-22T06:57:38.5"`:            time.Date(2026, 11, 22, 6, 57, 38, 5e8, time.UTC),
		`"2026-11-22T07:57:38.000000+01:00"`: time.Date(2026, 11, 22, 6, 57, 38, 0, time.UTC),
	} {
		var kt keystoneTime
		if err := kt.UnmarshalJSON([]byte(in)); err != nil || !kt.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", in, kt.Time, err, want)
		}
	}
	var kt keystoneTime
	if err := kt.UnmarshalJSON([]byte(`"yesterday"`)); err == nil {
		t.Error("bad time accepted")
	}
}

func TestKeystoneConfigValidate(t *testing.T) {
	good := KeystoneConfig{URL: "http://k:5000/v3", Username: "spinel", Password: "p", ProjectName: "service"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*KeystoneConfig){
		"no url":      func(c *KeystoneConfig) { c.URL = "" },
		"bad url":     func(c *KeystoneConfig) { c.URL = "keystone:5000" },
		"no user":     func(c *KeystoneConfig) { c.Username = "" },
		"no password": func(c *KeystoneConfig) { c.Password = "" },
		"no project":  func(c *KeystoneConfig) { c.ProjectName = "" },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for in, want := range map[string]string{
		"http://k:5000":         "http://k:5000",
		"http://k:5000/":        "http://k:5000",
		"http://k:5000/v3":      "http://k:5000",
		"http://k/identity/v3/": "http://k/identity",
	} {
		if got := keystoneBase(in); got != want {
			t.Errorf("keystoneBase(%q) = %q, want %q", in, got, want)
		}
	}
}
