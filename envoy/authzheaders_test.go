package envoy

import (
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// The edge sends partnergate every request header Check reads and no
// other. A header held back would change decisions silently: a caller's
// x-partner-* header would reach the upstream instead of being removed,
// a credential would look missing. The names are where authz reads them:
// findCredential (authorization, x-api-key), requestID (x-request-id),
// tenantMismatch (x-partner-id), removals (every x-partner-*, in any
// case), and the trace context telemetry extracts (traceparent,
// tracestate, baggage).
func TestEdgeSendsPartnergateTheHeadersItReads(t *testing.T) {
	az := edgeExtAuthz(t)
	if az.GetAllowedHeaders() == nil {
		t.Fatal("allowed_headers is unset: Envoy sends partnergate every header")
	}
	for _, h := range []string{
		"authorization", "Authorization", "x-api-key", "x-request-id",
		"x-partner-id", "x-partner-scopes", "x-partner-credential", "x-partner-tier",
		"x-partner-admin", "X-Partner-Role",
		"traceparent", "tracestate", "baggage",
	} {
		if sent, err := SentToAuthz(az, h); err != nil || !sent {
			t.Errorf("%s is not sent to partnergate (%v)", h, err)
		}
	}
	for _, h := range []string{
		":authority", ":path", "user-agent", "cookie", "accept", "content-type",
		"x-forwarded-for", "x-envoy-external-address", "proxy-authorization",
		"x-partnerid", "partner-id", "x-api-key2",
	} {
		if sent, err := SentToAuthz(az, h); err != nil || sent {
			t.Errorf("%s is sent to partnergate, which does not read it (%v)", h, err)
		}
	}
}

func edgeExtAuthz(t *testing.T) *extauthzv3.ExtAuthz {
	t.Helper()
	az, err := load(t).ExtAuthz()
	if err != nil {
		t.Fatal(err)
	}
	return az
}

func TestSentToAuthzFollowsEnvoy(t *testing.T) {
	exact := func(s string, fold bool) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}, IgnoreCase: fold}
	}
	prefix := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
	}
	list := func(p ...*matcherv3.StringMatcher) *matcherv3.ListStringMatcher {
		return &matcherv3.ListStringMatcher{Patterns: p}
	}
	for _, c := range []struct {
		name   string
		az     *extauthzv3.ExtAuthz
		header string
		want   bool
	}{
		{"unset-sends-all", &extauthzv3.ExtAuthz{}, "user-agent", true},
		{"exact", &extauthzv3.ExtAuthz{AllowedHeaders: list(exact("x-api-key", false))}, "x-api-key", true},
		{"names-are-lower-case", &extauthzv3.ExtAuthz{AllowedHeaders: list(exact("x-api-key", false))}, "X-Api-Key", true},
		{"pattern-case-matters-without-ignore_case", &extauthzv3.ExtAuthz{AllowedHeaders: list(exact("X-Api-Key", false))}, "x-api-key", false},
		{"ignore_case", &extauthzv3.ExtAuthz{AllowedHeaders: list(exact("X-Api-Key", true))}, "x-api-key", true},
		{"prefix", &extauthzv3.ExtAuthz{AllowedHeaders: list(exact("a", false), prefix("x-partner-"))}, "x-partner-role", true},
		{"no-match", &extauthzv3.ExtAuthz{AllowedHeaders: list(prefix("x-partner-"))}, "x-partner", false},
		{"suffix", &extauthzv3.ExtAuthz{AllowedHeaders: list(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "-id"}})}, "x-request-id", true},
		{"contains", &extauthzv3.ExtAuthz{AllowedHeaders: list(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "trace"}})}, "traceparent", true},
		{"disallowed-wins", &extauthzv3.ExtAuthz{AllowedHeaders: list(prefix("x-")), DisallowedHeaders: list(exact("x-secret", false))}, "x-secret", false},
		{"disallowed-alone", &extauthzv3.ExtAuthz{DisallowedHeaders: list(exact("cookie", false))}, "cookie", false},
		{"disallowed-alone-others-sent", &extauthzv3.ExtAuthz{DisallowedHeaders: list(exact("cookie", false))}, "accept", true},
	} {
		got, err := SentToAuthz(c.az, c.header)
		if err != nil || got != c.want {
			t.Errorf("%s: SentToAuthz(%q) = %v, %v; want %v", c.name, c.header, got, err, c.want)
		}
	}
	regex := &extauthzv3.ExtAuthz{AllowedHeaders: list(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "x-.*"}}})}
	if _, err := SentToAuthz(regex, "x-api-key"); err == nil {
		t.Error("a regular expression was evaluated, not refused")
	}
}
