package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBurstThenRate(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAt(2, 5, c.now) // 2/s, bursts of 5
	for i := range 5 {
		if ok, _ := l.Allow("p"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, retry := l.Allow("p")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("6th request: ok %v retry %v, want refused, 500ms", ok, retry)
	}
	// Other keys have their own buckets.
	if ok, _ := l.Allow("q"); !ok {
		t.Fatal("other key refused")
	}
	c.advance(250 * time.Millisecond)
	if ok, retry := l.Allow("p"); ok || retry != 250*time.Millisecond {
		t.Fatalf("after 250ms: ok %v retry %v, want refused, 250ms", ok, retry)
	}
	c.advance(250 * time.Millisecond)
	if ok, _ := l.Allow("p"); !ok {
		t.Fatal("after 500ms: refused")
	}
	// Sustained: one request per 500 ms passes, the second is refused.
	for range 10 {
		c.advance(500 * time.Millisecond)
		if ok, _ := l.Allow("p"); !ok {
			t.Fatal("sustained rate refused")
		}
		if ok, _ := l.Allow("p"); ok {
			t.Fatal("above the sustained rate accepted")
		}
	}
	// The bucket never holds more than the burst.
	c.advance(time.Hour)
	n := 0
	for {
		if ok, _ := l.Allow("p"); !ok {
			break
		}
		n++
	}
	if n != 5 {
		t.Errorf("after an hour idle: %d requests passed, want the burst of 5", n)
	}
}

func TestSlowRateRetryAfter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAt(0.1, 1, c.now) // one request per 10 s
	l.Allow("p")
	if ok, retry := l.Allow("p"); ok || retry != 10*time.Second {
		t.Fatalf("ok %v retry %v, want refused, 10s", ok, retry)
	}
}

func TestIdleBucketsDropped(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAt(10, 10, c.now)
	for i := range 1000 {
		l.Allow(fmt.Sprint(i))
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	// A key used within the sweep period keeps its (partly empty) bucket.
	c.advance(sweepEvery - 50*time.Millisecond)
	for range 10 {
		l.Allow("busy")
	}
	c.advance(50 * time.Millisecond)
	l.Allow("other")
	if n := l.Len(); n != 2 {
		t.Fatalf("after the sweep: %d buckets, want 2 (busy, other)", n)
	}
	// The busy bucket kept its state: emptied 0.5 s ago, it has 5 tokens.
	c.advance(450 * time.Millisecond)
	passed := 0
	for range 10 {
		if ok, _ := l.Allow("busy"); ok {
			passed++
		}
	}
	if passed != 5 {
		t.Errorf("busy key: %d passed, want 5", passed)
	}
}

func TestConcurrent(t *testing.T) {
	l := New(1e-9, 100) // no refill within the test
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if ok, _ := l.Allow("p"); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if passed != 100 {
		t.Errorf("%d of 400 concurrent requests passed, want exactly the burst of 100", passed)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(1e9, 1000)
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("project-", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}
