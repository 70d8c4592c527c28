package cache

import (
	"sync"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/partner"
)

// maxInternedScopes bounds the scope-list table. Keys share a few scope
// lists in practice; past the bound a look-up just allocates its string.
const maxInternedScopes = 4096

// interner turns the partner id and scope list of a decoded entry into
// strings without allocating on the hot path: the partner id is the
// partner map's own, and scope lists come from a small shared table.
// The nil *interner allocates fresh strings.
type interner struct {
	partners *atomic.Pointer[map[string]*partner.Partner]

	mu     sync.RWMutex
	scopes map[string]string
}

func newInterner(partners *atomic.Pointer[map[string]*partner.Partner]) *interner {
	return &interner{partners: partners, scopes: make(map[string]string)}
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
	in.mu.RLock()
	s, ok := in.scopes[string(b)]
	in.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	in.mu.Lock()
	if len(in.scopes) < maxInternedScopes {
		in.scopes[s] = s
	}
	in.mu.Unlock()
	return s
}
