package jwtverify

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/partnergate/partnergate/internal/partner"
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
	cached := c.put(&first, p, is, is.generation(), now)
	if !reflect.DeepEqual(cached, p) {
		t.Fatalf("put cached %+v, want a copy of %+v", cached, p)
	}
	if got, _, ok := c.get(&first, now.Add(59*time.Second)); !ok || got != cached {
		t.Fatalf("get within the TTL = %v, %v; want the principal put returned", got, ok)
	}
	if _, _, ok := c.get(&first, now.Add(time.Minute)); ok {
		t.Error("entry outlived the TTL")
	}
	other := sum(1)
	if _, _, ok := c.get(&other, now); ok {
		t.Error("another token's hash hit")
	}

	for i := range 10 * c.table.Cap() {
		s := sum(i)
		c.put(&s, p, is, is.generation(), now)
	}
	held := 0
	for i := range 10 * c.table.Cap() {
		s := sum(i)
		if _, _, ok := c.get(&s, now); ok {
			held++
		}
	}
	if held == 0 || held > c.table.Cap() || c.table.Cap() > 700+6 {
		t.Errorf("holds %d of capacity %d, sized for 700", held, c.table.Cap())
	}
}

// An entry holds the principal with its strings and scopes, all in its
// own block, equal to the principal verified; a principal too large for
// the room keeps its own memory, unchanged.
func TestCacheEntryIsOneBlock(t *testing.T) {
	if size := unsafe.Sizeof(cacheEntry{}); size != 768 {
		t.Errorf("a cache entry is %d bytes; its comment says 768", size)
	}
	now := time.Unix(1_800_000_000, 0)
	is := &issuer{cfg: IssuerConfig{Issuer: "https://idp.example.com/"}}
	verified := &Principal{
		Issuer: strings.Clone(is.cfg.Issuer), ClientID: "orders-sync-eu-west-1",
		Scopes: partner.Scopes{"orders:read", "orders:write", "shipments:read"}, ScopeList: "orders:read orders:write shipments:read",
		JTI: "2f1c8a4e-9b7d-4c3e-a1f0-6d5b4c3a2e1f", Subject: "orders-sync-eu-west-1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), CertThumbprint: strings.Repeat("T", 43),
	}
	want := *verified
	sum := sha256.Sum256([]byte("token"))
	c := newTokenCache(16, time.Minute)
	p := c.put(&sum, verified, is, 0, now)
	if !reflect.DeepEqual(*p, want) || !reflect.DeepEqual(*verified, want) {
		t.Fatalf("cached %+v, verified now %+v; want both %+v", *p, *verified, want)
	}
	e, ok := c.table.Find(sumKey(&sum), nil)
	if !ok || &e.p != p {
		t.Fatal("put did not return the cached entry's principal")
	}
	lo, hi := uintptr(unsafe.Pointer(e)), uintptr(unsafe.Pointer(e))+unsafe.Sizeof(*e)
	inside := func(p unsafe.Pointer) bool { return uintptr(p) >= lo && uintptr(p) < hi }
	for name, s := range map[string]string{"client id": p.ClientID, "scope list": p.ScopeList, "jti": p.JTI,
		"subject": p.Subject, "thumbprint": p.CertThumbprint, "scope": p.Scopes[2]} {
		if !inside(unsafe.Pointer(unsafe.StringData(s))) {
			t.Errorf("the %s is not in the entry", name)
		}
	}
	if !inside(unsafe.Pointer(unsafe.SliceData(p.Scopes))) {
		t.Error("the scopes' array is not in the entry")
	}
	if unsafe.StringData(p.Issuer) != unsafe.StringData(is.cfg.Issuer) {
		t.Error("the issuer is not the configuration's string")
	}

	long := want
	long.Subject = strings.Repeat("s", entryRoom)
	q := newTokenCache(16, time.Minute).put(&sum, &long, is, 0, now)
	if !reflect.DeepEqual(*q, long) || unsafe.StringData(q.Subject) != unsafe.StringData(long.Subject) {
		t.Error("a principal larger than the room was changed or moved")
	}
}

// A cache sized, as pgload sizes jwt.cache_size, for twice the tokens in
// use keeps every one of them: tokens taken in turn, each miss verified
// again and stored, as Verify does, never miss after the first round. (A
// one-choice table missed about one look-up in 40 here: the tokens of the
// sets that drew more than seven evicted each other in every round, each
// time paying a signature.)
func TestTokenCacheKeepsTheTokensItIsSizedFor(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	is := &issuer{}
	p := &Principal{ClientID: "c", ExpiresAt: now.Add(time.Hour)}
	const inUse = 20_000
	c := newTokenCache(2*inUse, 10*time.Minute)
	sums := make([][32]byte, inUse)
	for i := range sums {
		sums[i] = sha256.Sum256(fmt.Appendf(nil, "token-%d", i))
		c.put(&sums[i], p, is, 0, now)
	}
	missed := 0
	for range 3 {
		for i := range sums {
			if _, _, ok := c.get(&sums[i], now); !ok {
				missed++
				c.put(&sums[i], p, is, 0, now)
			}
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d look-ups of tokens in use missed", missed, 3*inUse)
	}
}
