package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// A key answered from the hot table must still follow every change the
// feed brings: revocation, a new row, removal.
func TestHotKeysFollowTheFeed(t *testing.T) {
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", Tier: "gold", State: partner.Active})
	src.putCred(cred(1, "acme"))
	c := newLoaded(t, src, Options{})
	ctx := context.Background()

	for range 2 { // the first read fills the hot table, the second reads it
		if rec, ok := c.Key(ctx, keyID(1)); !ok || rec.Revoked {
			t.Fatalf("Key = %+v, %v; want the live key", rec, ok)
		}
	}
	if _, ok := c.hot.Find(keyID(1), nil); !ok {
		t.Fatal("a key read twice is not in the hot table")
	}

	revoked := cred(1, "acme")
	revoked.Version = 2
	revoked.RevokedAt = time.Now()
	src.putCred(revoked)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
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

// Readers racing a writer must never put an older record back in the hot
// table: once a write returns, every read sees it. Run with -race.
func TestHotKeysNeverKeepAnOlderRecord(t *testing.T) {
	src := newMemSource()
	src.putCred(cred(1, "acme"))
	c := newLoaded(t, src, Options{MissLookups: -1})
	ctx := context.Background()
	id := keyID(1)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					c.Key(ctx, id)
				}
			}
		})
	}
	defer func() { close(stop); readers.Wait() }()

	for v := int64(2); v <= 2000; v++ {
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
}
