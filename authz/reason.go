package authz

import (
	"net/http"
	"slices"
)

// Reason is the precise internal cause of a decision. It goes to the audit
// log and metrics, never to the caller: see [Reason.Public].
type Reason string

const (
	ReasonAllowed Reason = "allowed"

	// Reasons for 401. Callers see one public reason for all of them, so
	// a guesser learns nothing about which part of a key was wrong.
	ReasonMissingCredential   Reason = "missing_credential"
	ReasonMalformedCredential Reason = "malformed_credential"
	ReasonUnknownCredential   Reason = "unknown_credential"
	ReasonWrongSecret         Reason = "wrong_secret"
	ReasonExpiredCredential   Reason = "expired_credential"
	ReasonRevokedCredential   Reason = "revoked_credential"
	ReasonUnknownPartner      Reason = "unknown_partner"

	// Reasons for 401 on an OAuth2 access token. invalid_token covers
	// every refusal of the verifier; Decision.Detail names which.
	ReasonInvalidToken       Reason = "invalid_token"
	ReasonUnregisteredClient Reason = "unregistered_client"
	ReasonRevokedToken       Reason = "revoked_token"
	ReasonTokenBeforeCutoff  Reason = "token_before_cutoff"
	// ReasonOpaqueToken is a bearer token that is neither a JWT nor an
	// API key of ours: an IdP issuing opaque (reference) tokens, which
	// partnergate cannot verify, rather than a mangled credential.
	ReasonOpaqueToken Reason = "opaque_token"
	// ReasonInvalidDPoPProof is a token sent as "Authorization: DPoP"
	// whose proof is missing, repeated or refused, or proves a key the
	// token is not bound to (RFC 9449 §7.1); Decision.Detail names which.
	ReasonInvalidDPoPProof Reason = "invalid_dpop_proof"

	// Reasons for 401 from the client certificate: a partner's key or
	// token without the registered certificate it requires, one presented
	// with another partner's registered certificate, and a certificate
	// whose names are registered to two partners.
	ReasonCertificateRequired  Reason = "certificate_required"
	ReasonCertificateMismatch  Reason = "certificate_mismatch"
	ReasonAmbiguousCertificate Reason = "ambiguous_certificate"

	// Reasons for 403: the caller proved who it is, and may learn why.
	ReasonPartnerSuspended  Reason = "partner_suspended"
	ReasonInsufficientScope Reason = "insufficient_scope"
	ReasonTenantMismatch    Reason = "tenant_mismatch"
	ReasonRouteNotAllowed   Reason = "route_not_allowed"
	// ReasonSourceNotAllowed is a valid credential used from an address
	// outside its key's or its partner's source allow-list; Detail holds
	// the address.
	ReasonSourceNotAllowed Reason = "source_not_allowed"
	// ReasonScopeClaimMissing is insufficient_scope for an access token
	// that carried no scope claim at all (the issuer's scope_claim): to the
	// caller it is insufficient_scope; to the operator, a hint that the
	// IdP puts scopes elsewhere or the client requested none.
	ReasonScopeClaimMissing Reason = "scope_claim_missing"

	// ReasonBadRequest is 400: a path no upstream can be trusted to read
	// as partnergate does (policy.BadPath), refused before anything else.
	ReasonBadRequest Reason = "bad_request"
)

// reasons lists every Reason; TestReasonsListsEveryReason keeps it whole.
var reasons = [...]Reason{
	ReasonAllowed,
	ReasonMissingCredential, ReasonMalformedCredential, ReasonUnknownCredential, ReasonWrongSecret,
	ReasonExpiredCredential, ReasonRevokedCredential, ReasonUnknownPartner,
	ReasonInvalidToken, ReasonUnregisteredClient, ReasonRevokedToken, ReasonTokenBeforeCutoff, ReasonOpaqueToken,
	ReasonInvalidDPoPProof, ReasonCertificateRequired, ReasonCertificateMismatch, ReasonAmbiguousCertificate,
	ReasonPartnerSuspended, ReasonInsufficientScope, ReasonTenantMismatch, ReasonRouteNotAllowed, ReasonSourceNotAllowed,
	ReasonScopeClaimMissing, ReasonBadRequest,
}

// Reasons returns every Reason a decision can carry, ReasonAllowed first:
// a bounded label set for metrics.
func Reasons() []Reason { return slices.Clone(reasons[:]) }

// Public codes in deny bodies; a stable contract with partners.
const (
	PublicInvalidCredentials = "invalid_credentials"
	PublicPartnerSuspended   = "partner_suspended"
	PublicInsufficientScope  = "insufficient_scope"
	PublicTenantMismatch     = "tenant_mismatch"
	PublicRouteNotAllowed    = "route_not_allowed"
	PublicBadRequest         = "bad_request"
	PublicSourceNotAllowed   = "source_not_allowed"
)

// Public returns the reason code a caller is shown.
func (r Reason) Public() string {
	switch r {
	case ReasonPartnerSuspended:
		return PublicPartnerSuspended
	case ReasonInsufficientScope, ReasonScopeClaimMissing:
		return PublicInsufficientScope
	case ReasonTenantMismatch:
		return PublicTenantMismatch
	case ReasonRouteNotAllowed:
		return PublicRouteNotAllowed
	case ReasonBadRequest:
		return PublicBadRequest
	case ReasonSourceNotAllowed:
		return PublicSourceNotAllowed
	case ReasonAllowed:
		return ""
	default:
		return PublicInvalidCredentials
	}
}

// Status returns the HTTP status a caller is answered with: 200 for an
// allow, 401 for a credential missing or not accepted (RFC 9110 §15.5.2),
// 403 for a valid credential that may not do this (§15.5.4), 400 for a
// request no upstream can be trusted to read. No other status is used: a
// forward-auth proxy turns any other into a 500.
func (r Reason) Status() int {
	switch r {
	case ReasonAllowed:
		return http.StatusOK
	case ReasonPartnerSuspended, ReasonInsufficientScope, ReasonTenantMismatch, ReasonRouteNotAllowed, ReasonScopeClaimMissing,
		ReasonSourceNotAllowed:
		return http.StatusForbidden
	case ReasonBadRequest:
		return http.StatusBadRequest
	default:
		return http.StatusUnauthorized
	}
}

// HighSeverity reports whether the reason deserves an operator's attention:
// use of a revoked or expired key, or a cross-tenant attempt.
func (r Reason) HighSeverity() bool {
	switch r {
	case ReasonRevokedCredential, ReasonExpiredCredential, ReasonTenantMismatch, ReasonPartnerSuspended,
		ReasonRevokedToken, ReasonTokenBeforeCutoff,
		// A valid credential from outside its networks: perhaps a leak.
		ReasonSourceNotAllowed:
		return true
	}
	return false
}
