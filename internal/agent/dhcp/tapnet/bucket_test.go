package tapnet

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := Bucket{Rate: 10, Burst: 3}
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !b.Allow(now) {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	if b.Allow(now) {
		t.Fatal("burst exceeded")
	}
	if !b.Allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("no refill after 100 ms at 10/s")
	}
	if b.Allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("more than the refill")
	}
	if !b.Allow(now.Add(time.Hour)) || !b.Allow(now.Add(time.Hour)) || !b.Allow(now.Add(time.Hour)) || b.Allow(now.Add(time.Hour)) {
		t.Fatal("a long pause refills to Burst and no more")
	}
}
