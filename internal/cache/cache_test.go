// Test strategy: the cache is driven through its public API against a
// hand-written in-memory Source that records every call, so each test can
// assert not only what the Check path sees but how often the store was
// asked — the property that protects the store from a flood. The race
// between a miss look-up and the change feed is exercised directly. The
// end-to-end path over a real store is tested in internal/app.
package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// memSource is an in-memory Source with a change feed.
type memSource struct {
	mu          sync.Mutex
	partners    map[string]*partner.Partner
	creds       map[string]*partner.Credential
	changes     []store.Change
	notify      chan struct{}
	credLookups atomic.Int64 // GetCredential calls
	batchReads  atomic.Int64 // GetCredentials calls
	feedReads   atomic.Int64 // Changes calls
	// failBatch, if set, fails the next GetCredentials with it.
	failBatch atomic.Pointer[error]
}

func newMemSource() *memSource {
	return &memSource{partners: map[string]*partner.Partner{}, creds: map[string]*partner.Credential{}, notify: make(chan struct{}, 1)}
}

func (m *memSource) putPartner(p *partner.Partner) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *p
	m.partners[p.ID] = &cp
	m.changes = append(m.changes, store.Change{Version: int64(len(m.changes) + 1), Kind: store.KindPartner, ID: p.ID})
	m.wake()
}

func (m *memSource) putCred(c *partner.Credential) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *c
	m.creds[c.ID] = &cp
	m.changes = append(m.changes, store.Change{Version: int64(len(m.changes) + 1), Kind: store.KindCredential, ID: c.ID})
	m.wake()
}

func (m *memSource) wake() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

func (m *memSource) Snapshot(_ context.Context, v store.Visitor) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.partners {
		if err := v.Partner(p); err != nil {
			return 0, err
		}
	}
	for _, c := range m.creds {
		if c.Usable(time.Now()) {
			if err := v.Credential(c); err != nil {
				return 0, err
			}
		}
	}
	return int64(len(m.changes)), nil
}

func (m *memSource) Changes(_ context.Context, since int64, limit int) ([]store.Change, error) {
	m.feedReads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if since >= int64(len(m.changes)) {
		return nil, nil
	}
	out := m.changes[since:]
	if len(out) > limit {
		out = out[:limit]
	}
	return append([]store.Change(nil), out...), nil
}

func (m *memSource) Notify(context.Context) <-chan struct{} { return m.notify }

func (m *memSource) GetPartner(_ context.Context, id string) (*partner.Partner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.partners[id]; ok {
		cp := *p
		return &cp, nil
	}
	return nil, partner.ErrNotFound
}

func (m *memSource) GetCredential(_ context.Context, id string) (*partner.Credential, error) {
	m.credLookups.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.creds[id]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, partner.ErrNotFound
}

func (m *memSource) GetCredentials(_ context.Context, ids []string) ([]*partner.Credential, error) {
	m.batchReads.Add(1)
	if err := m.failBatch.Swap(nil); err != nil {
		return nil, *err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*partner.Credential
	seen := map[string]bool{}
	for _, id := range ids {
		if c, ok := m.creds[id]; ok && !seen[id] {
			seen[id] = true
			cp := *c
			out = append(out, &cp)
		}
	}
	return out, nil
}

// keyID returns a well-formed 12-character key id for n.
func keyID(n int) string { return fmt.Sprintf("k%011d", n) }

func cred(n int, partnerID string) *partner.Credential {
	return &partner.Credential{
		ID: keyID(n), PartnerID: partnerID, Scopes: partner.Scopes{"orders:read", "orders:write"},
		Digest: []byte(fmt.Sprintf("%032d", n)), PepperVersion: 1, Version: 1,
	}
}

// newLoaded returns a cache over src, loaded.
func newLoaded(t testing.TB, src Source, opts Options) *Cache {
	t.Helper()
	c, err := New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadServesSnapshot(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Active})
	live := cred(1, "acme")
	live.ExpiresAt = time.Now().Add(time.Hour)
	src.putCred(live)
	c := newLoaded(t, src, Options{})
	if !c.Ready() || c.Version() != 2 {
		t.Fatalf("Ready=%v Version=%d, want true 2", c.Ready(), c.Version())
	}
	got, ok := c.Key(context.Background(), keyID(1))
	if !ok {
		t.Fatal("loaded key not found")
	}
	want := live.Record()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if p, ok := c.Partner("acme"); !ok || p.Tier != "gold" {
		t.Errorf("Partner(acme) = %v, %v", p, ok)
	}
	if src.credLookups.Load() != 0 {
		t.Errorf("a cache hit asked the store")
	}
}

func TestSyncAppliesRevocationAndSuspension(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Active, Version: 1})
	src.putCred(cred(1, "acme"))
	c := newLoaded(t, src, Options{})

	revoked := cred(1, "acme")
	revoked.RevokedAt = time.Now()
	revoked.Version = 2
	src.putCred(revoked)
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Suspended, Version: 2})
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec, ok := c.Key(context.Background(), keyID(1)); !ok || !rec.Revoked {
		t.Errorf("after revoke: %+v, %v; want a revoked record", rec, ok)
	}
	if p, _ := c.Partner("acme"); p.State != partner.Suspended {
		t.Errorf("after suspend: state %s", p.State)
	}
	if c.Version() != 4 {
		t.Errorf("Version = %d, want 4", c.Version())
	}
}

func TestRunFollowsNotifications(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
	c := newLoaded(t, src, Options{PollInterval: time.Hour}) // only a notification can wake it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	src.putCred(cred(7, "acme"))
	deadline := time.Now().Add(5 * time.Second)
	for c.Version() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("change not applied within 5s of its notification")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := c.Key(context.Background(), keyID(7)); !ok {
		t.Error("new key not served")
	}
}

func TestUnknownKeysAreNegativeCached(t *testing.T) {
	src := newMemSource()
	c := newLoaded(t, src, Options{MissLookups: 1000})
	ctx := context.Background()
	for range 5 {
		if _, ok := c.Key(ctx, keyID(99)); ok {
			t.Fatal("unknown key found")
		}
	}
	if n := src.credLookups.Load(); n != 1 {
		t.Errorf("store look-ups for one unknown id asked 5 times = %d, want 1", n)
	}
	// The feed delivering the key clears the negative entry at once.
	src.putCred(cred(99, "acme"))
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Key(ctx, keyID(99)); !ok {
		t.Error("key still unknown after the feed delivered it")
	}
}

func TestMissLookupsAreATrickle(t *testing.T) {
	src := newMemSource()
	c := newLoaded(t, src, Options{MissLookups: 2})
	ctx := context.Background()
	for i := range 10_000 {
		c.Key(ctx, keyID(1_000_000+i)) // every id distinct: the negative cache cannot help
	}
	// Burst of 2, refilling at 2/s: a handful at most, whatever the speed.
	if n := src.credLookups.Load(); n > 6 {
		t.Errorf("store look-ups under a flood of 10,000 unknown ids = %d, want a trickle (≤ 6)", n)
	}
	if got := c.Stats().MissLookups.Load(); got != src.credLookups.Load() {
		t.Errorf("MissLookups stat = %d, store saw %d", got, src.credLookups.Load())
	}
}

func TestMissLookupsDisabled(t *testing.T) {
	src := newMemSource()
	c := newLoaded(t, src, Options{MissLookups: -1})
	src.creds[keyID(5)] = cred(5, "acme") // in the store, not in the feed
	if _, ok := c.Key(context.Background(), keyID(5)); ok || src.credLookups.Load() != 0 {
		t.Error("a disabled miss look-up reached the store")
	}
}

func TestMalformedIDsNeverReachTheStore(t *testing.T) {
	src := newMemSource()
	c := newLoaded(t, src, Options{})
	for _, id := range []string{"", "short", "k000000000001x", "k00000000-001", "../../etc/pwd"} {
		c.Key(context.Background(), id)
	}
	if n := src.credLookups.Load(); n != 0 {
		t.Errorf("store asked %d times for malformed ids", n)
	}
}

// TestApplyWrittenServesTheWriteWithoutAFeedRead installs a revocation
// this process committed: the next look-up sees it without the store being
// asked, an older row written later does not undo it, and the feed's later
// delivery of the same row changes nothing.
func TestApplyWrittenServesTheWriteWithoutAFeedRead(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.putCred(cred(1, "acme"))
	c := newLoaded(t, src, Options{})
	if rec, ok := c.Key(ctx, keyID(1)); !ok || rec.Revoked {
		t.Fatalf("before: %+v, %v; want a live record", rec, ok)
	}
	revoked := cred(1, "acme")
	revoked.RevokedAt = time.Now()
	revoked.Version = 2
	src.putCred(revoked) // committed: the store and its feed have it
	feedReads, credReads := src.feedReads.Load(), src.batchReads.Load()+src.credLookups.Load()
	if err := c.ApplyWritten(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if rec, ok := c.Key(ctx, keyID(1)); !ok || !rec.Revoked || rec.Version != 2 {
		t.Errorf("after ApplyWritten: %+v, %v; want the revoked record", rec, ok)
	}
	if src.feedReads.Load() != feedReads || src.batchReads.Load()+src.credLookups.Load() != credReads {
		t.Error("ApplyWritten read the store")
	}
	if err := c.ApplyWritten(ctx, cred(1, "acme")); err != nil { // version 1
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := c.Key(ctx, keyID(1)); !rec.Revoked || rec.Version != 2 {
		t.Errorf("an older row, then the feed: %+v; want the revoked record", rec)
	}
}

func TestApplyWrittenBeforeLoad(t *testing.T) {
	c, err := New(newMemSource(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.ApplyWritten(context.Background(), cred(1, "acme")); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("ApplyWritten before Load = %v, want ErrNotLoaded", err)
	}
}

func TestOlderRowNeverReplacesNewer(t *testing.T) {
	src := newMemSource()
	c := newLoaded(t, src, Options{})
	newer := cred(3, "acme")
	newer.Version = 2
	newer.RevokedAt = time.Now()
	c.put(newer)
	c.put(cred(3, "acme")) // version 1: a miss look-up that read before the revocation
	if rec, _ := c.Key(context.Background(), keyID(3)); !rec.Revoked || rec.Version != 2 {
		t.Errorf("stale row replaced a newer one: %+v", rec)
	}
}

func TestCodecRoundTripAndCorruption(t *testing.T) {
	rec := partner.KeyRecord{ID: keyID(1), PartnerID: "acme", Scopes: "a b", Digest: make([]byte, 32), PepperVersion: 3, ExpiresAt: 42, Revoked: true, Version: 9}
	b := encode(nil, &rec)
	got, err := decode(rec.ID, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, b[:5], append([]byte{2}, b[1:]...), b[:fixedLen+10]} {
		if _, err := decode(rec.ID, bad, nil); err == nil {
			t.Errorf("decode(%x) accepted a corrupt entry", bad)
		}
	}

	// A key's source allow-list travels with its record; a damaged one is
	// corruption, never an empty list (which would allow everything).
	allow, err := partner.ParseCIDRs("allow", "203.0.113.0/24,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	rec.AllowCIDRs = allow
	b = encode(nil, &rec)
	got, err = decode(rec.ID, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("round trip with an allow-list (-want +got):\n%s", diff)
	}
	damaged := bytes.Replace(b, []byte("203.0.113.0/24"), []byte("203.0.113.0/99"), 1)
	if _, err := decode(rec.ID, damaged, nil); err == nil {
		t.Error("decode accepted a damaged allow-list")
	}
}

// million is a cache with a million keys, built once per benchmark
// process: the framework calls a benchmark several times, and the memory
// figure must count one cache only.
var million struct {
	once     sync.Once
	c        *Cache
	perKey   float64
	loadTime time.Duration
}

func loadMillion(b *testing.B) *Cache {
	const n = 1_000_000
	million.once.Do(func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		src := newMemSource()
		src.partners["acme"] = &partner.Partner{ID: "acme", State: partner.Active}
		for i := range n {
			c := cred(i, "acme")
			src.creds[c.ID] = c
		}
		c, err := New(src, Options{ExpectedKeys: n})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := c.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		million.loadTime = time.Since(start)
		src.creds = nil // keep only the cache's own memory alive
		runtime.GC()
		runtime.ReadMemStats(&after)
		million.perKey = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		million.c = c
	})
	return million.c
}

// BenchmarkKeyHit measures a hot-path look-up with a million keys loaded,
// and reports the heap cost per key and the load time.
func BenchmarkKeyHit(b *testing.B) {
	c := loadMillion(b)
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = keyID(i * 15)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			if _, ok := c.Key(ctx, ids[i%len(ids)]); !ok {
				b.Fatal("miss")
			}
			i += 7919
		}
	})
	// After the timed loop: ResetTimer discards metrics reported before it.
	b.ReportMetric(million.perKey, "heap-B/key")
	b.ReportMetric(million.loadTime.Seconds(), "load-s/1M")
}
