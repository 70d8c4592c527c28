package jwtverify

import (
	"time"
	"unsafe"

	"github.com/partnergate/partnergate/internal/assoc"
)

// tokenCache remembers verified tokens by the SHA-256 of their exact bytes,
// so a repeated token skips the signature. It is a bounded, lock-free
// set-associative table ([assoc.Table]): a look-up takes no lock, reads
// one set's cache line and the entry whose tag matches, and so scales with
// the cores calling it; a full set gives up an entry in turn.
type tokenCache struct {
	table *assoc.Table[cacheEntry]
	ttl   time.Duration
}

// cacheEntry is immutable once stored.
type cacheEntry struct {
	sum [32]byte // the token's SHA-256, the entry's key
	p   *Principal
	// until is when the entry dies: the token's exp or the cache TTL from
	// insertion, whichever comes first.
	until time.Time
	is    *issuer
	gen   uint64 // the issuer's key generation when the token was verified
}

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	return &tokenCache{table: assoc.New(size, func(e *cacheEntry) string { return sumKey(&e.sum) }), ttl: ttl}
}

// sumKey views a SHA-256 as the table's string key, without copying: the
// table only reads keys, and an entry's sum never changes.
func sumKey(sum *[32]byte) string { return unsafe.String(&sum[0], len(sum)) }

// get returns the principal cached under key if it is still alive at now
// and no key of its issuer has been withdrawn since it was verified.
func (c *tokenCache) get(key *[32]byte, now time.Time) (*Principal, bool) {
	e, ok := c.table.Find(sumKey(key), nil)
	if !ok || !now.Before(e.until) || e.is.generation() != e.gen {
		return nil, false
	}
	return e.p, true
}

// put caches p under key until the earlier of p's expiry and now + TTL.
func (c *tokenCache) put(key *[32]byte, p *Principal, is *issuer, gen uint64, now time.Time) {
	until := now.Add(c.ttl)
	if p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	if !now.Before(until) {
		return // accepted only thanks to the leeway: never cache
	}
	c.table.Store(&cacheEntry{sum: *key, p: p, until: until, is: is, gen: gen})
}
