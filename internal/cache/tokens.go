package cache

import (
	"context"
	"errors"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// The OAuth2 side of the index: registered clients and revoked token ids.
// Both are immutable maps swapped atomically (copy-on-write), like the
// partner map: clients and revocations are few and change rarely, and a
// lookup by a struct key of two strings allocates nothing.

// tokenKey names a client (issuer, client id) or a token (issuer, jti).
type tokenKey struct{ issuer, ident string }

// revocationSweep is how often expired revocations are dropped.
const revocationSweep = time.Minute

// Client returns the partner that registered (issuer, clientID).
func (c *Cache) Client(issuer, clientID string) (string, bool) {
	id, ok := (*c.clients.Load())[tokenKey{issuer, clientID}]
	return id, ok
}

// TokenRevoked reports whether the token (issuer, jti) is revoked. A
// revocation stays until its token's exp plus [partner.TokenRevocationGrace],
// past any leeway that could still accept the token.
func (c *Cache) TokenRevoked(issuer, jti string) bool {
	if jti == "" {
		return false
	}
	_, ok := (*c.revoked.Load())[tokenKey{issuer, jti}]
	return ok
}

// Clients returns the number of registered clients held.
func (c *Cache) Clients() int { return len(*c.clients.Load()) }

// RevokedTokens returns the number of token revocations held.
func (c *Cache) RevokedTokens() int { return len(*c.revoked.Load()) }

func (c *Cache) initTokens() {
	clients := map[tokenKey]string{}
	revoked := map[tokenKey]time.Time{}
	c.clients.Store(&clients)
	c.revoked.Store(&revoked)
}

// tokenVisitor adds the token callbacks of a snapshot into fresh maps.
func tokenVisitor(v *store.Visitor, clients map[tokenKey]string, revoked map[tokenKey]time.Time) {
	v.Client = func(cl *partner.Client) error {
		clients[tokenKey{cl.Issuer, cl.ClientID}] = cl.PartnerID
		return nil
	}
	v.TokenRevocation = func(r *partner.TokenRevocation) error {
		revoked[tokenKey{r.Issuer, r.JTI}] = r.ExpiresAt
		return nil
	}
}

// applyToken applies one client or revocation change; it reports whether
// ch was of such a kind.
func (c *Cache) applyToken(ctx context.Context, ch store.Change) (bool, error) {
	switch ch.Kind {
	case store.KindClient, store.KindTokenRevocation:
	default:
		return false, nil
	}
	issuer, ident, ok := store.SplitChangeID(ch.ID)
	if !ok {
		c.opts.Logger.Error("change feed: malformed id", "kind", ch.Kind, "version", ch.Version)
		return true, nil
	}
	k := tokenKey{issuer, ident}
	if ch.Kind == store.KindClient {
		cl, err := c.src.GetClient(ctx, issuer, ident)
		if err != nil && !errors.Is(err, partner.ErrNotFound) {
			return true, err
		}
		cur := *c.clients.Load()
		next := make(map[tokenKey]string, len(cur)+1)
		for kk, v := range cur {
			next[kk] = v
		}
		if cl == nil {
			delete(next, k)
		} else {
			next[k] = cl.PartnerID
		}
		c.clients.Store(&next)
		return true, nil
	}
	r, err := c.src.GetTokenRevocation(ctx, issuer, ident)
	if err != nil && !errors.Is(err, partner.ErrNotFound) {
		return true, err
	}
	cur := *c.revoked.Load()
	next := make(map[tokenKey]time.Time, len(cur)+1)
	for kk, v := range cur {
		next[kk] = v
	}
	if r == nil {
		// Purged, so no longer live: nothing to refuse.
		delete(next, k)
	} else {
		next[k] = r.ExpiresAt
	}
	c.revoked.Store(&next)
	return true, nil
}

// sweepRevocations drops revocations no longer live at now. Only the feed
// applier calls it.
func (c *Cache) sweepRevocations(now time.Time) {
	cur := *c.revoked.Load()
	dead := 0
	for _, exp := range cur {
		if !(&partner.TokenRevocation{ExpiresAt: exp}).Live(now) {
			dead++
		}
	}
	if dead == 0 {
		return
	}
	next := make(map[tokenKey]time.Time, len(cur)-dead)
	for k, exp := range cur {
		if (&partner.TokenRevocation{ExpiresAt: exp}).Live(now) {
			next[k] = exp
		}
	}
	c.revoked.Store(&next)
}
