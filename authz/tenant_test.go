// Test strategy: identity comes from the credential, so a request that
// names another tenant — in the x-partner-id header or in a query
// parameter some upstream framework would read as the partner id — is
// refused. The table spells the parameter the ways frameworks accept it
// (case, separators, array suffixes, percent-encoded names, PHP's folding
// of spaces, ';' separators) and checks that a selector agreeing with the
// credential is allowed, while any disagreeing or undecodable one is not.
package authz

import (
	"strings"
	"testing"
)

func TestTenantMismatch(t *testing.T) {
	const me = "acme"
	tests := []struct {
		name string
		h    headers
		path string
		want bool
	}{
		{"no-selector", headers{}, "/v1/orders", false},
		{"no-query", headers{}, "/v1/partner_id/other", false},
		{"empty-query", headers{}, "/v1/orders?", false},
		{"unrelated-params", headers{}, "/v1/orders?page=2&partner=x&id=y", false},
		{"header-equal", mapHeaders("x-partner-id", me), "/v1/orders", false},
		{"header-different", mapHeaders("x-partner-id", "globex"), "/v1/orders", true},
		{"header-empty", mapHeaders("x-partner-id", ""), "/v1/orders", true},
		{"header-case-differs", mapHeaders("x-partner-id", "ACME"), "/v1/orders", true},
		{"header-merged-repeat", mapHeaders("x-partner-id", "acme,globex"), "/v1/orders", true},
		{"header-raw-equal", rawHeaders("x-partner-id", me), "/v1/orders", false},
		{"header-raw-repeat-last-differs", rawHeaders("x-partner-id", me, "x-partner-id", "globex"), "/v1/orders", true},
		{"header-raw-repeat-first-differs", rawHeaders("x-partner-id", "globex", "x-partner-id", me), "/v1/orders", true},
		{"partnerId-equal", headers{}, "/v1/orders?partnerId=acme", false},
		{"partnerId-different", headers{}, "/v1/orders?partnerId=globex", true},
		{"partner_id-different", headers{}, "/v1/orders?partner_id=globex", true},
		{"partner_id-equal", headers{}, "/v1/orders?partner_id=acme", false},
		{"upper-case-dash", headers{}, "/v1/orders?PARTNER-ID=globex", true},
		{"dotted", headers{}, "/v1/orders?partner.id=globex", true},
		{"array-suffix", headers{}, "/v1/orders?partnerId[]=globex", true},
		{"indexed-array-suffix", headers{}, "/v1/orders?partner_id[0]=globex", true},
		{"array-suffix-equal", headers{}, "/v1/orders?partnerId[]=acme", false},
		{"encoded-name-underscore", headers{}, "/v1/orders?partner%5Fid=globex", true},
		{"encoded-name-letters", headers{}, "/v1/orders?%70artnerid=globex", true},
		{"encoded-array-suffix", headers{}, "/v1/orders?partnerId%5B%5D=globex", true},
		{"plus-in-name", headers{}, "/v1/orders?partner+id=globex", true},
		{"encoded-space-in-name", headers{}, "/v1/orders?partner%20id=globex", true},
		{"undecodable-name", headers{}, "/v1/orders?partner%zzid=globex", false},
		{"longer-name", headers{}, "/v1/orders?partnerids=globex", false},
		{"encoded-value-equal", headers{}, "/v1/orders?partner_id=%61cme", false},
		{"encoded-value-different", headers{}, "/v1/orders?partner_id=acme%00", true},
		{"plus-value", headers{}, "/v1/orders?partner_id=ac+me", true},
		{"bad-escape-value", headers{}, "/v1/orders?partner_id=acme%zz", true},
		{"empty-value", headers{}, "/v1/orders?partner_id=", true},
		{"no-value", headers{}, "/v1/orders?partner_id", true},
		{"repeated-all-equal", headers{}, "/v1/orders?partner_id=acme&partnerId=acme", false},
		{"repeated-second-differs", headers{}, "/v1/orders?partner_id=acme&partner_id=globex", true},
		{"repeated-first-differs", headers{}, "/v1/orders?partnerId=globex&partnerId=acme", true},
		{"differing-among-others", headers{}, "/v1/orders?a=1&partner_id=acme&b=2&PartnerId=globex&c=3", true},
		{"semicolon-separator", headers{}, "/v1/orders?page=1;partner_id=globex", true},
		{"semicolon-separator-equal", headers{}, "/v1/orders?page=1;partner_id=acme", false},
		{"empty-pairs", headers{}, "/v1/orders?&&partner_id=acme&&", false},
		{"fragment-ignored", headers{}, "/v1/orders?partner_id=acme#partner_id=globex", false},
		{"fragment-cuts-value", headers{}, "/v1/orders?partner_id=acme#x", false},
		{"fragment-only", headers{}, "/v1/orders#partner_id=globex", false},
		{"header-equal-query-differs", mapHeaders("x-partner-id", me), "/v1/orders?partner_id=globex", true},
		{"header-differs-query-equal", mapHeaders("x-partner-id", "globex"), "/v1/orders?partner_id=acme", true},
		{"value-in-path-is-not-query", headers{}, "/v1/partner_id=globex/orders", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tenantMismatch(tt.h, tt.path, me); got != tt.want {
				t.Errorf("tenantMismatch(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

// TestTenantSelectorSpellingsFrameworksRead guards the spellings an
// outside attack got past the selector check: each names another tenant
// to some framework (Java's equalsIgnoreCase folds dotless ı to i, NFKC
// makes fullwidth ｐ a p, a trimming server drops a tab, a second
// decoding turns %255f into _, a Java server reads path parameters), so
// each is a mismatch; spelling the caller's own id is not.
func TestTenantSelectorSpellingsFrameworksRead(t *testing.T) {
	const me = "acme"
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"dotless-i", "/v1/orders?partner%C4%B1d=globex", true},
		{"dotless-i-raw", "/v1/orders?partnerıd=globex", true},
		{"dotted-capital-i", "/v1/orders?partner%C4%B0d=globex", true},
		{"fullwidth-p", "/v1/orders?%EF%BD%90artnerId=globex", true},
		{"fullwidth-p-raw", "/v1/orders?ｐartnerId=globex", true},
		{"fullwidth-whole-name", "/v1/orders?ＰａｒｔｎｅｒＩｄ=globex", true},
		{"trailing-tab", "/v1/orders?partnerId%09=globex", true},
		{"leading-space", "/v1/orders?%20partnerId=globex", true},
		{"trailing-nul", "/v1/orders?partnerId%00=globex", true},
		{"zero-width-space", "/v1/orders?partner%E2%80%8BId=globex", true},
		{"soft-hyphen", "/v1/orders?partner%C2%ADId=globex", true},
		{"double-encoded-underscore", "/v1/orders?partner%255fid=globex", true},
		{"triple-encoded-underscore", "/v1/orders?partner%25255fid=globex", true},
		{"double-encoded-letter", "/v1/orders?%2570artnerid=globex", true},
		{"matrix-parameter", "/v1/orders;partnerId=globex", true},
		{"matrix-parameter-mid-path", "/v1/orders;partner_id=globex/items", true},
		{"matrix-parameter-among-others", "/v1/orders;v=1;PartnerId=globex", true},
		{"matrix-parameter-equal", "/v1/orders;partnerId=acme", false},
		{"matrix-parameter-unrelated", "/v1/orders;jsessionid=abc", false},
		{"matrix-and-query-equal", "/v1/orders;partnerId=acme?partner_id=acme", false},
		{"fullwidth-own-id-is-not-equal", "/v1/orders?partnerId=%EF%BD%81cme", true},
		{"other-unicode-name", "/v1/orders?pärtnerid=globex", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tenantMismatch(headers{}, tt.path, me); got != tt.want {
				t.Errorf("tenantMismatch(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestIsTenantParam(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"camel", "partnerId", true},
		{"snake", "partner_id", true},
		{"kebab-upper", "PARTNER-ID", true},
		{"dotted", "partner.id", true},
		{"mixed-separators", "Partner_-.Id", true},
		{"array", "partnerId[]", true},
		{"encoded", "partner%5Fid", true},
		{"space-plus", "partner+id", true},
		{"short", "pid", false},
		{"other", "partner", false},
		{"suffix", "partnerid2", false},
		{"prefix", "xpartnerid", false},
		{"bracket-first", "[partnerid]", false},
		{"undecodable", "partner%zzid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isTenantParam(tt.raw); got != tt.want {
				t.Errorf("isTenantParam(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}

func FuzzTenantMismatch(f *testing.F) {
	// No query, a plain query, and an agreeing selector.
	f.Add("/v1/orders")
	f.Add("/v1/orders?page=2")
	f.Add("/v1/orders?partner_id=acme")
	// Separators, encodings and array suffixes in names.
	f.Add("/v1/orders?a=1;b=2&&c")
	f.Add("/v1/orders?partner%5Fid[]=%61cme")
	// Bad escapes in a name and a value.
	f.Add("/v1/orders?%zz=1&partner_id=%")
	// A fragment, which ends the query.
	f.Add("/v1/orders?x#partner_id=globex")
	// Spellings frameworks fold to partnerId: dotless ı, fullwidth ｐ, a
	// trailing tab, a double encoding, and a path parameter.
	f.Add("/v1/orders?partner%C4%B1d=globex")
	f.Add("/v1/orders?\uff50artnerId=globex")
	f.Add("/v1/orders?partnerId%09=globex")
	f.Add("/v1/orders?partner%255fid=globex")
	f.Add("/v1/orders;partnerId=globex")

	f.Fuzz(func(t *testing.T, rawPath string) {
		tenantMismatch(headers{}, rawPath, "acme")
		if strings.Contains(rawPath, "#") {
			return
		}
		// Whatever came before, a disagreeing selector appended to the
		// query must always be caught.
		sep := "&"
		if !strings.Contains(rawPath, "?") {
			sep = "?"
		}
		if !tenantMismatch(headers{}, rawPath+sep+"partner_id=globex", "acme") {
			t.Fatalf("appending partner_id=globex to %q went unnoticed", rawPath)
		}
	})
}
