package cache

import (
	"bytes"
	"crypto/sha256"
	"strings"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/assoc"
	"github.com/partnergate/partnergate/internal/partner"
)

// hotKeys sizes the hot-key table: 16,384 records at most, about 3 MB.
const hotKeys = 16384

// newHotKeys returns the table of decoded records of keys in use, in
// front of bigcache. A bigcache hit takes the shard's lock, reads its map
// and its entry — scattered over the whole index, so each a likely
// CPU-cache and TLB miss with a million keys — copies both and decodes;
// the keys a partner's machines send again and again are answered from
// here instead, from memory that stays hot.
//
// Every write of a key to the index forgets that key here
// (Cache.wroteKey), and a record read from bigcache is added only if no
// write happened since before that read (Cache.remember), so a revoked or
// removed key is never answered from an older record.
func newHotKeys() *assoc.Table[hotRecord] {
	return assoc.New(hotKeys, func(r *hotRecord) string { return r.rec.ID })
}

// hotRecord is a record in the hot-key table, with its id and digest in
// the same allocation when they fit (an API key's id and an HMAC-SHA256
// digest always do). With a thousand keys taking turns a
// record is rarely in the CPU's caches, and a Check reads all of these:
// in one block they are adjacent lines of one page, where separate
// allocations were as many pages.
type hotRecord struct {
	rec  partner.KeyRecord
	room [apikey.IDLen + sha256.Size]byte
}

func newHotRecord(rec partner.KeyRecord) *hotRecord {
	h := &hotRecord{rec: rec}
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

// wroteKey records a write of key id to the index. The caller holds putMu
// and has finished the write: the counter moves after it, so a reader that
// saw the old count may have read the old entry, and will not keep it.
func (c *Cache) wroteKey(id string) {
	c.hot.Forget(id)
	c.keyWrites.Add(1)
}

// remember adds rec, read from bigcache after the write count was seen to
// be before, to the hot keys, unless a write has happened since.
func (c *Cache) remember(rec partner.KeyRecord, before uint64) {
	h := newHotRecord(rec)
	c.putMu.Lock()
	defer c.putMu.Unlock()
	if c.keyWrites.Load() == before {
		c.hot.Store(h)
	}
}
