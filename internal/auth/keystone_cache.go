package auth

import (
	"context"
	"sync"
	"time"
)

// tokenKey is the SHA-256 of a token: the cache never holds tokens.
type tokenKey = [32]byte

// cacheEntry is Keystone's verdict on a token: an identity or a refusal,
// trusted until until.
type cacheEntry struct {
	id    *Identity
	err   error
	until time.Time
	slot  int // index in tokenCache.ring
}

// tokenCache is a bounded map of verdicts. Eviction is first-in first-out
// through a ring of keys, so a hit only takes the read lock. Expired entries
// are misses and are overwritten in time.
type tokenCache struct {
	mu   sync.RWMutex
	m    map[tokenKey]cacheEntry
	ring []tokenKey
	used []bool
	next int
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{m: make(map[tokenKey]cacheEntry, min(size, 1024)), ring: make([]tokenKey, size), used: make([]bool, size)}
}

// get returns the live entry of key.
func (c *tokenCache) get(key tokenKey, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return cacheEntry{}, false
	}
	return e, true
}

// put stores e under key, evicting the oldest entry when full.
func (c *tokenCache) put(key tokenKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		e.slot = old.slot // keep its place in the ring
		c.m[key] = e
		return
	}
	slot := c.next
	c.next = (c.next + 1) % len(c.ring)
	if c.used[slot] {
		if old, ok := c.m[c.ring[slot]]; ok && old.slot == slot {
			delete(c.m, c.ring[slot])
		}
	}
	c.ring[slot], c.used[slot] = key, true
	e.slot = slot
	c.m[key] = e
}

// len returns the number of entries, live or expired.
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// flightGroup runs one call per key at a time: concurrent callers with the
// same key wait for the running call and share its result.
type flightGroup struct {
	mu    sync.Mutex
	calls map[tokenKey]*flight
}

type flight struct {
	done chan struct{}
	id   *Identity
	err  error
}

// do runs fn for key unless a call for key is running, in which case it
// waits for that call's result (or for ctx to end).
func (g *flightGroup) do(ctx context.Context, key tokenKey, fn func() (*Identity, error)) (*Identity, error) {
	g.mu.Lock()
	if f, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-f.done:
			return f.id, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if g.calls == nil {
		g.calls = map[tokenKey]*flight{}
	}
	// Should fn panic, the waiters get a refusal, never a nil identity.
	f := &flight{done: make(chan struct{}), err: unavailable()}
	g.calls[key] = f
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(f.done)
	}()
	f.id, f.err = fn()
	return f.id, f.err
}
