package authz

import (
	"log/slog"
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
)

// Decision is the outcome of one request, as audited and as a transport
// answers it. It never holds a secret: credentials appear by public id
// only. It is a value: keep it, copy it, nothing reuses it.
type Decision struct {
	Reason Reason
	// Detail refines Reason where one reason covers many causes: for
	// invalid_token, the verifier's code (jwtverify.Reason), such as
	// "expired" or "bad_signature".
	Detail       string
	RequestID    string
	PartnerID    string
	Tier         string
	CredentialID string
	// CredentialHeader is the lower-case name of the header the
	// credential came in ("authorization" or "x-api-key"), which a
	// transport removes before the request reaches the upstream; empty
	// when no single credential was found.
	CredentialHeader string
	// CredentialVersion is the version of the API key's stored record
	// ([partner.KeyRecord.Version]), zero for an access token: with the
	// identity, what an answer derived from the record may be kept by.
	CredentialVersion int64
	// Scopes are the effective scopes, space-separated.
	Scopes string
	// Required are the scopes the route required, space-separated.
	Required   string
	Method     string
	Path       string
	ClientAddr string
	// Limits are the partner's own rate limits, emitted as limit
	// overrides on allow; zero when its tier's apply.
	Limits partner.Limits

	apiKey bool // the credential is an API key, not an access token
	dpop   bool // the token came as "Authorization: DPoP" (RFC 9449)
	// cert is the registration the client certificate matched, or nil.
	cert *partner.Certificate
}

// Allowed reports whether the request is allowed.
func (d *Decision) Allowed() bool { return d.Reason == ReasonAllowed }

// APIKey reports whether the credential was an API key rather than an
// access token.
func (d *Decision) APIKey() bool { return d.apiKey }

// DPoP reports whether the token came as "Authorization: DPoP": a
// transport then challenges a 401 with the DPoP scheme (RFC 9449 §7.1).
func (d *Decision) DPoP() bool { return d.dpop }

func (d *Decision) deny(r Reason) {
	d.Reason = r
}

// LogValue implements [slog.LogValuer].
func (d Decision) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Bool("allowed", d.Allowed()),
		slog.String("reason", string(d.Reason)),
		slog.String("request_id", d.RequestID),
		slog.String("method", d.Method),
		slog.String("path", d.Path),
		slog.String("client", d.ClientAddr),
	}
	if d.Detail != "" {
		attrs = append(attrs, slog.String("detail", d.Detail))
	}
	if d.PartnerID != "" {
		attrs = append(attrs, slog.String("partner_id", d.PartnerID))
	}
	if d.CredentialID != "" {
		attrs = append(attrs, slog.String("credential_id", d.CredentialID))
	}
	if d.Required != "" {
		attrs = append(attrs, slog.Any("required_scopes", strings.Fields(d.Required)))
	}
	return slog.GroupValue(attrs...)
}
