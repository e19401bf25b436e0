package backoffice

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket: PerMinute attempts a minute on average, Burst at
// once.
type Rate struct {
	PerMinute float64
	Burst     int
}

// bucket is one token bucket's state.
type bucket struct {
	tokens float64
	last   time.Time
}

// wait refills b to now and reports how long until a token is there (0
// when one is there now).
func (b *bucket) wait(r Rate, now time.Time) time.Duration {
	if b.last.IsZero() {
		b.tokens = float64(r.Burst)
	} else if now.After(b.last) {
		b.tokens = math.Min(float64(r.Burst), b.tokens+now.Sub(b.last).Minutes()*r.PerMinute)
	}
	b.last = now
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / r.PerMinute * float64(time.Minute))
}

// limiter limits attempts per source address and in total. An attempt
// refused by either costs nothing.
type limiter struct {
	per, total Rate

	mu      sync.Mutex
	buckets map[string]*bucket
	all     bucket
}

func newLimiter(per, total Rate) *limiter {
	return &limiter{per: per, total: total, buckets: map[string]*bucket{}}
}

// maxBuckets is the number of addresses above which full buckets (those of
// addresses quiet long enough to have refilled) are forgotten.
const maxBuckets = 10000

// allow takes a token for addr from both buckets, or says how long to wait.
func (l *limiter) allow(addr string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{}
		l.buckets[addr] = b
	}
	w := max(b.wait(l.per, now), l.all.wait(l.total, now))
	if w > 0 {
		return false, w
	}
	b.tokens--
	l.all.tokens--
	return true, 0
}

func (l *limiter) forgetFull(now time.Time) {
	for addr, b := range l.buckets {
		b.wait(l.per, now)
		if b.tokens >= float64(l.per.Burst) {
			delete(l.buckets, addr)
		}
	}
}
