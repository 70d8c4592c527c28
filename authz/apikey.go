package authz

import (
	"context"
	"fmt"
	"strings"

	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
)

// decideKey is the decision order for an API key: format and checksum,
// then the key id in the index, the digest compared in constant time,
// revocation, expiry and the partner, and then the common authorization
// steps.
func (s *Decider) decideKey(ctx context.Context, req *Request, d *Decision, cred credential) error {
	key, err := s.keys.Parse(cred.value)
	if err != nil {
		// Format and checksum refuse typos and garbage before any index
		// is touched. A bearer token that is no JWT and does not even
		// start like one of our keys is most likely an IdP's opaque
		// token: the same 401, audited for what it is.
		if cred.header == headerAuthorization && !jwtverify.LooksLikeJWT(cred.value) && !hasPrefixFold(cred.value, s.keys.Prefix()) {
			d.deny(ReasonOpaqueToken)
			return nil
		}
		d.deny(ReasonMalformedCredential)
		return nil
	}
	d.CredentialID = key.ID()
	d.apiKey = true
	rec, ok := s.index.Key(ctx, key.ID())
	if !ok {
		d.deny(ReasonUnknownCredential)
		return nil
	}
	// hasher.Verify compares digests with hmac.Equal, in constant time
	// (NIST SP 800-63B §5.1.1.2).
	match, err := s.hasher.Verify(key, rec.Digest, rec.PepperVersion)
	if err != nil {
		// A digest made with a pepper this server lacks is a deployment
		// fault, not the caller's: fail closed, loudly.
		s.log.Error("cannot verify key: pepper missing", "key_id", rec.ID, "pepper_version", rec.PepperVersion)
		return fmt.Errorf("%w: pepper version %d missing", ErrInternal, rec.PepperVersion)
	}
	if !match {
		d.deny(ReasonWrongSecret)
		return nil
	}
	d.PartnerID = rec.PartnerID
	d.CredentialVersion = rec.Version
	if rec.Revoked {
		d.deny(ReasonRevokedCredential)
		return nil
	}
	if rec.ExpiresAt != 0 && s.now().UnixNano() >= rec.ExpiresAt {
		d.deny(ReasonExpiredCredential)
		return nil
	}
	p, reason := s.activePartner(d)
	if reason != "" {
		d.deny(reason)
		return nil
	}
	d.Scopes = effectiveScopes(rec.Scopes, p.Scopes)
	s.authorize(req, d)
	return nil
}

// effectiveScopes returns the key's scopes that the partner still holds:
// narrowing a partner's grants narrows every key at once. The common case,
// nothing narrowed, returns keyScopes itself without allocating.
func effectiveScopes(keyScopes string, grants partner.Scopes) string {
	all := true
	for s := range strings.FieldsSeq(keyScopes) {
		if !grants.Has(s) {
			all = false
			break
		}
	}
	if all {
		return keyScopes
	}
	var kept []string
	for s := range strings.FieldsSeq(keyScopes) {
		if grants.Has(s) {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, " ")
}

// hasPrefixFold reports whether s starts with prefix, in any case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
