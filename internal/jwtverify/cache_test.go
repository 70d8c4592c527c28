package jwtverify

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// The cache answers only for the exact token hashed, only while the entry
// lives, and never holds more than its size.
func TestTokenCacheBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	is := &issuer{} // a shared secret: generation 0
	c := newTokenCache(700, time.Minute)
	p := &Principal{ClientID: "c", ExpiresAt: now.Add(time.Hour)}
	sum := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }

	first := sum(0)
	c.put(&first, p, is, is.generation(), now)
	if got, ok := c.get(&first, now.Add(59*time.Second)); !ok || got != p {
		t.Fatalf("get within the TTL = %v, %v", got, ok)
	}
	if _, ok := c.get(&first, now.Add(time.Minute)); ok {
		t.Error("entry outlived the TTL")
	}
	other := sum(1)
	if _, ok := c.get(&other, now); ok {
		t.Error("another token's hash hit")
	}

	for i := range 10 * c.table.Cap() {
		s := sum(i)
		c.put(&s, p, is, is.generation(), now)
	}
	held := 0
	for i := range 10 * c.table.Cap() {
		s := sum(i)
		if _, ok := c.get(&s, now); ok {
			held++
		}
	}
	if held == 0 || held > c.table.Cap() || c.table.Cap() > 700+6 {
		t.Errorf("holds %d of capacity %d, sized for 700", held, c.table.Cap())
	}
}
