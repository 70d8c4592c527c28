package cache

// Test strategy: the index must hold every live credential and nothing
// else, whatever the feed writes and whenever a compaction runs. The
// first test shows the growth compaction exists for (with it turned off,
// the index grows with every write the feed applies) and that compaction
// bounds it; the second races writers, readers and compactions and checks
// after every write that the cache answers with exactly that write, and at
// the end that every key holds its last one. Both fail when compaction is
// off or copies without the write lock (see index.unlockedCopy).

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// capacity returns the bytes of every bigcache queue the index holds.
func (x *index) capacity() int {
	n := 0
	for i := range x.segs {
		n += x.segs[i].cur.Load().Capacity()
	}
	return n
}

// settle waits for the compactor to finish, or fails t.
func (x *index) settle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); x.compacting.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("compaction did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestFeedWritesDoNotGrowTheIndex(t *testing.T) {
	for _, tc := range []struct {
		name    string
		compact bool
	}{{"compacting", true}, {"never-compacting", false}} {
		t.Run(tc.name, func(t *testing.T) {
			const keys, rounds = 20_000, 10
			src := newMemSource()
			src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
			for i := range keys {
				src.creds[keyID(i)] = cred(i, "acme")
			}
			c := newLoaded(t, src, Options{MissLookups: -1})
			if !tc.compact {
				c.keys.closed.Store(true) // no compactor starts
			}
			loaded, heap0 := c.keys.capacity(), liveHeap()

			// Every key revoked and restored, round after round, through
			// the feed: rounds times as many writes as keys.
			ctx := context.Background()
			for r := range rounds {
				for i := range keys {
					next := cred(i, "acme")
					next.Version = int64(r + 2)
					if r%2 == 0 {
						next.RevokedAt = time.Now()
					}
					src.putCred(next)
				}
				if err := c.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			c.keys.settle(t)
			after, heap1 := c.keys.capacity(), liveHeap()
			t.Logf("index %d → %d KiB, live heap %d → %d KiB, after %d writes to %d keys; %d compactions",
				loaded>>10, after>>10, heap0>>10, heap1>>10, rounds*keys, keys, c.keys.compactions.Load())
			if got := c.Len(); got != keys {
				t.Fatalf("holds %d keys, want %d", got, keys)
			}
			for i := range keys {
				if rec, ok := c.Key(ctx, keyID(i)); !ok || rec.Version != rounds+1 || rec.Revoked {
					t.Fatalf("key %d = version %d revoked %v (%v), want the last write", i, rec.Version, rec.Revoked, ok)
				}
			}
			bound := 2*loaded + c.keys.shards*indexSegments*minShardBytes
			switch {
			case tc.compact && after > bound:
				// Each compaction rebuilds a segment for its live entries
				// and their headroom; a queue that filled first has
				// doubled once.
				t.Errorf("index grew from %d to %d bytes over %d writes: not bounded by its live entries", loaded, after, rounds*keys)
			case !tc.compact && after < 5*loaded:
				// bigcache keeps every overwritten entry's bytes: without
				// compaction the index grows with the writes. If it no
				// longer does, this test no longer shows what compaction
				// is for.
				t.Errorf("without compaction the index grew only from %d to %d bytes over %d writes", loaded, after, rounds*keys)
			}
		})
	}
}

func TestCompactionRacesNeverLoseOrResurrectAWrite(t *testing.T) {
	const writers, perWriter, writes = 4, 24, 6000
	src := newMemSource()
	src.putPartner(&partner.Partner{ID: "acme", State: partner.Active})
	for i := range writers * perWriter {
		src.creds[keyID(i)] = cred(i, "acme")
	}
	// One shard per segment: a segment fills, and is compacted, every few
	// writes.
	c := newLoaded(t, src, Options{MissLookups: -1, Shards: indexSegments, HotKeys: 64})
	c.keys.copyYield = runtime.Gosched
	c.yield = runtime.Gosched
	ctx := context.Background()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
					c.Key(ctx, keyID(rng.IntN(writers*perWriter)))
				}
			}
		})
	}

	// final[i] is key i's last write: its version, or 0 once removed.
	final := make([]int64, writers*perWriter)
	for i := range final {
		final[i] = 1
	}
	var wg sync.WaitGroup
	errs := make(chan string, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			versions := make([]int64, perWriter)
			for j := range versions {
				versions[j] = 1
			}
			for range writes {
				j := rng.IntN(perWriter)
				id := w*perWriter + j
				versions[j]++
				if rng.IntN(4) == 0 {
					c.remove(keyID(id))
					final[id] = 0
				} else {
					next := cred(id, "acme")
					next.Version = versions[j]
					if versions[j]%2 == 0 {
						next.RevokedAt = time.Now()
					}
					if !c.put(next) {
						errs <- "a newer version was refused"
						return
					}
					final[id] = versions[j]
				}
				// This writer's keys are its own: every one of them must
				// answer with its last write, whatever compactions ran.
				for k := range perWriter {
					id := w*perWriter + k
					rec, ok := c.Key(ctx, keyID(id))
					if want := final[id]; (want == 0) == ok || (ok && (rec.Version != want || rec.Revoked != (want%2 == 0))) {
						errs <- "key " + strconv.Itoa(id) + " last written at version " + strconv.FormatInt(want, 10) +
							" (0: removed) answered version " + strconv.FormatInt(rec.Version, 10)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	c.keys.settle(t)
	for id, v := range final {
		rec, ok := c.Key(ctx, keyID(id))
		switch {
		case v == 0 && ok:
			t.Errorf("key %d was removed last, holds version %d", id, rec.Version)
		case v != 0 && (!ok || rec.Version != v):
			t.Errorf("key %d was last written at version %d, holds %d (%v)", id, v, rec.Version, ok)
		}
	}
	if n := c.keys.compactions.Load(); n < 50 {
		t.Fatalf("only %d compactions ran: the race was not exercised", n)
	} else {
		t.Logf("%d compactions", n)
	}
}
