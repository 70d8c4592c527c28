// Test strategy: the recorder is driven directly — Used as Check calls it,
// Flush in place of the ticker — against a real SQLite store, and the
// result is read back through the store. The cases pin the contract the
// hot path relies on: repeated uses coalesce to the latest, the pending
// map is bounded (drops are counted, never waited for), a failed flush is
// counted, a flush writes in bounded batches, in id order, with a pause
// between them, Used does not wait for a flush in progress, and Run
// flushes once more on shutdown.
package lastuse_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/lastuse"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

func open(t *testing.T, keys ...string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "pg.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev := partner.AuditEvent{Actor: "test", Action: "setup"}
	if err := st.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: partner.DefaultTier, State: partner.Active}, ev); err != nil {
		t.Fatal(err)
	}
	for _, id := range keys {
		c := &partner.Credential{ID: id, PartnerID: "acme", Digest: make([]byte, 32), PepperVersion: 1}
		if err := st.CreateCredential(ctx, c, ev); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func lastUse(t *testing.T, st *sqlstore.Store, id string) (time.Time, string) {
	t.Helper()
	c, err := st.GetCredential(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.LastUsedAt, c.LastUsedFrom
}

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func TestCoalescesToLatestUse(t *testing.T) {
	st := open(t, "key1", "key2")
	r := lastuse.New(st, lastuse.Options{})
	r.Used("key1", "192.0.2.1", t0)
	r.Used("key1", "192.0.2.3", t0.Add(2*time.Second))
	r.Used("key1", "192.0.2.2", t0.Add(time.Second))                        // late arrival, older
	r.Used("key1", "192.0.2.4", t0.Add(2*time.Second+999*time.Millisecond)) // within Resolution of the pending use
	r.Used("key2", "192.0.2.9", t0)
	if r.Pending() != 2 {
		t.Fatalf("Pending = %d, want 2 keys", r.Pending())
	}
	// Nothing reaches the store before a flush.
	if at, _ := lastUse(t, st, "key1"); !at.IsZero() {
		t.Fatalf("last use written before a flush: %v", at)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if at, from := lastUse(t, st, "key1"); !at.Equal(t0.Add(2*time.Second)) || from != "192.0.2.3" {
		t.Errorf("key1 last use = %v from %q, want %v from 192.0.2.3", at, from, t0.Add(2*time.Second))
	}
	if at, from := lastUse(t, st, "key2"); !at.Equal(t0) || from != "192.0.2.9" {
		t.Errorf("key2 last use = %v from %q", at, from)
	}
	if r.Pending() != 0 || r.Dropped() != 0 {
		t.Errorf("after flush: pending %d, dropped %d", r.Pending(), r.Dropped())
	}
}

func TestBoundedPendingDropsNewKeys(t *testing.T) {
	st := open(t, "a", "b", "c")
	r := lastuse.New(st, lastuse.Options{MaxPending: 2})
	r.Used("a", "192.0.2.1", t0)
	r.Used("b", "192.0.2.1", t0)
	// Keys are admitted as the rings are drained, and the rings are not
	// drained in the order of their touches: drain a and b first, so that
	// c is the key that finds the map full.
	if r.Pending() != 2 {
		t.Fatalf("pending %d, want a and b", r.Pending())
	}
	r.Used("c", "192.0.2.1", t0)                  // no room: dropped
	r.Used("a", "192.0.2.5", t0.Add(time.Second)) // a pending key still updates
	if r.Dropped() != 1 || r.Pending() != 2 {
		t.Fatalf("dropped %d, pending %d; want 1 and 2", r.Dropped(), r.Pending())
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if at, _ := lastUse(t, st, "c"); !at.IsZero() {
		t.Errorf("dropped key recorded at %v", at)
	}
	if _, from := lastUse(t, st, "a"); from != "192.0.2.5" {
		t.Errorf("a from %q, want the latest use's 192.0.2.5", from)
	}
	// The flush made room again.
	r.Used("c", "192.0.2.1", t0)
	if r.Pending() != 1 || r.Dropped() != 1 {
		t.Errorf("after flush: pending %d, dropped %d", r.Pending(), r.Dropped())
	}
}

// failingSink fails every write.
type failingSink struct{}

func (failingSink) TouchCredentials(context.Context, []store.Touch) error {
	return errors.New("store down")
}

func TestFailedFlushIsCounted(t *testing.T) {
	r := lastuse.New(failingSink{}, lastuse.Options{})
	r.Used("a", "", t0)
	r.Used("b", "", t0)
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("Flush to a failing store succeeded")
	}
	if r.Dropped() != 2 || r.Pending() != 0 {
		t.Errorf("dropped %d, pending %d; want 2 and 0", r.Dropped(), r.Pending())
	}
}

// batchSink records each write it is given, and fails the write numbered
// failAt (from 1; 0 never fails).
type batchSink struct {
	mu     sync.Mutex
	failAt int
	writes [][]store.Touch
	at     []time.Time
}

func (s *batchSink) TouchCredentials(_ context.Context, touches []store.Touch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, append([]store.Touch(nil), touches...))
	s.at = append(s.at, time.Now())
	if len(s.writes) == s.failAt {
		return errors.New("store down")
	}
	return nil
}

func TestFlushWritesInBatches(t *testing.T) {
	const n, batch, pause = 300, 128, 20 * time.Millisecond
	sink := &batchSink{}
	r := lastuse.New(sink, lastuse.Options{Batch: batch, Pause: pause})
	for i := range n {
		r.Used(fmt.Sprintf("key%03d", i), "", t0)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.writes) != 3 {
		t.Fatalf("%d writes, want 3 of at most %d touches", len(sink.writes), batch)
	}
	// In id order across the batches, which is what lets the store's
	// writes share pages (sqlstore.TouchCredentials).
	var order []string
	for _, w := range sink.writes {
		for _, tc := range w {
			order = append(order, tc.ID)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("touches written out of id order: %v", order)
	}
	seen := map[string]bool{}
	for i, w := range sink.writes {
		if len(w) > batch {
			t.Errorf("write %d holds %d touches, want at most %d", i, len(w), batch)
		}
		for _, tc := range w {
			if seen[tc.ID] {
				t.Errorf("%s written twice", tc.ID)
			}
			seen[tc.ID] = true
		}
		// The pause is what lets Checks in; a sleep lasts at least as
		// long as asked, so this bound cannot flake.
		if i > 0 && sink.at[i].Sub(sink.at[i-1]) < pause {
			t.Errorf("write %d came %s after the one before, want a pause of %s", i, sink.at[i].Sub(sink.at[i-1]), pause)
		}
	}
	if len(seen) != n || r.Pending() != 0 || r.Dropped() != 0 {
		t.Errorf("%d keys written, %d pending, %d dropped; want %d, 0, 0", len(seen), r.Pending(), r.Dropped(), n)
	}
}

func TestFailedBatchDropsTheRest(t *testing.T) {
	sink := &batchSink{failAt: 2}
	r := lastuse.New(sink, lastuse.Options{Batch: 100, Pause: time.Microsecond})
	for i := range 250 {
		r.Used(fmt.Sprintf("key%03d", i), "", t0)
	}
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("Flush succeeded with a failing write")
	}
	// The first batch was written; the failed one and the one after it
	// are dropped, not retried against a failing store.
	if len(sink.writes) != 2 || r.Dropped() != 150 || r.Pending() != 0 {
		t.Errorf("%d writes, %d dropped, %d pending; want 2, 150, 0", len(sink.writes), r.Dropped(), r.Pending())
	}
}

func TestFlushStopsWhenCancelledBetweenBatches(t *testing.T) {
	sink := &batchSink{}
	r := lastuse.New(sink, lastuse.Options{Batch: 10, Pause: time.Hour})
	for i := range 25 {
		r.Used(fmt.Sprintf("key%03d", i), "", t0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want the context's deadline", err)
	}
	if len(sink.writes) != 1 || r.Dropped() != 15 {
		t.Errorf("%d writes, %d dropped; want 1 and 15", len(sink.writes), r.Dropped())
	}
}

// blockingSink holds a flush until released.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
}

func (s blockingSink) TouchCredentials(ctx context.Context, _ []store.Touch) error {
	close(s.entered)
	<-s.release
	return nil
}

func TestUsedDoesNotWaitForAFlush(t *testing.T) {
	sink := blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	r := lastuse.New(sink, lastuse.Options{})
	r.Used("a", "", t0)
	flushed := make(chan error)
	go func() { flushed <- r.Flush(context.Background()) }()
	<-sink.entered

	used := make(chan struct{})
	go func() {
		r.Used("b", "", t0)
		close(used)
	}()
	select {
	case <-used:
	case <-time.After(5 * time.Second):
		t.Fatal("Used waited for a flush in progress")
	}
	close(sink.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if r.Pending() != 1 {
		t.Errorf("Pending = %d, want the use made during the flush", r.Pending())
	}
}

func TestRunFlushesOnShutdown(t *testing.T) {
	st := open(t, "key1")
	r := lastuse.New(st, lastuse.Options{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	r.Used("key1", "192.0.2.7", t0)
	cancel()
	<-done
	if at, from := lastUse(t, st, "key1"); !at.Equal(t0) || from != "192.0.2.7" {
		t.Errorf("after shutdown: last use %v from %q, want %v from 192.0.2.7", at, from, t0)
	}
}

// BenchmarkUsed records uses of 8 busy keys, and of 100,000 keys in
// turn, from every core, with the recorder's goroutine running as it does
// in the server.
func BenchmarkUsed(b *testing.B) {
	for _, n := range []int{8, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := lastuse.New(discardSink{}, lastuse.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			var run sync.WaitGroup
			run.Go(func() { r.Run(ctx) })
			defer func() { cancel(); run.Wait() }()
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("key%09d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					r.Used(ids[i%len(ids)], "192.0.2.1", time.Now())
					i += 7
				}
			})
		})
	}
}

type discardSink struct{}

func (discardSink) TouchCredentials(context.Context, []store.Touch) error { return nil }

func TestRewritesAKeyOncePerInterval(t *testing.T) {
	sink := &batchSink{}
	r := lastuse.New(sink, lastuse.Options{Rewrite: time.Minute})
	flush := func() []store.Touch {
		t.Helper()
		n := len(sink.writes)
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		var got []store.Touch
		for _, w := range sink.writes[n:] {
			got = append(got, w...)
		}
		return got
	}
	r.Used("busy", "192.0.2.1", t0)
	r.Used("other", "192.0.2.1", t0)
	if got := flush(); len(got) != 2 {
		t.Fatalf("first flush wrote %v, want both keys", got)
	}
	// Within the minute: the busy key's uses write nothing; a key not
	// written yet is written.
	r.Used("busy", "192.0.2.2", t0.Add(30*time.Second))
	r.Used("new", "192.0.2.2", t0.Add(30*time.Second))
	if got := flush(); len(got) != 1 || got[0].ID != "new" {
		t.Fatalf("flush within the minute wrote %v, want only the new key", got)
	}
	// A minute after it was written, the busy key is written again, with
	// its latest use; other is forgotten, and written at its next use.
	r.Used("busy", "192.0.2.3", t0.Add(61*time.Second))
	r.Used("busy", "192.0.2.4", t0.Add(65*time.Second))
	r.Used("other", "192.0.2.3", t0.Add(62*time.Second))
	got := flush()
	slices.SortFunc(got, func(a, b store.Touch) int { return strings.Compare(a.ID, b.ID) })
	if len(got) != 2 || got[0].ID != "busy" || !got[0].At.Equal(t0.Add(65*time.Second)) || got[0].From != "192.0.2.4" || got[1].ID != "other" {
		t.Fatalf("flush past the minute wrote %v, want busy's latest use and other", got)
	}
	if r.Dropped() != 0 {
		t.Errorf("dropped %d", r.Dropped())
	}
}

func TestAFailedWriteIsWrittenAgain(t *testing.T) {
	sink := &batchSink{failAt: 1}
	r := lastuse.New(sink, lastuse.Options{Rewrite: time.Minute})
	r.Used("key", "", t0)
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("first write did not fail")
	}
	// Not written: the next use, within the minute, is.
	r.Used("key", "", t0.Add(time.Second))
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.writes) != 2 || len(sink.writes[1]) != 1 || !sink.writes[1][0].At.Equal(t0.Add(time.Second)) {
		t.Errorf("writes %v, want the second use written after the failed first", sink.writes)
	}
}

func TestFullRingDropsAndCounts(t *testing.T) {
	sink := &batchSink{}
	r := lastuse.New(sink, lastuse.Options{})
	// One key's touches share a ring: past its room, with no drain
	// between, they are dropped, counted, and never waited for.
	const room, over = 2048, 5
	for i := range room + over {
		r.Used("key", "", t0.Add(time.Duration(i)*time.Second))
	}
	if r.Dropped() != over || r.Pending() != 1 {
		t.Fatalf("dropped %d, pending %d; want %d and 1", r.Dropped(), r.Pending(), over)
	}
	// The drain freed the ring.
	r.Used("key", "", t0.Add((room+over)*time.Second))
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.writes) != 1 || len(sink.writes[0]) != 1 || !sink.writes[0][0].At.Equal(t0.Add((room+over)*time.Second)) {
		t.Errorf("written %v, want the last use", sink.writes)
	}
	if r.Dropped() != over {
		t.Errorf("dropped %d after the drain, want still %d", r.Dropped(), over)
	}
}

// TestConcurrentUsesAllArrive races Checks on many goroutines against
// drains and flushes: every key's latest use is written, and none is
// dropped while the rings have room (-race checks the rings' hand-over).
func TestConcurrentUsesAllArrive(t *testing.T) {
	const callers, keys, uses = 8, 32, 8 // 2,048 touches: no ring can fill
	sink := &batchSink{}
	r := lastuse.New(sink, lastuse.Options{Rewrite: -1}) // every flush writes
	stop := make(chan struct{})
	var drains sync.WaitGroup
	drains.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = r.Pending() // a drain
				if err := r.Flush(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}
	})
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for u := range uses {
				for k := range keys {
					r.Used(fmt.Sprintf("c%d-k%d", c, k), fmt.Sprintf("192.0.2.%d", u), t0.Add(time.Duration(u)*time.Second))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	drains.Wait()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest := map[string]store.Touch{}
	for _, w := range sink.writes {
		for _, tc := range w {
			if prev, ok := latest[tc.ID]; !ok || tc.At.After(prev.At) {
				latest[tc.ID] = tc
			}
		}
	}
	if len(latest) != callers*keys || r.Dropped() != 0 {
		t.Fatalf("%d keys written, %d dropped; want %d and 0", len(latest), r.Dropped(), callers*keys)
	}
	for id, tc := range latest {
		if want := t0.Add((uses - 1) * time.Second); !tc.At.Equal(want) || tc.From != fmt.Sprintf("192.0.2.%d", uses-1) {
			t.Errorf("%s last use %v from %s, want %v from its last address", id, tc.At, tc.From, want)
		}
	}
}
