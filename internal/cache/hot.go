package cache

import (
	"strings"

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
func newHotKeys() *assoc.Table[partner.KeyRecord] {
	return assoc.New(hotKeys, func(r *partner.KeyRecord) string { return r.ID })
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
	rec.ID = strings.Clone(rec.ID) // not the caller's request memory
	c.putMu.Lock()
	defer c.putMu.Unlock()
	if c.keyWrites.Load() == before {
		c.hot.Store(&rec)
	}
}
