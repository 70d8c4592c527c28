package partner

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Client is an OAuth2 client registered to a partner: tokens that issuer
// mints for that client id act as the partner. The registry, never a token
// claim, decides the tenant (RFC 9068 §5).
type Client struct {
	// Issuer is the exact iss of the client's tokens.
	Issuer string
	// ClientID is the issuer's client id (the issuer's client claim).
	ClientID  string
	PartnerID string
	// CreatedAt is set by the store.
	CreatedAt time.Time
}

// TokenRevocation refuses one access token, named by its issuer and jti,
// until ExpiresAt plus [TokenRevocationGrace].
type TokenRevocation struct {
	Issuer string
	JTI    string
	// ExpiresAt is the token's exp, or an operator's upper bound on it;
	// after it, plus the grace, the row may be purged.
	ExpiresAt time.Time
	// RevokedAt is set by the store.
	RevokedAt time.Time
}

// TokenRevocationGrace is how long a token revocation outlives the token's
// exp. It covers the largest clock-skew leeway a verifier may grant on
// exp, so a token that is still accepted within its leeway is still
// refused.
const TokenRevocationGrace = 5 * time.Minute

// DefaultTokenRevocationTTL bounds a revocation whose token exp the operator
// did not give: access tokens of the client-credentials grant live minutes
// to hours, never this long.
const DefaultTokenRevocationTTL = 24 * time.Hour

// Live reports whether r still refuses its token at now.
func (r *TokenRevocation) Live(now time.Time) bool {
	return now.Before(r.ExpiresAt.Add(TokenRevocationGrace))
}

// ValidateIssuer reports whether iss is a usable issuer identifier: an
// absolute http(s) URL of at most 255 bytes without white space.
func ValidateIssuer(field, iss string) error {
	if iss == "" {
		return Invalid(field, "required")
	}
	if len(iss) > 255 || !printable(iss) || strings.ContainsAny(iss, " \t") {
		return Invalid(field, "must be at most 255 printable characters without white space")
	}
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Invalid(field, "must be an absolute http(s) URL, exactly the tokens' iss")
	}
	return nil
}

// ValidateTokenIdent reports whether s is a usable client id or jti: 1–255
// printable bytes. It travels in headers, logs and audit records, so a
// control character could forge a line or a header.
func ValidateTokenIdent(field, s string) error {
	if s == "" {
		return Invalid(field, "required")
	}
	if len(s) > 255 || !printable(s) {
		return Invalid(field, "must be 1-255 printable characters")
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Validate checks c's fields, naming the first bad one.
func (c *Client) Validate() error {
	if err := ValidateIssuer("issuer", c.Issuer); err != nil {
		return err
	}
	if err := ValidateTokenIdent("client_id", c.ClientID); err != nil {
		return err
	}
	return ValidateID("partner_id", c.PartnerID)
}

// Validate checks r's fields, naming the first bad one.
func (r *TokenRevocation) Validate() error {
	if err := ValidateIssuer("issuer", r.Issuer); err != nil {
		return err
	}
	if err := ValidateTokenIdent("jti", r.JTI); err != nil {
		return err
	}
	if r.ExpiresAt.IsZero() {
		return Invalid("expires_at", "required")
	}
	return nil
}
