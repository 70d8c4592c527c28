package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/partnergate/partnergate/internal/dpop"
	"github.com/partnergate/partnergate/internal/jwtverify"
)

// TokenVerifier verifies an OAuth2 access token presented with the proofs
// of possession in b. *jwtverify.Verifier implements it.
type TokenVerifier interface {
	VerifyPeer(ctx context.Context, token string, b jwtverify.Binding) (*jwtverify.Principal, error)
}

var _ TokenVerifier = (*jwtverify.Verifier)(nil)

// ProofVerifier verifies DPoP proofs and spends their jti.
// *dpop.Verifier implements it.
type ProofVerifier interface {
	Verify(proof string, r dpop.Request) (*dpop.Proof, error)
	Record(p *dpop.Proof) error
}

var _ ProofVerifier = (*dpop.Verifier)(nil)

// headerDPoP carries the DPoP proof (RFC 9449 §4.1).
const headerDPoP = "dpop"

// checkProof verifies the request's one DPoP proof for token, against the
// method and the target URI as the edge saw them: its scheme, its host
// (Envoy's :scheme and :authority) and its path without the query. It
// returns the proof, or nil and the audit detail.
func (s *Decider) checkProof(req *Request, token string) (*dpop.Proof, string) {
	proof, n := req.Headers.Get(headerDPoP)
	switch {
	case n == 0:
		return nil, "missing_proof"
	case n > 1 || strings.IndexByte(proof, ',') >= 0:
		// RFC 9449 §4.3: exactly one DPoP header, one proof.
		return nil, "multiple_proofs"
	}
	path := req.Path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	p, err := s.proofs.Verify(proof, dpop.Request{
		Method:      req.Method,
		URI:         req.Scheme + "://" + req.Host + path,
		AccessToken: token,
	})
	if err != nil {
		return nil, dpop.Reason(err)
	}
	return p, ""
}

// binding is what req proves possession of besides the token: its client
// certificate's thumbprint. An unreadable certificate counts as none: a
// token bound to a certificate is then refused, which is the safe outcome.
func binding(req *Request) jwtverify.Binding {
	var b jwtverify.Binding
	if req.PeerCert != nil {
		b.CertThumbprint = req.PeerCert.Thumbprint
	}
	return b
}

// decideToken is the decision order for an access token: verify it, map
// its client to a partner through the registry (never a claim), check the
// partner, then revocation — on every request, since the verifier may have
// answered from its cache — and then the common authorization steps.
func (s *Decider) decideToken(ctx context.Context, req *Request, d *Decision, cred credential) error {
	token := cred.value
	b := binding(req)
	var proof *dpop.Proof
	if cred.dpop {
		if s.proofs == nil {
			d.deny(ReasonMalformedCredential)
			return nil
		}
		d.dpop = true
		var detail string
		if proof, detail = s.checkProof(req, token); proof == nil {
			d.Detail = detail
			d.deny(ReasonInvalidDPoPProof)
			return nil
		}
		b.DPoP, b.DPoPKey = true, proof.KeyThumbprint
	}
	p, err := s.tokens.VerifyPeer(ctx, token, b)
	if err != nil {
		if cred.dpop && errors.Is(err, jwtverify.ErrBinding) {
			// The proof is for another key than the token's.
			d.Detail = jwtverify.Reason(err)
			d.deny(ReasonInvalidDPoPProof)
			return nil
		}
		return s.tokenRefused(ctx, d, err)
	}
	if proof != nil {
		// Last, once the token is known to be bound to the proof's key:
		// only then may the proof take a place in the replay cache.
		if err := s.proofs.Record(proof); err != nil {
			if errors.Is(err, dpop.ErrReplayCacheFull) {
				s.log.Error("cannot record DPoP proof: replay cache full; raise jwt.dpop.replay_cache_size", "err", err)
				return fmt.Errorf("%w: DPoP replay cache full", ErrInternal)
			}
			d.Detail = dpop.Reason(err)
			d.deny(ReasonInvalidDPoPProof)
			return nil
		}
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
