package cache

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
)

// The credential index: key id → encoded record (codec.go), in bigcache.
//
// bigcache keeps each shard's entries in one byte queue and never reclaims
// the bytes of an overwritten or deleted entry until the queue wraps past
// them (shard.go's set only zeroes the old entry's hash; bytes_queue.go
// frees space only by popping the oldest entry). With no eviction, as a
// credential index needs (HardMaxCacheSize 0, a LifeWindow that outlasts
// the process), the queue never wraps: every write the change feed applies
// would grow it for good. So the index is split into segments, each its
// own bigcache, and a segment whose queue is about to outgrow the room it
// was built with is compacted: its live entries are copied into a fresh
// bigcache, sized for them, which is then swapped in. Readers load a
// segment through an atomic pointer and never wait for a compaction; at
// most one segment is compacted at a time, so the extra memory a
// compaction holds is one segment's live entries.
//
// A queue that fills before its compaction doubles as bigcache grows it
// (bytes_queue.go's allocateAdditionalMemory); segments are therefore
// built with headroom and compacted before they fill.

// indexSegments is the number of segments: the transient of a compaction
// is one of them.
const indexSegments = 16

// Sizing of a segment's bigcache.
const (
	// headroom is the room a segment is built with, over its live bytes,
	// for writes before its next compaction.
	headroom = 1.125
	// wrapOverhead is what bigcache's queue adds to a key and its value:
	// its 18-byte header (timestamp, hash, key length; encoding.go) and
	// the queue's length prefix, 1 or 2 bytes for these entries.
	wrapOverhead = 18 + 2
	// defaultEntry is the wrapped size assumed of an entry before any is
	// seen: a 12-character id, 32-byte digest, short partner id and scopes.
	defaultEntry = 128
	// mapHint is how many entries a shard's hash maps are sized for up
	// front. bigcache sizes both its map and its (unused) stats map with
	// MaxEntriesInWindow/Shards, and its per-shard entry buffer with
	// MaxEntrySize; the queue's capacity is the product. A small hint with
	// a large MaxEntrySize sizes the queue alone, and lets the maps grow
	// on their own, table by table.
	mapHint = 256
	// minShardBytes is the smallest queue a shard is built with.
	minShardBytes = 2 << 10
)

// index is the segmented credential index. Writes — set, del and the
// steps of a compaction — are serialized by mu, which the cache's putMu
// is: a newer row version always wins. Reads take no lock of it.
type index struct {
	mu     *sync.Mutex
	seed   maphash.Seed
	shards int // bigcache shards per segment
	segs   [indexSegments]segment
	logf   func(msg string, args ...any)

	compacting atomic.Bool    // a compactor goroutine is running
	closed     atomic.Bool    // Close has begun: no new compactor
	wg         sync.WaitGroup // the compactor
	// copyYield, if set, runs between a compaction's batches (tests).
	copyYield func()
	// compactions counts completed compactions.
	compactions atomic.Int64
	// unlockedCopy breaks the compaction's rule for a test that must see
	// it fail: entries are copied without mu and without looking at next.
	unlockedCopy bool
}

// segment is one bigcache of the index and its accounting, all but cur
// guarded by index.mu.
type segment struct {
	cur atomic.Pointer[bigcache.BigCache]
	// next, while a compaction builds it, receives every write cur does.
	next *bigcache.BigCache
	// live and liveBytes are the entries held and their wrapped bytes;
	// pushed are the bytes written into cur's queues since it was built
	// (live and dead); room is how many cur was built for; nextPushed
	// are the bytes written into next so far.
	live, liveBytes, pushed, room, nextPushed int64
}

// newIndex returns an index with totalShards bigcache shards in all,
// sized for entries entries of entryBytes wrapped bytes each.
func newIndex(mu *sync.Mutex, totalShards, entries, entryBytes int, logf func(string, ...any)) (*index, error) {
	x := &index{mu: mu, seed: maphash.MakeSeed(), shards: segmentShards(totalShards), logf: logf}
	for i := range x.segs {
		b, room, err := x.build(int64(entries*entryBytes) / indexSegments)
		if err != nil {
			return nil, err
		}
		x.segs[i].cur.Store(b)
		x.segs[i].room = room
	}
	return x, nil
}

// build returns a bigcache whose queues hold bytes in all, and the room
// it was built with.
func (x *index) build(bytes int64) (*bigcache.BigCache, int64, error) {
	perShard := max(minShardBytes, int64(math.Ceil(float64(bytes)*headroom/float64(x.shards))))
	// bigcache's queue capacity is MaxEntriesInWindow/Shards times
	// MaxEntrySize: see mapHint.
	entrySize := int(min(int64(math.MaxInt32), (perShard+mapHint-1)/mapHint))
	b, err := bigcache.New(context.Background(), bigcache.Config{
		Shards: x.shards,
		// Credentials never age out of the index: they leave when the feed
		// says so. (bigcache evicts the oldest entry on Set once it is older
		// than LifeWindow, so the window must outlast the process.)
		LifeWindow:         time.Duration(math.MaxInt64),
		MaxEntriesInWindow: mapHint * x.shards,
		MaxEntrySize:       entrySize,
		HardMaxCacheSize:   0, // never evict a live credential for space
	})
	if err != nil {
		return nil, 0, fmt.Errorf("cache: %w", err)
	}
	return b, int64(entrySize) * mapHint * int64(x.shards), nil
}

// wrapped is the bytes an entry takes in bigcache's queue.
func wrapped(key string, value []byte) int64 {
	return int64(len(key) + len(value) + wrapOverhead)
}

func (x *index) seg(key string) *segment {
	// Its own seed, so the segment says nothing about the bigcache shard
	// (which bigcache picks from its own hash of the key).
	return &x.segs[maphash.String(x.seed, key)&(indexSegments-1)]
}

// get returns a copy of key's entry. It takes no lock of the index.
func (x *index) get(key string) ([]byte, error) {
	return x.seg(key).cur.Load().Get(key)
}

// set stores value, an encoded record, under key unless the entry held is
// of the same or a newer row version. It reports whether it stored value,
// and whether it replaced an entry. The caller holds mu.
func (x *index) set(key string, value []byte) (stored, replaced bool, err error) {
	s := x.seg(key)
	cur := s.cur.Load()
	old, err := cur.Get(key)
	if err != nil {
		old = nil
	} else if held, ok := version(old); ok {
		if v, _ := version(value); held >= v {
			return false, false, nil
		}
	}
	if err := cur.Set(key, value); err != nil {
		// bigcache drops the old entry before it pushes the new one.
		if old != nil {
			s.live--
			s.liveBytes -= wrapped(key, old)
		}
		return false, old != nil, err
	}
	n := wrapped(key, value)
	if s.next != nil {
		if err := s.next.Set(key, value); err != nil {
			return false, true, err
		}
		s.nextPushed += n
	}
	if old != nil {
		s.liveBytes -= wrapped(key, old)
	} else {
		s.live++
	}
	s.liveBytes += n
	s.pushed += n
	x.maybeCompact(s)
	return true, old != nil, nil
}

// add stores value under key, which must not be held. The caller holds
// mu.
func (x *index) add(key string, value []byte) error {
	s := x.seg(key)
	if err := s.cur.Load().Set(key, value); err != nil {
		return err
	}
	n := wrapped(key, value)
	if s.next != nil {
		if err := s.next.Set(key, value); err != nil {
			return err
		}
		s.nextPushed += n
	}
	s.live++
	s.liveBytes += n
	s.pushed += n
	x.maybeCompact(s)
	return nil
}

// del removes key. The caller holds mu.
func (x *index) del(key string) {
	s := x.seg(key)
	cur := s.cur.Load()
	if old, err := cur.Get(key); err == nil {
		s.live--
		s.liveBytes -= wrapped(key, old)
	}
	_ = cur.Delete(key)
	if s.next != nil {
		_ = s.next.Delete(key)
	}
}

// len returns the number of entries held.
func (x *index) len() int {
	n := 0
	for i := range x.segs {
		n += x.segs[i].cur.Load().Len()
	}
	return n
}

// each calls f with every entry, segment by segment; entries written
// meanwhile may or may not be seen. It takes no lock of the index.
func (x *index) each(f func(key string, value []byte)) {
	for i := range x.segs {
		it := x.segs[i].cur.Load().Iterator()
		for it.SetNext() {
			if e, err := it.Value(); err == nil {
				f(e.Key(), e.Value())
			}
		}
	}
}

// resize rebuilds every segment, empty, for entries entries of entryBytes
// wrapped bytes each, and reports whether it did: it does not once any
// entry is held. The caller holds mu.
func (x *index) resize(entries, entryBytes int) (bool, error) {
	for i := range x.segs {
		if x.segs[i].live > 0 || x.segs[i].next != nil {
			return false, nil
		}
	}
	for i := range x.segs {
		b, room, err := x.build(int64(entries) * int64(entryBytes) / indexSegments)
		if err != nil {
			return false, err
		}
		old := x.segs[i].cur.Swap(b)
		x.segs[i].room, x.segs[i].pushed = room, 0
		_ = old.Close()
	}
	return true, nil
}

// maybeCompact starts the compactor if segment s's queue is nearly full.
// The caller holds mu.
func (x *index) maybeCompact(s *segment) {
	if s.pushed < s.room*15/16 || s.next != nil {
		return
	}
	if x.closed.Load() || !x.compacting.CompareAndSwap(false, true) {
		return
	}
	x.wg.Add(1)
	go x.compactor()
}

// compactor compacts, one at a time, every segment that needs it, then
// exits.
func (x *index) compactor() {
	defer x.wg.Done()
	for {
		did := false
		for i := range x.segs {
			if x.closed.Load() {
				x.compacting.Store(false)
				return
			}
			x.mu.Lock()
			need := x.segs[i].pushed >= x.segs[i].room*15/16
			x.mu.Unlock()
			if need {
				if err := x.compact(&x.segs[i]); err != nil {
					x.logf("cache: compacting the index failed; it keeps growing until the next try", "err", err)
				}
				did = true
			}
		}
		if !did {
			x.compacting.Store(false)
			// A write that saw the flag still set, after the last check,
			// started no compactor: look once more.
			x.mu.Lock()
			again := false
			for i := range x.segs {
				again = again || x.segs[i].pushed >= x.segs[i].room*15/16
			}
			x.mu.Unlock()
			if !again || x.closed.Load() || !x.compacting.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// copyBatch is how many entries a compaction copies per hold of mu: the
// longest a write waits for it.
const copyBatch = 256

// compact copies segment s's live entries into a fresh bigcache and swaps
// it in. From the moment next exists every write goes to both, under mu;
// an entry is copied under mu too, and only if next does not hold its key
// yet — a write since then is newer — and cur still does — a removal
// since then is final. So no write is lost, and no removed or older entry
// comes back.
func (x *index) compact(s *segment) error {
	x.mu.Lock()
	cur := s.cur.Load()
	next, room, err := x.build(s.liveBytes)
	if err != nil {
		x.mu.Unlock()
		return err
	}
	s.next, s.nextPushed = next, 0
	x.mu.Unlock()

	keys := make([]string, 0, copyBatch)
	flush := func() {
		if x.unlockedCopy {
			for _, k := range keys {
				if v, err := cur.Get(k); err == nil {
					x.yield()
					_ = next.Set(k, v)
				}
			}
			keys = keys[:0]
			return
		}
		x.mu.Lock()
		for _, k := range keys {
			if _, err := next.Get(k); err == nil {
				continue
			}
			if v, err := cur.Get(k); err == nil && next.Set(k, v) == nil {
				s.nextPushed += wrapped(k, v)
			}
		}
		x.mu.Unlock()
		keys = keys[:0]
		x.yield()
	}
	it := cur.Iterator()
	for it.SetNext() {
		if e, err := it.Value(); err == nil {
			keys = append(keys, e.Key())
		}
		if len(keys) == copyBatch {
			flush()
		}
	}
	flush()

	x.mu.Lock()
	s.cur.Store(next)
	s.next = nil
	s.room = room
	s.pushed = max(s.nextPushed, s.liveBytes)
	x.mu.Unlock()
	x.compactions.Add(1)
	return cur.Close()
}

func (x *index) yield() {
	if x.copyYield != nil {
		x.copyYield()
	}
}

// close stops compacting, waits for a compaction under way, and releases
// every segment.
func (x *index) close() error {
	x.mu.Lock() // maybeCompact runs under mu: none starts after this
	x.closed.Store(true)
	x.mu.Unlock()
	x.wg.Wait()
	var err error
	for i := range x.segs {
		if e := x.segs[i].cur.Load().Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// segmentShards returns the bigcache shards of each segment for a total of
// n, a power of two.
func segmentShards(n int) int {
	return max(1, 1<<bits.Len(uint(max(1, n/indexSegments))-1))
}
