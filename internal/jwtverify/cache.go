package jwtverify

import (
	"time"
	"unsafe"

	"github.com/partnergate/partnergate/internal/assoc"
)

// tokenCache remembers verified tokens by the SHA-256 of their exact bytes,
// so a repeated token skips the signature. It is a bounded, lock-free
// set-associative table ([assoc.Table]): a look-up takes no lock, reads
// one set's cache line (two, for a token in its second set) and the entry
// whose tag matches, and so scales with the cores calling it.
//
// A miss costs a signature verification, a hundred times a hit, so the
// table gives each token two sets ([assoc.NewTwoChoice]): with one, sized
// twice the tokens in use, the tokens of the sets that drew more than
// seven evicted each other and one look-up in 40 paid a signature; sized
// for them, one in four. With two, a table up to three quarters full
// keeps every token; full, it misses about one look-up in 20.
type tokenCache struct {
	table *assoc.Table[cacheEntry]
	ttl   time.Duration
}

// cacheEntry is immutable once stored. It holds its own copy of the
// principal, and that copy's strings and scopes in its room when they fit
// (they do unless they pass 376 bytes or the token carries more than 8
// scopes): an entry is one 768-byte allocation. With a thousand tokens
// taking turns an entry is rarely in the CPU's caches, and a Check reads
// nearly all of it; in one block that is adjacent lines of one or two
// pages, where the principal parsed from JSON was a struct, a slice and
// seven strings, as many pages apart.
type cacheEntry struct {
	sum [32]byte // the token's SHA-256, the entry's key
	// until is when the entry dies: the token's exp or the cache TTL from
	// insertion, whichever comes first.
	until time.Time
	is    *issuer
	gen   uint64 // the issuer's key generation when the token was verified
	p     Principal

	scopes [entryScopes]string // p.Scopes, when they fit
	room   [entryRoom]byte     // the bytes of p's strings, when they fit
}

const (
	entryScopes = 8
	entryRoom   = 376
)

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	return &tokenCache{table: assoc.NewTwoChoice(size, func(e *cacheEntry) string { return sumKey(&e.sum) }), ttl: ttl}
}

// sumKey views a SHA-256 as the table's string key, without copying: the
// table only reads keys, and an entry's sum never changes.
func sumKey(sum *[32]byte) string { return unsafe.String(&sum[0], len(sum)) }

// get returns the principal cached under key if it is still alive at now
// and no key of its issuer has been withdrawn since it was verified.
func (c *tokenCache) get(key *[32]byte, now time.Time) (*Principal, *issuer, bool) {
	e, ok := c.table.Find(sumKey(key), nil)
	if !ok || !now.Before(e.until) || e.is.generation() != e.gen {
		return nil, nil, false
	}
	return &e.p, e.is, true
}

// put caches a copy of p under key until the earlier of p's expiry and
// now + TTL, and returns the principal to hand out: the cached copy, or p
// if it is not cached.
func (c *tokenCache) put(key *[32]byte, p *Principal, is *issuer, gen uint64, now time.Time) *Principal {
	until := now.Add(c.ttl)
	if p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	if !now.Before(until) {
		return p // accepted only thanks to the leeway: never cache
	}
	e := &cacheEntry{sum: *key, until: until, is: is, gen: gen, p: *p}
	e.compact(is.cfg.Issuer)
	c.table.Store(e)
	return &e.p
}

// compact points the principal's strings and scopes at copies in the
// entry itself, when all of them fit; the issuer, when it is the
// configured one, at the configuration's string, which every entry of
// the issuer shares.
func (e *cacheEntry) compact(issuer string) {
	p := &e.p
	if p.Issuer == issuer {
		p.Issuer = issuer
	}
	need := len(p.ClientID) + len(p.ScopeList) + len(p.JTI) + len(p.Subject) + len(p.CertThumbprint) + len(p.KeyThumbprint)
	for _, s := range p.Scopes {
		need += len(s)
	}
	if need > len(e.room) || len(p.Scopes) > len(e.scopes) {
		return
	}
	room := e.room[:]
	keep := func(s string) string {
		s, room, _ = assoc.Keep(room, s) // all fit: need is at most the room
		return s
	}
	p.ClientID, p.ScopeList, p.JTI = keep(p.ClientID), keep(p.ScopeList), keep(p.JTI)
	p.Subject, p.CertThumbprint, p.KeyThumbprint = keep(p.Subject), keep(p.CertThumbprint), keep(p.KeyThumbprint)
	if p.Scopes != nil {
		for i, s := range p.Scopes {
			e.scopes[i] = keep(s)
		}
		p.Scopes = e.scopes[:len(p.Scopes):len(p.Scopes)]
	}
}
