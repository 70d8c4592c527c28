package admin

import (
	"context"
	"sync"
	"time"
)

// Defaults of [Throttle]'s zero fields.
const (
	// DefaultFailureRate is how many failed authentications per second a
	// source may make once its burst is spent.
	DefaultFailureRate = 1.0
	// DefaultFailureBurst is how many failures in a row a source makes
	// before it is slowed: enough for a mistyped token or two.
	DefaultFailureBurst = 10
	// DefaultMaxFailureDelay caps one failed call's delay; a source whose
	// debt exceeds it is refused without its credential being checked.
	DefaultMaxFailureDelay = 10 * time.Second
	// maxSources bounds the sources remembered.
	maxSources = 10_000
)

// Throttle slows failed admin authentications per source with a token
// bucket (NIST SP 800-63B §5.2.2, OWASP API2): each failure takes a token;
// once a source's burst is spent, each further failure is answered only
// after the time its bucket needs to refill, so one source guesses at most
// Rate times a second however many calls it has in flight. Successful
// authentications take nothing. It never touches the Check path.
//
// The zero value is ready to use with the defaults. A Throttle is safe for
// concurrent use.
type Throttle struct {
	// Rate is failures per second after the burst; zero means
	// [DefaultFailureRate].
	Rate float64
	// Burst is the failures allowed before slowing; zero means
	// [DefaultFailureBurst].
	Burst int
	// MaxDelay caps a delay; zero means [DefaultMaxFailureDelay].
	MaxDelay time.Duration
	// Now is the clock; nil means [time.Now].
	Now func() time.Time
	// Sleep waits for d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration)

	mu      sync.Mutex
	sources map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (t *Throttle) rate() float64 {
	if t.Rate > 0 {
		return t.Rate
	}
	return DefaultFailureRate
}

func (t *Throttle) burst() float64 {
	if t.Burst > 0 {
		return float64(t.Burst)
	}
	return DefaultFailureBurst
}

func (t *Throttle) maxDelay() time.Duration {
	if t.MaxDelay > 0 {
		return t.MaxDelay
	}
	return DefaultMaxFailureDelay
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// refill returns src's bucket brought up to now; t.mu is held.
func (t *Throttle) refill(src string, now time.Time) *bucket {
	if t.sources == nil {
		t.sources = make(map[string]*bucket)
	}
	b, ok := t.sources[src]
	if !ok {
		if len(t.sources) >= maxSources {
			t.prune(now)
		}
		if len(t.sources) >= maxSources {
			src = "" // every new source shares one bucket until some recover
			if b, ok = t.sources[src]; ok {
				return t.top(b, now)
			}
		}
		b = &bucket{tokens: t.burst(), last: now}
		t.sources[src] = b
		return b
	}
	return t.top(b, now)
}

func (t *Throttle) top(b *bucket, now time.Time) *bucket {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(t.burst(), b.tokens+el*t.rate())
		b.last = now
	}
	return b
}

// prune forgets sources whose buckets are full again; t.mu is held.
func (t *Throttle) prune(now time.Time) {
	for src, b := range t.sources {
		if t.top(b, now).tokens >= t.burst() {
			delete(t.sources, src)
		}
	}
}

// Blocked reports whether src owes more than MaxDelay, so that its next
// call is refused before its credential is looked at, and how long until
// it is not.
func (t *Throttle) Blocked(src string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.refill(src, t.now())
	debt := -b.tokens / t.rate() // seconds
	over := time.Duration(debt*float64(time.Second)) - t.maxDelay()
	return over > 0, over
}

// Failed records a failed authentication from src and waits until its
// bucket allows it, up to MaxDelay or until ctx ends. It returns how long
// it waited.
func (t *Throttle) Failed(ctx context.Context, src string) time.Duration {
	t.mu.Lock()
	b := t.refill(src, t.now())
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = min(time.Duration(-b.tokens/t.rate()*float64(time.Second)), t.maxDelay())
	}
	t.mu.Unlock()
	if d > 0 {
		t.sleep(ctx, d)
	}
	return d
}

func (t *Throttle) sleep(ctx context.Context, d time.Duration) {
	if t.Sleep != nil {
		t.Sleep(ctx, d)
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
