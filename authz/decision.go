package authz

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/partner"
)

// Decision is the outcome of one Check, as audited. It never holds a
// secret: credentials appear by public id only.
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
	// Scopes are the effective scopes, space-separated.
	Scopes string
	// Required are the scopes the route required.
	Required   []string
	Method     string
	Path       string
	ClientAddr string
	// Limits are the partner's own rate limits, emitted as limit
	// overrides on allow; zero when its tier's apply.
	Limits partner.Limits

	credentialHeader string        // where the credential came from, to remove it
	apiKey           bool          // the credential is an API key, not an access token
	dpop             bool          // the token came as "Authorization: DPoP" (RFC 9449)
	memo             *atomic.Value // the index's memo kept with the key's record, or nil
	requiredBuf      [4]string     // backs Required for up to four scopes
}

// decisions recycles Decisions: one per Check was the last allocation of
// an allowed Check.
var decisions = sync.Pool{New: func() any { return new(Decision) }}

// releaseDecision clears d and returns it for reuse. Nothing may hold d
// afterwards: responses copy what they need, and auditors must not keep it.
func releaseDecision(d *Decision) {
	*d = Decision{}
	decisions.Put(d)
}

// Clone returns a copy of d that may be kept after the Check: d itself is
// reused, and its Required may point into it.
func (d *Decision) Clone() Decision {
	c := *d
	c.Required = slices.Clone(d.Required)
	c.requiredBuf = [len(d.requiredBuf)]string{}
	c.memo = nil // a kept copy must not keep the key's record alive
	return c
}

// Allowed reports whether the request is allowed.
func (d *Decision) Allowed() bool { return d.Reason == ReasonAllowed }

func (d *Decision) deny(r Reason) *Decision {
	d.Reason = r
	return d
}

// LogValue implements [slog.LogValuer].
func (d *Decision) LogValue() slog.Value {
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
	if len(d.Required) > 0 {
		attrs = append(attrs, slog.Any("required_scopes", d.Required))
	}
	return slog.GroupValue(attrs...)
}
