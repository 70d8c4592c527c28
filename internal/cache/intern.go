package cache

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/partner"
)

// maxInternedScopes bounds the scope-list table. Keys share a few scope
// lists in practice; past the bound a look-up just allocates its string.
const maxInternedScopes = 4096

// interner turns the partner id and scope list of a decoded entry into
// strings without allocating on the hot path: the partner id is the
// partner map's own, and scope lists come from a small shared table. The
// table is an immutable map behind an atomic pointer, so a look-up takes
// no lock; a new scope list is added to a copy, under mu, which only
// those adding take. The nil *interner allocates fresh strings.
type interner struct {
	partners *atomic.Pointer[map[string]*partner.Partner]

	scopes atomic.Pointer[map[string]string]
	mu     sync.Mutex // serializes additions to scopes
}

func newInterner(partners *atomic.Pointer[map[string]*partner.Partner]) *interner {
	in := &interner{partners: partners}
	in.scopes.Store(&map[string]string{})
	return in
}

// partnerID returns b as a string, shared with the partner map when the
// partner is known.
func (in *interner) partnerID(b []byte) string {
	if in != nil {
		// The index expression string(b) does not allocate.
		if p, ok := (*in.partners.Load())[string(b)]; ok && p.ID == string(b) {
			return p.ID
		}
	}
	return string(b)
}

// scopeList returns b as a string, interned while the table has room.
func (in *interner) scopeList(b []byte) string {
	if in == nil || len(b) == 0 {
		return string(b)
	}
	if s, ok := (*in.scopes.Load())[string(b)]; ok {
		return s
	}
	s := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	cur := *in.scopes.Load()
	if kept, ok := cur[s]; ok {
		return kept
	}
	if len(cur) < maxInternedScopes {
		next := make(map[string]string, len(cur)+1)
		maps.Copy(next, cur)
		next[s] = s
		in.scopes.Store(&next)
	}
	return s
}
