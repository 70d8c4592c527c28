package authz

import (
	"context"
	"errors"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
// method and the target URI as the edge saw them: Envoy's :scheme and
// :authority (attributes.request.http.scheme and host) and the path
// without its query. It returns the proof, or nil and the audit detail.
func (s *Server) checkProof(http *authv3.AttributeContext_HttpRequest, token string) (*dpop.Proof, string) {
	h := requestHeaders(http)
	proof, n := h.get(headerDPoP)
	switch {
	case n == 0:
		return nil, "missing_proof"
	case n > 1 || strings.IndexByte(proof, ',') >= 0:
		// RFC 9449 §4.3: exactly one DPoP header, one proof.
		return nil, "multiple_proofs"
	}
	path := http.GetPath()
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	p, err := s.proofs.Verify(proof, dpop.Request{
		Method:      http.GetMethod(),
		URI:         http.GetScheme() + "://" + http.GetHost() + path,
		AccessToken: token,
	})
	if err != nil {
		return nil, dpop.Reason(err)
	}
	return p, ""
}

// decideToken is the decision order for an access token: verify it, map
// its client to a partner through the registry (never a claim), check the
// partner, then revocation — on every request, since the verifier may have
// answered from its cache — and then the common authorization steps.
func (s *Server) decideToken(ctx context.Context, d *Decision, attrs *authv3.AttributeContext, cred credential) (*Decision, error) {
	token := cred.value
	var b jwtverify.Binding
	// An unreadable forwarded certificate counts as none: a token bound
	// to a certificate is then refused, which is the safe outcome.
	if c, err := s.peers.Read(attrs.GetSource().GetCertificate()); err == nil && c != nil {
		b.CertThumbprint = c.Thumbprint
	}
	var proof *dpop.Proof
	if cred.dpop {
		if s.proofs == nil {
			return d.deny(ReasonMalformedCredential), nil
		}
		d.dpop = true
		var detail string
		proof, detail = s.checkProof(attrs.GetRequest().GetHttp(), token)
		if proof == nil {
			d.Detail = detail
			return d.deny(ReasonInvalidDPoPProof), nil
		}
		b.DPoP, b.DPoPKey = true, proof.KeyThumbprint
	}
	p, err := s.tokens.VerifyPeer(ctx, token, b)
	if err != nil {
		if cred.dpop && errors.Is(err, jwtverify.ErrBinding) {
			// The proof is for another key than the token's.
			d.Detail = jwtverify.Reason(err)
			return d.deny(ReasonInvalidDPoPProof), nil
		}
		return s.tokenRefused(ctx, d, err)
	}
	if proof != nil {
		// Last, once the token is known to be bound to the proof's key:
		// only then may the proof take a place in the replay cache.
		if err := s.proofs.Record(proof); err != nil {
			if errors.Is(err, dpop.ErrReplayCacheFull) {
				s.log.Error("cannot record DPoP proof: replay cache full; raise jwt.dpop.replay_cache_size", "err", err)
				return nil, status.Error(codes.Unavailable, "partnergate: DPoP replay cache full")
			}
			d.Detail = dpop.Reason(err)
			return d.deny(ReasonInvalidDPoPProof), nil
		}
	}
	d.CredentialID = p.ClientID
	partnerID, ok := s.index.Client(p.Issuer, p.ClientID)
	if !ok {
		// A valid signature is not enough: the client must be registered.
		return d.deny(ReasonUnregisteredClient), nil
	}
	d.PartnerID = partnerID
	part, reason := s.activePartner(d)
	if reason != "" {
		return d.deny(reason), nil
	}
	if s.index.TokenRevoked(p.Issuer, p.JTI) {
		return d.deny(ReasonRevokedToken), nil
	}
	// iat has one-second precision: a token issued in the cutoff's own
	// second is refused, erring on the safe side.
	if !part.TokensNotBefore.IsZero() && p.IssuedAt.Before(part.TokensNotBefore) {
		return d.deny(ReasonTokenBeforeCutoff), nil
	}
	// A token never carries more than its partner is granted now. The
	// common case, nothing narrowed, takes the verifier's joined list.
	if p.ScopeList != "" && part.Scopes.HasAll(p.Scopes) {
		d.Scopes = p.ScopeList
	} else {
		d.Scopes = p.Scopes.Intersect(part.Scopes).String()
	}
	h := requestHeaders(attrs.GetRequest().GetHttp())
	d = s.authorize(d, attrs.GetContextExtensions(), h)
	if d.Reason == ReasonInsufficientScope && p.ScopeClaimMissing {
		d.Reason = ReasonScopeClaimMissing // the same answer; a clearer audit
	}
	return d, nil
}

// tokenRefused maps a verifier error: a refused token is a 401 with the
// verifier's code as detail; keys that were never loaded, a context that
// ended and anything unexpected are faults, answered as errors so Envoy
// fails closed.
func (s *Server) tokenRefused(ctx context.Context, d *Decision, err error) (*Decision, error) {
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		s.log.Error("cannot verify token: issuer keys unavailable", "err", err)
		return nil, status.Error(codes.Unavailable, "partnergate: token issuer keys unavailable")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.FromContextError(err).Err()
	}
	reason := jwtverify.Reason(err)
	if reason == "internal" {
		s.log.Error("cannot verify token", "err", err)
		return nil, status.Error(codes.Internal, "partnergate: internal error")
	}
	d.Detail = reason
	return d.deny(ReasonInvalidToken), nil
}
