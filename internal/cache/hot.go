package cache

import (
	"bytes"
	"crypto/sha256"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/assoc"
	"github.com/partnergate/partnergate/internal/partner"
)

// defaultHotKeys sizes the hot-key table when [Options] does not: 16,384
// records at most, about 3 MB.
const defaultHotKeys = 16384

// newHotKeys returns the table of decoded records of keys in use, in
// front of bigcache. A bigcache hit takes the shard's lock, reads its map
// and its entry — scattered over the whole index, so each a likely
// CPU-cache and TLB miss with a million keys — copies both and decodes;
// the keys a partner's machines send again and again are answered from
// here instead, from memory that stays hot.
//
// A record answers only while no write to its key's stripe has happened
// since before it was read from bigcache (Cache.wroteKey), so a revoked
// or removed key is never answered from an older record once the write
// returns. Neither readers nor writers of the table take a lock.
func newHotKeys(n int) *assoc.Table[hotRecord] {
	return assoc.New(n, func(r *hotRecord) string { return r.rec.ID })
}

// hotRecord is a record in the hot-key table, with its id and digest in
// the same allocation when they fit (an API key's id and an HMAC-SHA256
// digest always do). With a thousand keys taking turns a
// record is rarely in the CPU's caches, and a Check reads all of these:
// in one block they are adjacent lines of one page, where separate
// allocations were as many pages.
type hotRecord struct {
	rec partner.KeyRecord
	// writes is the count of writes to the key's stripe seen before the
	// record was read from the index: the record answers only while the
	// count is still that.
	writes uint64
	room   [apikey.IDLen + sha256.Size]byte
}

func newHotRecord(rec partner.KeyRecord, writes uint64) *hotRecord {
	h := &hotRecord{rec: rec, writes: writes}
	id, rest, ok := assoc.Keep(h.room[:], rec.ID)
	if !ok || len(rest) < len(rec.Digest) {
		// Not the caller's request memory, and not the caller's copy
		// of the digest either.
		h.rec.ID, h.rec.Digest = strings.Clone(rec.ID), bytes.Clone(rec.Digest)
		return h
	}
	n := copy(rest, rec.Digest)
	h.rec.ID, h.rec.Digest = id, rest[:n:n]
	return h
}

// keyWrites counts writes to keys, in stripes by key id: a write
// invalidates the hot records of its own stripe only, so a busy change
// feed does not empty the whole table.
type keyWrites struct {
	seed    maphash.Seed
	stripes []atomic.Uint64 // a power of two of them
}

// newKeyWrites returns counters for a hot table of n records: at least
// 4,096 stripes, and one per two records, so that a write invalidates
// about two records besides its own key's.
func newKeyWrites(n int) keyWrites {
	size := 1 << bits.Len(uint(max(4096, n/2)-1))
	return keyWrites{seed: maphash.MakeSeed(), stripes: make([]atomic.Uint64, size)}
}

// of returns the counter of key id's stripe.
func (w *keyWrites) of(id string) *atomic.Uint64 {
	return &w.stripes[maphash.String(w.seed, id)&uint64(len(w.stripes)-1)]
}

// wroteKey records a write of key id to the index. The caller holds putMu
// and has finished the write. The stripe's counter moves after the write,
// and a hot record answers only while its stripe's count is the one seen
// before the record was read from the index ([Cache.Key]). So once the
// counter has moved, every record of the key read before the write is
// dead, wherever a racing reader stores it and whenever: no lock orders
// readers against writers. (Go's atomic operations are sequentially
// consistent.) Forgetting the key here only frees its slot early.
func (c *Cache) wroteKey(id string) {
	c.writes.of(id).Add(1)
	c.interleave()
	c.hot.Forget(id)
}

// remember adds rec, read from bigcache after its stripe's write count was
// seen to be before, to the hot keys, unless the count has moved since
// (the record would be dead on arrival).
func (c *Cache) remember(rec partner.KeyRecord, before uint64) {
	if c.writes.of(rec.ID).Load() != before {
		return
	}
	h := newHotRecord(rec, before)
	c.interleave()
	c.hot.Store(h)
}

// interleave runs the test's interleaving hook, if any, between the steps
// of [Cache.wroteKey] and [Cache.remember]: a stress test yields there, so
// readers and writers meet inside those steps and not only between them.
func (c *Cache) interleave() {
	if c.yield != nil {
		c.yield()
	}
}
