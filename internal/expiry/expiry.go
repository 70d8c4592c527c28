// Package expiry watches API keys approach and pass their expiry: it
// counts, by partner, the live keys expiring within 7 and 30 days (for a
// gauge), logs a warning once a day for each key inside the warning
// window, and has the store audit each key that expired without being
// rotated.
//
// It reads the store on its own schedule, never on the Check path. A
// [Watcher]'s methods are safe for concurrent use; its counts are
// published as an immutable map behind an atomic pointer.
package expiry

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Windows the counts are kept for.
const (
	Week  = 7 * 24 * time.Hour
	Month = 30 * 24 * time.Hour
)

// Actor is the audit actor of the expiry events: the server itself.
const Actor = "partnergate"

// Store is what the watcher needs of the source of truth; every
// store.Store has it.
type Store interface {
	FindCredentials(ctx context.Context, f store.KeyFilter) ([]*partner.Credential, error)
	RecordExpiredKeys(ctx context.Context, actor string) ([]*partner.Credential, error)
}

// Counts are a partner's live keys expiring within [Week] and within
// [Month] (the second includes the first).
type Counts struct{ Week, Month int }

// Watcher is the expiry watch. The zero values of its options select the
// defaults named beside them.
type Watcher struct {
	Store Store
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the warnings (default slog.Default()).
	Logger *slog.Logger
	// Interval is how often Run looks (default 1m).
	Interval time.Duration
	// WarnWithin is the warning window: a key expiring within it is
	// logged once a day (default 7 days).
	WarnWithin time.Duration

	counts atomic.Pointer[map[string]Counts]
	mu     sync.Mutex
	warned map[string]time.Time // key id → last warning
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Watcher) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// Counts returns the partners' counts as of the last look; partners with
// no key inside either window are absent.
func (w *Watcher) Counts() map[string]Counts {
	if m := w.counts.Load(); m != nil {
		return *m
	}
	return nil
}

// Run looks at once and then every Interval until ctx ends. A failed look
// is logged and retried at the next.
func (w *Watcher) Run(ctx context.Context) {
	every := w.Interval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Look(ctx); err != nil && ctx.Err() == nil {
			w.logger().Warn("key expiry watch failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Look does one round: it audits the keys that expired unrotated, counts
// the keys expiring within each window, and warns of the keys inside the
// warning window not warned of in the last day.
func (w *Watcher) Look(ctx context.Context) error {
	expired, err := w.Store.RecordExpiredKeys(ctx, Actor)
	if err != nil {
		return err
	}
	for _, c := range expired {
		w.logger().Warn("API key expired without being rotated", "key_id", c.ID, "partner_id", c.PartnerID,
			"expired_at", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	now := w.now()
	cs, err := w.Store.FindCredentials(ctx, store.KeyFilter{ExpiresBefore: now.Add(Month)})
	if err != nil {
		return err
	}
	within := w.WarnWithin
	if within <= 0 {
		within = Week
	}
	counts := map[string]Counts{}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.warned == nil {
		w.warned = map[string]time.Time{}
	}
	live := make(map[string]bool, len(cs))
	for _, c := range cs {
		left := c.ExpiresAt.Sub(now)
		n := counts[c.PartnerID]
		n.Month++
		if left <= Week {
			n.Week++
		}
		counts[c.PartnerID] = n
		live[c.ID] = true
		if left > within {
			continue
		}
		if last, ok := w.warned[c.ID]; ok && now.Sub(last) < 24*time.Hour {
			continue
		}
		w.warned[c.ID] = now
		w.logger().Warn("API key expires soon: rotate it", "key_id", c.ID, "partner_id", c.PartnerID,
			"expires_at", c.ExpiresAt.UTC().Format(time.RFC3339), "expires_in", left.Round(time.Minute).String())
	}
	for id := range w.warned {
		if !live[id] {
			delete(w.warned, id) // expired, revoked or rotated away: forget it
		}
	}
	w.counts.Store(&counts)
	return nil
}
