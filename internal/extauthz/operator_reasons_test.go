package extauthz

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/authz"
)

// TestAuditReasonsTellOperatorsWhy guards what the audit log says of
// refusals that used to mislead: an IdP's opaque token, a token with no
// scope claim, and a token minted for too long each get their own audit
// reason, while the caller's answer is unchanged (401 invalid_credentials,
// 403 insufficient_scope).
func TestAuditReasonsTellOperatorsWhy(t *testing.T) {
	tf := newTokenFixture(t, 0)
	now := tf.clock.Now()
	with := func(edit func(jwt.MapClaims)) string {
		c := tf.claims()
		edit(c)
		return sign(t, tf.rsa, c, nil)
	}
	tests := []struct {
		name       string
		bearer     string
		route      string
		reason     authz.Reason
		detail     string
		wantHTTP   int
		wantPublic string
	}{
		{"opaque-token", "ory_at_Zm9vYmFyYmF6cXV4cXV1eA.c2lnbmF0dXJl", "", authz.ReasonOpaqueToken, "", 401, authz.PublicInvalidCredentials},
		{"opaque-hex-token", strings.Repeat("ab12", 10), "", authz.ReasonOpaqueToken, "", 401, authz.PublicInvalidCredentials},
		{"mistyped-api-key-stays-malformed", "pg_test_AbCdEfGhIjKl_notakeyatall", "", authz.ReasonMalformedCredential, "", 401, authz.PublicInvalidCredentials},
		{"upper-case-prefix-stays-malformed", "PG_TEST_AbCdEfGhIjKl_notakeyatall", "", authz.ReasonMalformedCredential, "", 401, authz.PublicInvalidCredentials},
		{"scope-claim-missing", with(func(c jwt.MapClaims) { delete(c, "scope") }), "orders:read", authz.ReasonScopeClaimMissing, "", 403, authz.PublicInsufficientScope},
		{"scope-claim-present-but-short", with(func(c jwt.MapClaims) { c["scope"] = "orders:write" }), "orders:read", authz.ReasonInsufficientScope, "", 403, authz.PublicInsufficientScope},
		{"ten-year-token", with(func(c jwt.MapClaims) { c["exp"] = now.Add(10 * 365 * 24 * time.Hour).Unix() }), "", authz.ReasonInvalidToken, "token_lifetime_exceeded", 401, authz.PublicInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ext map[string]string
			if tc.route != "" {
				ext = map[string]string{"required_scopes": tc.route}
			}
			resp, err := tf.client.Check(context.Background(), request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tc.bearer}, ext))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d := tf.audit.get(); d.Reason != tc.reason || d.Detail != tc.detail {
				t.Errorf("audited %s (%q), want %s (%q)", d.Reason, d.Detail, tc.reason, tc.detail)
			}
			den := resp.GetDeniedResponse()
			if den == nil || int(den.GetStatus().GetCode()) != tc.wantHTTP || resp.GetStatus().GetMessage() != tc.wantPublic {
				t.Fatalf("denial = %v, want HTTP %d with %q", resp, tc.wantHTTP, tc.wantPublic)
			}
			if !strings.Contains(den.GetBody(), `"error":"`+tc.wantPublic+`"`) {
				t.Errorf("body %s", den.GetBody())
			}
			if tc.wantPublic == authz.PublicInsufficientScope {
				var challenge string
				for _, h := range den.GetHeaders() {
					if h.GetHeader().GetKey() == "www-authenticate" {
						challenge = h.GetHeader().GetValue()
					}
				}
				if !strings.Contains(challenge, `error="insufficient_scope"`) {
					t.Errorf("challenge %q, want the insufficient_scope one", challenge)
				}
			}
		})
	}
}
