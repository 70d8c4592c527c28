package extauthz

import (
	"slices"
	"testing"

	"github.com/partnergate/partnergate/authz"
)

// TestRemovals pins which request headers an allow removes, in both
// shapes Envoy sends and in any case: the credential headers and every
// x-partner-* header that the response does not set, once each, lower
// case. The identity below sets no tier, so x-partner-tier is removed.
func TestRemovals(t *testing.T) {
	d := &authz.Decision{PartnerID: "acme", Scopes: "orders:read", CredentialID: "k1"}
	tests := []struct {
		name string
		h    headers
		want []string
	}{
		{"credential-only", mapHeaders("authorization", "Bearer x", "accept", "*/*", "x-request-id", "r1"), []string{"authorization"}},
		{"api-key", mapHeaders("x-api-key", "k", "x-forwarded-for", "10.0.0.1"), []string{"x-api-key"}},
		{"upper-case", mapHeaders("AUTHORIZATION", "Bearer x", "X-API-KEY", "k"), []string{"authorization", "x-api-key"}},
		{"spoofed-identity", mapHeaders("authorization", "Bearer x", "X-Partner-Admin", "1", "x-partner-b", "2"), []string{"authorization", "x-partner-admin", "x-partner-b"}},
		{"set-identity-kept", mapHeaders("x-partner-id", "acme", "x-partner-scopes", "*", "x-partner-credential", "k9"), nil},
		{"unset-identity-removed", mapHeaders("x-partner-tier", "gold"), []string{"x-partner-tier"}},
		{"near-misses-kept", mapHeaders("x-partner", "1", "x-partners-id", "1", "x_partner-id", "1", "xx-partner-id", "1", "authorizatio", "1", "authorization2", "1", "x-api-keys", "1", "accept-encoding", "gzip", "a", "1", "x", "1", "", "1"), nil},
		{"raw-repeats-once", rawHeaders("authorization", "Bearer x", "Authorization", "Bearer y", "x-partner-role", "1", "X-PARTNER-ROLE", "2"), []string{"authorization", "x-partner-role"}},
		{"both-shapes", headers{m: mapHeaders("x-partner-a", "1").m, list: rawHeaders("x-partner-a", "2", "x-api-key", "k").list}, []string{"x-partner-a", "x-api-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := removals(d, tt.h, nil)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("removals = %q, want %q", got, want)
			}
		})
	}
}
