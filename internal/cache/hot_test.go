package cache

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// loadedWithOneKey returns a loaded cache holding key 1 of the active
// partner acme, and the source behind it.
func loadedWithOneKey(t *testing.T) (*Cache, *memSource) {
	t.Helper()
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Active})
	src.putCred(cred(1, "acme"))
	return newLoaded(t, src, Options{}), src
}

// revokeOneKey revokes key 1 in src, as its version 2, and brings c up to
// date through the feed.
func revokeOneKey(t *testing.T, c *Cache, src *memSource) {
	t.Helper()
	revoked := cred(1, "acme")
	revoked.Version = 2
	revoked.RevokedAt = time.Now()
	src.putCred(revoked)
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A key answered from the hot table must still follow every change the
// feed brings: revocation, a new row, removal.
func TestHotKeysFollowTheFeed(t *testing.T) {
	c, src := loadedWithOneKey(t)
	ctx := context.Background()

	for range 2 { // the first read fills the hot table, the second reads it
		if rec, ok := c.Key(ctx, keyID(1)); !ok || rec.Revoked {
			t.Fatalf("Key = %+v, %v; want the live key", rec, ok)
		}
	}
	if _, ok := c.hot.Find(keyID(1), nil); !ok {
		t.Fatal("a key read twice is not in the hot table")
	}

	revokeOneKey(t, c, src)
	if rec, ok := c.Key(ctx, keyID(1)); !ok || !rec.Revoked || rec.Version != 2 {
		t.Errorf("after revocation Key = %+v, %v; want the revoked row, version 2", rec, ok)
	}

	src.mu.Lock()
	delete(src.creds, keyID(1))
	src.changes = append(src.changes, store.Change{Version: int64(len(src.changes) + 1), Kind: store.KindCredential, ID: keyID(1)})
	src.mu.Unlock()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, ok := c.Key(ctx, keyID(1)); ok {
		t.Errorf("after removal Key = %+v; want not found", rec)
	}
}

// A hot record is forgotten when its key is written: every read after a
// revocation sees the revoked row with its new version, never the live
// one the hot table held.
func TestHotRecordFollowsWrites(t *testing.T) {
	c, src := loadedWithOneKey(t)
	ctx := context.Background()
	var live partner.KeyRecord
	for range 2 { // bigcache, then the hot table
		rec, ok := c.Key(ctx, keyID(1))
		if !ok || rec.Revoked {
			t.Fatalf("before revocation Key = %+v, %v; want the live row", rec, ok)
		}
		live = rec
	}
	revokeOneKey(t, c, src)
	for i := range 2 {
		rec, ok := c.Key(ctx, keyID(1))
		if !ok || !rec.Revoked || rec.Version == live.Version {
			t.Fatalf("read %d after revocation Key = %+v, %v; want the revoked row, a newer version than %d", i, rec, ok, live.Version)
		}
	}
}

// A hot record holds its id and digest in itself, equal to the stored
// ones, and keeps neither the caller's id nor its digest.
func TestHotRecordIsOneBlock(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Active})
	want := cred(1, "acme")
	src.putCred(want)
	c := newLoaded(t, src, Options{})
	asked := "(" + keyID(1) + ")" // the caller's memory: a request's bytes
	id := asked[1 : len(asked)-1]
	if _, ok := c.Key(context.Background(), id); !ok {
		t.Fatal("the key is not found")
	}
	h, ok := c.hot.Find(id, nil)
	if !ok {
		t.Fatal("a key read is not in the hot table")
	}
	if h.rec.ID != want.ID || !bytes.Equal(h.rec.Digest, want.Digest) {
		t.Fatalf("hot record %q %x, want %q %x", h.rec.ID, h.rec.Digest, want.ID, want.Digest)
	}
	lo, hi := uintptr(unsafe.Pointer(h)), uintptr(unsafe.Pointer(h))+unsafe.Sizeof(*h)
	inside := func(p unsafe.Pointer, n int) bool { return uintptr(p) >= lo && uintptr(p)+uintptr(n) <= hi }
	if !inside(unsafe.Pointer(unsafe.StringData(h.rec.ID)), len(h.rec.ID)) {
		t.Error("the id is not in the record")
	}
	if !inside(unsafe.Pointer(unsafe.SliceData(h.rec.Digest)), len(h.rec.Digest)) {
		t.Error("the digest is not in the record")
	}
	// An id or digest that does not fit is copied elsewhere, not kept.
	long := partner.KeyRecord{ID: id, Digest: bytes.Repeat([]byte{7}, 64)}
	if g := newHotRecord(long, 0); g.rec.ID != id || !bytes.Equal(g.rec.Digest, long.Digest) ||
		unsafe.StringData(g.rec.ID) == unsafe.StringData(id) || &g.rec.Digest[0] == &long.Digest[0] {
		t.Errorf("a long record kept the caller's memory or changed: %q %x", g.rec.ID, g.rec.Digest)
	}
}

// Readers racing a writer must never put an older record back in the hot
// table: once a write returns, every read sees it. Run with -race. In
// "held", the readers find the key in the table and rarely read the
// index; in "churning", a table of one set is shared by more keys than it
// holds, so nearly every read of the key reads the index and remembers
// its record, racing the writer's writes. Readers and writer yield to
// each other, the writer also inside the steps of a write and readers
// inside those of a remember.
func TestHotKeysNeverKeepAnOlderRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hotKeys int
		others  int // other keys the readers read between reads of the key
		yield   func()
	}{
		{"held", 0, 0, runtime.Gosched},
		{"churning", 1, 20, runtime.Gosched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMemSource()
			for i := range tc.others + 1 {
				src.putCred(cred(i+1, "acme"))
			}
			c := newLoaded(t, src, Options{MissLookups: -1, HotKeys: tc.hotKeys})
			c.yield = tc.yield
			ctx := context.Background()
			id := keyID(1)

			stop := make(chan struct{})
			var readers sync.WaitGroup
			for r := range 4 {
				readers.Go(func() {
					for i := r; ; i++ {
						select {
						case <-stop:
							return
						default:
							c.Key(ctx, id)
							if tc.others > 0 {
								c.Key(ctx, keyID(2+i%tc.others))
							}
							tc.yield() // the writer yields too
						}
					}
				})
			}
			defer func() { close(stop); readers.Wait() }()

			for v := int64(2); v <= 6000; v++ {
				next := cred(1, "acme")
				next.Version = v
				if v%2 == 0 {
					next.RevokedAt = time.Now()
				}
				if !c.put(next) {
					t.Fatalf("put of version %d refused", v)
				}
				for range 3 {
					rec, ok := c.Key(ctx, id)
					if !ok || rec.Version != v || rec.Revoked != (v%2 == 0) {
						t.Fatalf("after writing version %d, Key = version %d revoked %v (%v)", v, rec.Version, rec.Revoked, ok)
					}
				}
			}
		})
	}
}

// A record read before a write and stored after it, as a reader that lost
// the race to the writer would store it, is never an answer: its stripe's
// write count has moved past the one it carries.
func TestHotRecordStoredLateIsDead(t *testing.T) {
	src := newMemSource()
	src.putCred(cred(1, "acme"))
	c := newLoaded(t, src, Options{MissLookups: -1})
	ctx := context.Background()
	id := keyID(1)
	before := c.writes.of(id).Load()
	old, ok := c.Key(ctx, id)
	if !ok || old.Version != 1 {
		t.Fatalf("Key = version %d (%v), want 1", old.Version, ok)
	}
	next := cred(1, "acme")
	next.Version, next.RevokedAt = 2, time.Now()
	if !c.put(next) {
		t.Fatal("put refused")
	}
	c.hot.Store(newHotRecord(old, before)) // the losing reader's late store
	if rec, ok := c.Key(ctx, id); !ok || rec.Version != 2 || !rec.Revoked {
		t.Errorf("after the write, Key = version %d revoked %v (%v), want the revoked version 2", rec.Version, rec.Revoked, ok)
	}
}

// Options.HotKeys sizes the hot table: sized for them, twice as many slots
// as keys in use, all but about 1 % of the keys read stay decoded, where the default
// room could hold at most 16,384 of them.
func TestHotKeysSizedByOptions(t *testing.T) {
	const inUse = 2 * defaultHotKeys
	src := newMemSource()
	for i := range inUse {
		src.putCred(cred(i+1, "acme"))
	}
	c := newLoaded(t, src, Options{MissLookups: -1, HotKeys: 2 * inUse, ExpectedKeys: inUse})
	ctx := context.Background()
	for i := range inUse {
		if _, ok := c.Key(ctx, keyID(i+1)); !ok {
			t.Fatalf("key %d not found", i+1)
		}
	}
	kept := 0
	for i := range inUse {
		if _, ok := c.hot.Find(keyID(i+1), nil); ok {
			kept++
		}
	}
	if kept < inUse*97/100 {
		t.Errorf("%d of %d keys kept decoded, want at least 97 %% (a set of 7 that draws more of them evicts)", kept, inUse)
	}
}
