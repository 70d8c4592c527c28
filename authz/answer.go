package authz

import "net/http"

// What every transport answers with, so that each says the same thing:
// the identity headers of an allow, and the status, challenge and body of
// a denial. A response header added here reaches every transport.

// Identity headers an allow sets, overwriting whatever the caller sent.
const (
	HeaderPartnerID         = headerPartnerID
	HeaderPartnerScopes     = "x-partner-scopes"
	HeaderPartnerCredential = "x-partner-credential"
	HeaderPartnerTier       = "x-partner-tier"

	// IdentityPrefix starts every identity header. An allow removes
	// every incoming header with it that the allow does not set, so that
	// an upstream sees none the caller made up.
	IdentityPrefix = "x-partner-"
)

// IdentityHeaders is how many headers [Decision.Identity] returns.
const IdentityHeaders = 4

// Header is one response header.
type Header struct{ Name, Value string }

// Identity returns the identity headers an allow of d sets, in the order
// they are sent. A header with an empty value is not set; the transport
// removes the caller's instead, since a proxy may drop an empty header
// and leave the caller's.
func (d *Decision) Identity() [IdentityHeaders]Header {
	return [...]Header{
		{HeaderPartnerID, d.PartnerID},
		{HeaderPartnerScopes, d.Scopes},
		{HeaderPartnerCredential, d.CredentialID},
		{HeaderPartnerTier, d.Tier},
	}
}

// Header names of a denial.
const (
	HeaderWWWAuthenticate = "www-authenticate"
	HeaderContentType     = "content-type"
	HeaderCacheControl    = "cache-control"
)

// DenyHeaders are the fixed headers of every denial, besides
// [Challenge]'s: its body is JSON, and no cache may keep it.
func DenyHeaders() [2]Header {
	return [...]Header{
		{HeaderContentType, "application/json"},
		{HeaderCacheControl, "no-store"},
	}
}

// Challenge returns the WWW-Authenticate value of a denial of d in the
// protection space realm ([Decider.Realm]), or "" for a denial that has
// none (RFC 6750 §3): a bare challenge when no credential was sent,
// error="invalid_token" for any credential not accepted (one value for all
// of them, so a guesser learns nothing of why), and
// error="insufficient_scope" with the scopes the route requires. A token
// sent with DPoP is challenged with the DPoP scheme (RFC 9449 §7.1):
// error="invalid_dpop_proof" for a refused proof, error="invalid_token"
// for a refused token.
func Challenge(realm string, d *Decision) string {
	switch {
	case d.Reason == ReasonInvalidDPoPProof:
		return `DPoP realm="` + realm + `", error="invalid_dpop_proof", error_description="Invalid DPoP proof"`
	case d.dpop && d.Reason.Status() == http.StatusUnauthorized:
		return `DPoP realm="` + realm + `", error="invalid_token"`
	case d.Reason == ReasonMissingCredential:
		return `Bearer realm="` + realm + `"`
	case d.Reason.Status() == http.StatusUnauthorized:
		return `Bearer realm="` + realm + `", error="invalid_token"`
	case d.Reason.Public() == PublicInsufficientScope:
		return `Bearer realm="` + realm + `", error="insufficient_scope", scope="` + d.Required + `"`
	}
	return ""
}

// Body returns the JSON body partners see on a denial of d:
// {"error":"<public reason>","request_id":"<id>"}, the id omitted when
// empty. Neither needs escaping: public reasons are fixed codes and
// request ids admit only [A-Za-z0-9._:-].
func (d *Decision) Body() string {
	public := d.Reason.Public()
	if d.RequestID == "" {
		return `{"error":"` + public + `"}`
	}
	return `{"error":"` + public + `","request_id":"` + d.RequestID + `"}`
}
