package tapnet

import "time"

// Bucket is a token bucket: Rate tokens a second, at most Burst, full at
// first. The per-tap services take a token per request, so a guest cannot
// make the agent spend more than that on it. Not safe for concurrent use:
// each listener has its own and one goroutine reading.
type Bucket struct {
	Rate, Burst float64
	tokens      float64
	last        time.Time
}

// Allow takes a token at time now, if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.Burst
	} else {
		b.tokens = min(b.Burst, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
