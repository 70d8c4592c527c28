package cache

import (
	"hash/maphash"
	"strings"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/partner"
)

// hotSets and hotWays size the hot-key table: 16,384 records at most,
// about 3 MB.
const (
	hotSets = 8192
	hotWays = 2
)

// hotKeys holds the decoded records of keys in use, in front of bigcache.
// A bigcache hit takes the shard's lock, reads its map and its entry —
// scattered over the whole index, so each a likely CPU-cache and TLB miss
// with a million keys — copies both and decodes; the keys a partner's
// machines send again and again are answered from here instead, from
// memory that stays hot.
//
// It is two-way set-associative and lock-free for readers. Every write of
// a key to the index forgets that key here (Cache.wroteKey), and a record
// read from bigcache is added only if no write happened since before that
// read (Cache.remember), so a revoked or removed key is never answered
// from an older record.
type hotKeys struct {
	seed   maphash.Seed
	victim atomic.Uint32 // which way the next insertion replaces
	sets   [hotSets][hotWays]atomic.Pointer[partner.KeyRecord]
}

func newHotKeys() *hotKeys { return &hotKeys{seed: maphash.MakeSeed()} }

func (h *hotKeys) set(id string) *[hotWays]atomic.Pointer[partner.KeyRecord] {
	return &h.sets[maphash.String(h.seed, id)%hotSets]
}

// get returns the record of id, if held.
func (h *hotKeys) get(id string) (*partner.KeyRecord, bool) {
	set := h.set(id)
	for i := range set {
		if r := set[i].Load(); r != nil && r.ID == id {
			return r, true
		}
	}
	return nil, false
}

// add holds r, replacing an empty way, r's own, or one in turn.
func (h *hotKeys) add(r *partner.KeyRecord) {
	set := h.set(r.ID)
	way := -1
	for i := range set {
		if cur := set[i].Load(); cur == nil || cur.ID == r.ID {
			way = i
			break
		}
	}
	if way < 0 {
		way = int(h.victim.Add(1) % hotWays)
	}
	set[way].Store(r)
}

// forget drops id's record, if held.
func (h *hotKeys) forget(id string) {
	set := h.set(id)
	for i := range set {
		if r := set[i].Load(); r != nil && r.ID == id {
			set[i].CompareAndSwap(r, nil)
		}
	}
}

// wroteKey records a write of key id to the index. The caller holds putMu
// and has finished the write: the counter moves after it, so a reader that
// saw the old count may have read the old entry, and will not keep it.
func (c *Cache) wroteKey(id string) {
	c.hot.forget(id)
	c.keyWrites.Add(1)
}

// remember adds rec, read from bigcache after the write count was seen to
// be before, to the hot keys, unless a write has happened since.
func (c *Cache) remember(rec partner.KeyRecord, before uint64) {
	rec.ID = strings.Clone(rec.ID) // not the caller's request memory
	c.putMu.Lock()
	defer c.putMu.Unlock()
	if c.keyWrites.Load() == before {
		c.hot.add(&rec)
	}
}
