package cache

// Test strategy: applying the change feed in batches must keep what
// applying it one change at a time promised. Over the in-memory Source,
// which counts its calls and can fail the next batch read, the tests
// assert that a batch of credential changes costs one store call, that
// every change is applied in version order (new keys, revocations, a
// deleted row removed, a remembered unknown id forgotten), and that a
// failure before or part-way through a batch leaves the version at the
// last change applied, so the next read resumes there. Propagation is
// driven with an injected clock, so each reported duration is exact.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/clocktest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// deleteCred removes a credential from the source, with a feed entry.
func (m *memSource) deleteCred(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.creds, id)
	m.changes = append(m.changes, store.Change{Version: int64(len(m.changes) + 1), Kind: store.KindCredential, ID: id})
	m.wake()
}

// stampLast sets the commit time of the newest feed entry.
func (m *memSource) stampLast(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changes[len(m.changes)-1].At = at
}

func TestSyncReadsABatchOfCredentialsAtOnce(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	src.putCred(cred(1, "acme"))
	src.putCred(cred(2, "acme"))
	c := newLoaded(t, src, Options{MissLookups: 1000})
	// An id remembered as unknown, then created.
	if _, ok := c.Key(ctx, keyID(500)); ok {
		t.Fatal("unknown key served")
	}
	src.credLookups.Store(0)

	const n = 300
	for i := 100; i < 100+n; i++ {
		src.putCred(cred(i, "acme"))
	}
	revoked := cred(1, "acme")
	revoked.RevokedAt, revoked.Version = time.Now(), 2
	src.putCred(revoked)
	src.deleteCred(keyID(2))
	src.putCred(cred(500, "acme"))
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := src.batchReads.Load(); got != 1 {
		t.Errorf("%d GetCredentials calls for one batch of changes, want 1", got)
	}
	if got := src.credLookups.Load(); got != 0 {
		t.Errorf("%d GetCredential calls while applying the feed, want 0", got)
	}
	for i := 100; i < 100+n; i++ {
		if _, ok := c.Key(ctx, keyID(i)); !ok {
			t.Fatalf("key %d created in the batch not served", i)
		}
	}
	if rec, ok := c.Key(ctx, keyID(1)); !ok || !rec.Revoked {
		t.Errorf("key revoked in the batch: %+v, %v; want a revoked record", rec, ok)
	}
	if _, ok := c.Key(ctx, keyID(2)); ok {
		t.Error("key deleted in the batch still served")
	}
	if _, err := c.negative.Get(keyID(500)); err == nil {
		t.Error("key created after its id was remembered unknown is still remembered unknown")
	}
	if _, ok := c.Key(ctx, keyID(500)); !ok {
		t.Error("key created after its id was remembered unknown not served")
	}
	if want := int64(len(src.changes)); c.Version() != want {
		t.Errorf("Version = %d, want %d", c.Version(), want)
	}
}

func TestSyncResumesAfterAFailedBatchRead(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	c := newLoaded(t, src, Options{MissLookups: -1})
	before := c.Version()
	src.putCred(cred(1, "acme"))
	src.putCred(cred(2, "acme"))
	fail := partner.ErrUnavailable
	src.failBatch.Store(&fail)
	if err := c.Sync(ctx); !errors.Is(err, partner.ErrUnavailable) {
		t.Fatalf("Sync with the batch read failing = %v, want ErrUnavailable", err)
	}
	if c.Version() != before {
		t.Errorf("Version after a failed batch read = %d, want %d: nothing applied", c.Version(), before)
	}
	if _, ok := c.Key(ctx, keyID(1)); ok {
		t.Error("a key of the failed batch is served")
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, ok := c.Key(ctx, keyID(i)); !ok {
			t.Errorf("key %d not served after the retry", i)
		}
	}
}

// flakyPartners fails reads of one partner while failing is set.
type flakyPartners struct {
	*memSource
	id      string
	failing bool
}

func (f *flakyPartners) GetPartner(ctx context.Context, id string) (*partner.Partner, error) {
	if f.failing && id == f.id {
		return nil, partner.ErrUnavailable
	}
	return f.memSource.GetPartner(ctx, id)
}

func TestSyncResumesWhereABatchStopped(t *testing.T) {
	ctx := context.Background()
	src := &flakyPartners{memSource: newMemSource(), id: "beta"}
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	c := newLoaded(t, src, Options{MissLookups: -1})
	src.putCred(cred(1, "acme"))
	stopAt := int64(len(src.changes))
	src.putPartner(&partner.Partner{ID: "beta", State: partner.Active, Version: 1})
	src.putCred(cred(2, "acme"))
	src.failing = true
	if err := c.Sync(ctx); !errors.Is(err, partner.ErrUnavailable) {
		t.Fatalf("Sync = %v, want ErrUnavailable from the partner read", err)
	}
	if c.Version() != stopAt {
		t.Errorf("Version = %d, want %d: the change before the failure applied, none after", c.Version(), stopAt)
	}
	if _, ok := c.Key(ctx, keyID(1)); !ok {
		t.Error("the credential change before the failure is not applied")
	}
	if _, ok := c.Key(ctx, keyID(2)); ok {
		t.Error("a credential change after the failure is applied out of order")
	}
	src.failing = false
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Partner("beta"); !ok {
		t.Error("partner not applied on resuming")
	}
	if _, ok := c.Key(ctx, keyID(2)); !ok {
		t.Error("key 2 not applied on resuming")
	}
}

func TestPropagationReported(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(t0)
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	c := newLoaded(t, src, Options{Now: clk.Now, MissLookups: -1})
	var got []time.Duration
	c.ReportPropagation(func(d time.Duration) { got = append(got, d) })

	src.putCred(cred(1, "acme"))
	src.stampLast(t0.Add(-2 * time.Second))
	src.putCred(cred(2, "acme"))
	src.stampLast(t0.Add(-500 * time.Millisecond))
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Suspended, Version: 2})
	src.stampLast(t0.Add(time.Second)) // the store's clock ahead of this one
	src.putCred(cred(3, "acme"))       // no time: nothing to report
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{2 * time.Second, 500 * time.Millisecond, 0}
	if !slices.Equal(got, want) {
		t.Errorf("propagation reported %v, want %v", got, want)
	}

	// Applied later, a change has taken longer.
	src.putCred(cred(4, "acme"))
	src.stampLast(t0)
	clk.Advance(3 * time.Second)
	got = nil
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("propagation reported %v, want %v", got, want)
	}
	c.ReportPropagation(nil)
	src.putCred(cred(5, "acme"))
	src.stampLast(t0)
	got = nil
	if err := c.Sync(ctx); err != nil || got != nil {
		t.Errorf("after ReportPropagation(nil): %v reported, %v", got, err)
	}
}

// racingBatch runs during, after each GetCredentials has read its rows and
// before the cache applies them.
type racingBatch struct {
	*memSource
	during func()
}

func (r *racingBatch) GetCredentials(ctx context.Context, ids []string) ([]*partner.Credential, error) {
	out, err := r.memSource.GetCredentials(ctx, ids)
	if r.during != nil {
		r.during()
		r.during = nil
	}
	return out, err
}

// TestBatchReadNeverUndoesANewerLookup: a batch read holds its rows for
// longer than one read per change did; a key revoked, and installed
// revoked by a miss look-up, meanwhile must stay revoked when the batch's
// older row is applied.
func TestBatchReadNeverUndoesANewerLookup(t *testing.T) {
	ctx := context.Background()
	src := &racingBatch{memSource: newMemSource()}
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active, Version: 1})
	c := newLoaded(t, src, Options{MissLookups: 1000})
	src.putCred(cred(1, "acme")) // the feed will read it at version 1
	src.during = func() {
		revoked := cred(1, "acme")
		revoked.RevokedAt, revoked.Version = time.Now(), 2
		src.putCred(revoked)
		if rec, ok := c.Key(ctx, keyID(1)); !ok || !rec.Revoked {
			t.Fatalf("miss look-up after the revocation: %+v, %v; want the revoked record", rec, ok)
		}
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if src.during != nil {
		t.Fatal("the race was not run")
	}
	if rec, ok := c.Key(ctx, keyID(1)); !ok || !rec.Revoked || rec.Version != 2 {
		t.Errorf("after the batch applied its older row: %+v, %v; want version 2, revoked", rec, ok)
	}
}

// TestRunCoalescesABurstOfNotifications: one write a millisecond, each
// with its notification, is read in batches, about one read a window
// after the first few, not one read per write; and every write arrives.
func TestRunCoalescesABurstOfNotifications(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
	const window = 20 * time.Millisecond
	c := newLoaded(t, src, Options{PollInterval: time.Hour, NotifyCoalesce: window, MissLookups: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	const n = 200
	start := time.Now()
	for i := range n {
		src.putCred(cred(i+1, "acme"))
		time.Sleep(time.Millisecond) // pacing the writes, not waiting for a condition
	}
	want := int64(len(src.changes))
	deadline := time.Now().Add(10 * time.Second)
	for c.Version() < want {
		if time.Now().After(deadline) {
			t.Fatalf("version %d 10s after the burst, want %d", c.Version(), want)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	// One read a window over the burst, after the burst allowed at once,
	// plus the read at start.
	limit := int64(took/window) + notifyBurst + 1
	if reads := src.feedReads.Load(); reads > limit || reads > n/2 {
		t.Errorf("%d feed reads for %d notified writes over %s, want at most %d (one a %s)", reads, n, took.Round(time.Millisecond), min(limit, n/2), window)
	}
}
