package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/partnergate/partnergate/internal/jwtverify"
)

// TokenVerifier verifies an OAuth2 access token presented on a connection
// whose mTLS client certificate is peerCertDER (nil for none).
// *jwtverify.Verifier implements it.
type TokenVerifier interface {
	VerifyPeer(ctx context.Context, token string, peerCertDER []byte) (*jwtverify.Principal, error)
}

var _ TokenVerifier = (*jwtverify.Verifier)(nil)

// decideToken is the decision order for an access token: verify it, map
// its client to a partner through the registry (never a claim), check the
// partner, then revocation — on every request, since the verifier may have
// answered from its cache — and then the common authorization steps.
func (s *Decider) decideToken(ctx context.Context, req *Request, d *Decision, token string) error {
	p, err := s.tokens.VerifyPeer(ctx, token, req.PeerCertificate)
	if err != nil {
		return s.tokenRefused(ctx, d, err)
	}
	d.CredentialID = p.ClientID
	partnerID, ok := s.index.Client(p.Issuer, p.ClientID)
	if !ok {
		// A valid signature is not enough: the client must be registered.
		d.deny(ReasonUnregisteredClient)
		return nil
	}
	d.PartnerID = partnerID
	part, reason := s.activePartner(d)
	if reason != "" {
		d.deny(reason)
		return nil
	}
	if s.index.TokenRevoked(p.Issuer, p.JTI) {
		d.deny(ReasonRevokedToken)
		return nil
	}
	// iat has one-second precision: a token issued in the cutoff's own
	// second is refused, erring on the safe side.
	if !part.TokensNotBefore.IsZero() && p.IssuedAt.Before(part.TokensNotBefore) {
		d.deny(ReasonTokenBeforeCutoff)
		return nil
	}
	if reason := sourceAllowed(req, d, nil, part.AllowCIDRs); reason != "" {
		d.deny(reason)
		return nil
	}
	// A token never carries more than its partner is granted now. The
	// common case, nothing narrowed, takes the verifier's joined list.
	if p.ScopeList != "" && part.Scopes.HasAll(p.Scopes) {
		d.Scopes = p.ScopeList
	} else {
		d.Scopes = p.Scopes.Intersect(part.Scopes).String()
	}
	s.authorize(req, d)
	if d.Reason == ReasonInsufficientScope && p.ScopeClaimMissing {
		d.Reason = ReasonScopeClaimMissing // the same answer; a clearer audit
	}
	return nil
}

// tokenRefused maps a verifier error: a refused token is a 401 with the
// verifier's code as detail; keys that were never loaded, a context that
// ended and anything unexpected are faults, answered as errors so Envoy
// fails closed.
func (s *Decider) tokenRefused(ctx context.Context, d *Decision, err error) error {
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		s.log.Error("cannot verify token: issuer keys unavailable", "err", err)
		return ErrKeysUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.Canceled) {
			return context.Canceled
		}
		return context.DeadlineExceeded
	}
	reason := jwtverify.Reason(err)
	if reason == "internal" {
		s.log.Error("cannot verify token", "err", err)
		return fmt.Errorf("%w: token verification", ErrInternal)
	}
	d.Detail = reason
	d.deny(ReasonInvalidToken)
	return nil
}
