// Package ratelimit limits request rates per key (spinel: per project) with
// token buckets: a key may make Burst requests at once and Rate requests
// per second sustained. Memory is bounded by the keys active recently: a
// bucket that has refilled completely carries no state and is dropped.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// sweepEvery is how often full buckets are dropped.
const sweepEvery = time.Minute

// Limiter is a set of token buckets, one per key. It is safe for
// concurrent use.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64 // bucket size
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
}

// New returns a limiter allowing rate requests per second per key with
// bursts of burst (at least 1). rate must be positive.
func New(rate float64, burst int) *Limiter {
	return newAt(rate, burst, time.Now)
}

func newAt(rate float64, burst int, now func() time.Time) *Limiter {
	return &Limiter{rate: rate, burst: float64(max(burst, 1)), now: now, buckets: map[string]*bucket{}, lastSweep: now()}
}

// Allow takes a token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b, found := l.buckets[key]
	if !found {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, wait
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
}

// sweep drops the buckets that are full again: a new bucket would be
// identical.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
