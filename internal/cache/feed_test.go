package cache

// Test strategy: feed health and the staleness bound are driven with an
// injected clock over the in-memory Source, switched "down" to fail every
// read as an unreachable store does; the staleness bound is the rule that
// makes a replica cut off from its store stop trusting revocations it may
// have missed, so each side of the bound is asserted. The reconcile test
// changes the source behind the feed's back (no feed entries) and asserts
// every kind of difference is repaired, and that a second reconcile finds
// nothing. Over a real PostgreSQL, internal/app tests the same end to end.

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/clocktest"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// downSource fails every read with partner.ErrUnavailable while down.
type downSource struct {
	*memSource
	down atomic.Bool
}

func (d *downSource) Snapshot(ctx context.Context, v store.Visitor) (int64, error) {
	if d.down.Load() {
		return 0, partner.ErrUnavailable
	}
	return d.memSource.Snapshot(ctx, v)
}

func (d *downSource) Changes(ctx context.Context, since int64, limit int) ([]store.Change, error) {
	if d.down.Load() {
		return nil, partner.ErrUnavailable
	}
	return d.memSource.Changes(ctx, since, limit)
}

func (d *downSource) GetCredential(ctx context.Context, id string) (*partner.Credential, error) {
	if d.down.Load() {
		return nil, partner.ErrUnavailable
	}
	return d.memSource.GetCredential(ctx, id)
}

func (d *downSource) GetCredentials(ctx context.Context, ids []string) ([]*partner.Credential, error) {
	if d.down.Load() {
		return nil, partner.ErrUnavailable
	}
	return d.memSource.GetCredentials(ctx, ids)
}

func TestStalenessBound(t *testing.T) {
	tests := []struct {
		name         string
		maxStaleness time.Duration
		outage       time.Duration
		wantStale    bool
	}{
		{"short-outage-keeps-serving", 5 * time.Minute, 4 * time.Minute, false},
		{"outage-at-the-bound-keeps-serving", 5 * time.Minute, 5 * time.Minute, false},
		{"outage-past-the-bound-is-stale", 5 * time.Minute, 5*time.Minute + time.Second, true},
		{"zero-bound-never-stale", 0, 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			src := &downSource{memSource: newMemSource()}
			src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
			src.putCred(cred(1, "acme"))
			c := newLoaded(t, src, Options{MaxStaleness: tt.maxStaleness, Now: clk.Now, MissLookups: -1})
			if !c.FeedHealthy() || c.Stale() || c.Staleness() != 0 {
				t.Fatalf("after load: healthy=%v stale=%v staleness=%v", c.FeedHealthy(), c.Stale(), c.Staleness())
			}

			src.down.Store(true)
			clk.Advance(tt.outage)
			if err := c.Sync(ctx); err == nil {
				t.Fatal("Sync over a down store succeeded")
			}
			if c.FeedHealthy() {
				t.Error("FeedHealthy after a failed read")
			}
			if got := c.FeedFailingSince(); !got.Equal(clk.Now()) {
				t.Errorf("FeedFailingSince = %v, want %v", got, clk.Now())
			}
			if got := c.Staleness(); got != tt.outage {
				t.Errorf("Staleness = %v, want %v", got, tt.outage)
			}
			if got := c.Stale(); got != tt.wantStale {
				t.Errorf("Stale = %v, want %v", got, tt.wantStale)
			}
			// Stale or not, the cache still answers: the decision to
			// refuse belongs to Check.
			if _, ok := c.Key(ctx, keyID(1)); !ok {
				t.Error("cached key gone during the outage")
			}

			src.down.Store(false)
			src.putCred(cred(2, "acme"))
			if err := c.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if !c.FeedHealthy() || c.Stale() || c.Staleness() != 0 || !c.FeedFailingSince().IsZero() {
				t.Errorf("after recovery: healthy=%v stale=%v staleness=%v", c.FeedHealthy(), c.Stale(), c.Staleness())
			}
			if c.Lag() != 0 || c.Latest() != c.Version() || c.Version() != 3 {
				t.Errorf("Lag=%d Latest=%d Version=%d, want 0 3 3", c.Lag(), c.Latest(), c.Version())
			}
			if _, ok := c.Key(ctx, keyID(2)); !ok {
				t.Error("change made during the outage not applied after recovery")
			}
		})
	}
}

func TestNotHealthyBeforeLoad(t *testing.T) {
	c, err := New(newMemSource(), Options{MaxStaleness: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.FeedHealthy() || c.Stale() {
		t.Errorf("before load: healthy=%v stale=%v, want false false", c.FeedHealthy(), c.Stale())
	}
	if err := c.Reconcile(context.Background()); err == nil {
		t.Error("Reconcile before Load succeeded")
	}
}

func TestReconcileRepairsWhatTheFeedMissed(t *testing.T) {
	ctx := context.Background()
	src := &downSource{memSource: newMemSource()}
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	src.putPartner(&partner.Partner{ID: "gone", State: partner.Active, Version: 1})
	for n := 1; n <= 4; n++ {
		src.putCred(cred(n, "acme"))
	}
	c := newLoaded(t, src, Options{MissLookups: -1}) // no miss look-up may hide a hole

	// Change the store behind the feed's back: no feed entries.
	src.mu.Lock()
	revoked := cred(1, "acme")
	revoked.RevokedAt = time.Now()
	revoked.Version = 2
	src.creds[revoked.ID] = revoked // revoked: absent from snapshots
	delete(src.creds, keyID(2))     // deleted outright
	src.creds[keyID(5)] = cred(5, "acme")
	rescoped := cred(3, "acme")
	rescoped.Scopes = partner.Scopes{"orders:read"}
	rescoped.Version = 2
	src.creds[rescoped.ID] = rescoped
	src.partners["acme"] = &partner.Partner{ID: "acme", State: partner.Suspended, Version: 2}
	delete(src.partners, "gone")
	src.mu.Unlock()

	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := c.Key(ctx, keyID(1)); rec.Revoked {
		t.Fatal("the feed delivered a change it was never given; the test proves nothing")
	}

	src.down.Store(true)
	if err := c.Reconcile(ctx); err == nil {
		t.Fatal("Reconcile over a down store succeeded")
	}
	src.down.Store(false)
	if err := c.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		id   string
		want func(partner.KeyRecord, bool) bool
	}{
		{"revoked-key-is-revoked", keyID(1), func(r partner.KeyRecord, ok bool) bool { return ok && r.Revoked }},
		{"deleted-key-is-gone", keyID(2), func(_ partner.KeyRecord, ok bool) bool { return !ok }},
		{"changed-key-is-replaced", keyID(3), func(r partner.KeyRecord, ok bool) bool { return ok && r.Scopes == "orders:read" }},
		{"untouched-key-stays", keyID(4), func(r partner.KeyRecord, ok bool) bool { return ok && !r.Revoked }},
		{"missing-key-is-added", keyID(5), func(r partner.KeyRecord, ok bool) bool { return ok && !r.Revoked }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec, ok := c.Key(ctx, tt.id); !tt.want(rec, ok) {
				t.Errorf("Key(%s) = %+v, %v", tt.id, rec, ok)
			}
		})
	}
	if p, _ := c.Partner("acme"); p.State != partner.Suspended {
		t.Errorf("partner acme state %s, want suspended", p.State)
	}
	if _, ok := c.Partner("gone"); ok {
		t.Error("deleted partner still cached")
	}
	runs, repaired := c.Reconciles()
	if runs != 1 || repaired != 6 {
		t.Errorf("Reconciles = %d runs, %d repaired; want 1, 6", runs, repaired)
	}
	if err := c.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, again := c.Reconciles(); runs != 2 || again != repaired {
		t.Errorf("second reconcile repaired %d more, want 0", again-repaired)
	}
}

// TestSyncWriteFailureLeavesTheCacheBehind: after a write this process
// acknowledged, a failed sync means the cache lacks a change it is known
// to be missing, so it reports Behind until a feed read succeeds; an
// ordinary failed feed read (an outage, covered by the staleness bound)
// does not.
func TestSyncWriteFailureLeavesTheCacheBehind(t *testing.T) {
	ctx := context.Background()
	src := &downSource{memSource: newMemSource()}
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
	c := newLoaded(t, src, Options{MissLookups: -1})
	steps := []struct {
		name       string
		down       bool
		sync       func(context.Context) error
		wantErr    bool
		wantBehind bool
	}{
		{"failed-feed-read-is-not-behind", true, c.Sync, true, false},
		{"failed-sync-after-a-write-is-behind", true, c.SyncWrite, true, true},
		{"still-failing-stays-behind", true, c.Sync, true, true},
		{"caught-up-by-a-feed-read", false, c.Sync, false, false},
		{"good-sync-after-a-write-is-not-behind", false, c.SyncWrite, false, false},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			src.down.Store(st.down)
			src.putCred(cred(i+1, "acme")) // the write
			if err := st.sync(ctx); (err != nil) != st.wantErr {
				t.Fatalf("sync error %v, want error %v", err, st.wantErr)
			}
			if got := c.Behind(); got != st.wantBehind {
				t.Errorf("Behind = %v, want %v", got, st.wantBehind)
			}
			if !st.down {
				if _, ok := c.Key(ctx, keyID(i+1)); !ok {
					t.Error("the write is not in the cache after a good sync")
				}
			}
		})
	}
}

// TestSyncBeforeLoadClaimsNothing: a write synced before the snapshot was
// ever loaded (a replica whose store failed at start) is refused without
// counting a feed failure or logging that Checks are served from cache.
func TestSyncBeforeLoadClaimsNothing(t *testing.T) {
	var logs logtest.Buffer
	c, err := New(newMemSource(), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, sync := range []func(context.Context) error{c.Sync, c.SyncWrite} {
		if err := sync(context.Background()); !errors.Is(err, ErrNotLoaded) {
			t.Errorf("sync before load = %v, want ErrNotLoaded", err)
		}
	}
	if c.FeedFailures() != 0 || c.Behind() {
		t.Errorf("feed failures %d, behind %v; want 0, false", c.FeedFailures(), c.Behind())
	}
	if strings.Contains(logs.String(), "serving from cache") {
		t.Errorf("log claims a cache that was never loaded:\n%s", logs.String())
	}
}
