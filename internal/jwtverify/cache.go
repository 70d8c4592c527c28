package jwtverify

import (
	"sync"
	"time"
)

// tokenCache remembers verified tokens by the SHA-256 of their exact bytes,
// so a repeated token skips the signature. It is sharded so that readers of
// one shard never wait on writers of another; a shard lock is held only for
// a map operation, never across I/O.
type tokenCache struct {
	shards   []cacheShard
	perShard int
	ttl      time.Duration
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	p *Principal
	// until is when the entry dies: the token's exp or the cache TTL from
	// insertion, whichever comes first.
	until time.Time
	is    *issuer
	gen   uint64 // the issuer's key generation when the token was verified
}

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	n := 1
	for n < 64 && n*2*16 <= size {
		n *= 2
	}
	c := &tokenCache{shards: make([]cacheShard, n), perShard: max(1, size/n), ttl: ttl}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard {
	// The key is a SHA-256: any bits are uniform.
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the principal cached under key if it is still alive at now
// and no key of its issuer has been withdrawn since it was verified.
func (c *tokenCache) get(key *[32]byte, now time.Time) (*Principal, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[*key]
	s.mu.RUnlock()
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
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for k, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, k) // map order is random: random eviction
		}
	}
	s.m[*key] = cacheEntry{p: p, until: until, is: is, gen: gen}
}
