package dpop

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// replayShards spreads the replay cache's locks: a Check holds one only
// to look up and record one jti.
const replayShards = 64

// replayCache remembers (key, jti) pairs until the proofs carrying them
// could no longer be accepted, at most size of them (RFC 9449 §11.1).
type replayCache struct {
	perShard int
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu sync.Mutex
	// until maps the SHA-256 of (thumbprint, jti) to when it may be
	// forgotten, in Unix nanoseconds: fixed-size keys whatever the jti.
	until map[[32]byte]int64
}

func newReplayCache(size int) *replayCache {
	c := &replayCache{perShard: max(1, (size+replayShards-1)/replayShards)}
	for i := range c.shards {
		c.shards[i].until = make(map[[32]byte]int64)
	}
	return c
}

// add records (thumb, jti) until until, or reports that it is already
// recorded and alive at now ([ErrReplay]), or that the shard is full of
// live entries ([ErrReplayCacheFull]). A jti is unique per key, so two
// clients choosing the same jti do not collide.
func (c *replayCache) add(thumb, jti string, until, now time.Time) error {
	h := sha256.New()
	h.Write([]byte(thumb))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k [32]byte
	h.Sum(k[:0])
	s := &c.shards[k[0]%replayShards]
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.until[k]; ok && u > n {
		return ErrReplay
	}
	if len(s.until) >= c.perShard {
		for key, u := range s.until {
			if u <= n {
				delete(s.until, key)
			}
		}
		if len(s.until) >= c.perShard {
			return fmt.Errorf("%w: %d live proofs in a shard", ErrReplayCacheFull, len(s.until))
		}
	}
	s.until[k] = until.UnixNano()
	return nil
}
