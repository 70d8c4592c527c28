package envoy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/forwardauth"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

// Test strategy: partner-edge-http.yaml, decoded and validated like every
// bootstrap here, is checked against what partnergate's HTTP server
// expects of Envoy's http_service: its path prefix, the request headers
// it reads, the identity headers copied onto the request by overwrite,
// denials passed on with their challenge, fail-closed faults, and
// rate-limit descriptors built from the metadata the identity headers
// become. TestHTTPEdgeChecksCatchMistakes breaks each property.

const httpEdgeFile = "partner-edge-http.yaml"

// checkHTTPEdge returns every way m departs from the contract.
func checkHTTPEdge(m *hcmv3.HttpConnectionManager) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !m.GetNormalizePath().GetValue() || !m.GetMergeSlashes() || m.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		bad("path normalisation must be on and escaped slashes rejected")
	}
	if !m.GetUseRemoteAddress().GetValue() {
		bad("use_remote_address: partnergate reads the client from the x-forwarded-for Envoy sets")
	}
	var names []string
	for _, f := range m.GetHttpFilters() {
		names = append(names, f.GetName())
	}
	if want := []string{extAuthzName, "envoy.filters.http.ratelimit", "envoy.filters.http.router"}; !slices.Equal(names, want) {
		return append(errs, fmt.Errorf("http filters = %v, want %v", names, want))
	}
	var az extauthzv3.ExtAuthz
	if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&az); err != nil {
		return append(errs, err)
	}
	if az.GetFailureModeAllow() {
		bad("ext_authz must fail closed")
	}
	if az.GetStatusOnError().GetCode() != typev3.StatusCode_ServiceUnavailable {
		bad("status_on_error = %v, want 503", az.GetStatusOnError())
	}
	svc := az.GetHttpService()
	if svc == nil {
		return append(errs, fmt.Errorf("ext_authz has no http_service"))
	}
	if svc.GetPathPrefix() != forwardauth.EnvoyPrefix {
		bad("path_prefix = %q, want partnergate's %q", svc.GetPathPrefix(), forwardauth.EnvoyPrefix)
	}
	if svc.GetServerUri().GetCluster() != "partnergate" || svc.GetServerUri().GetTimeout() == nil {
		bad("http_service must call the partnergate cluster with a timeout")
	}
	req := az.GetAllowedHeaders()
	for _, h := range []string{"authorization", "x-api-key", "x-partner-id", "x-partner-role", "x-forwarded-for", "x-request-id", "traceparent"} {
		if !matchesAny(req, h) {
			bad("allowed_headers does not send partnergate %s", h)
		}
	}
	if matchesAny(req, strings.ToLower(forwardauth.HeaderRequiredScopes)) {
		bad("allowed_headers sends the caller's %s: a caller would declare the route's scopes", forwardauth.HeaderRequiredScopes)
	}
	resp := svc.GetAuthorizationResponse()
	identity := []string{"x-partner-id", "x-partner-scopes", "x-partner-credential", "x-partner-tier"}
	for _, h := range identity {
		if !matchesAny(resp.GetAllowedUpstreamHeaders(), h) {
			bad("allowed_upstream_headers does not set %s", h)
		}
		if matchesAny(resp.GetAllowedUpstreamHeadersToAppend(), h) {
			bad("%s is appended beside the caller's, not set", h)
		}
	}
	for _, h := range []string{"x-partner-role", "authorization", "set-cookie"} {
		if matchesAny(resp.GetAllowedUpstreamHeaders(), h) {
			bad("allowed_upstream_headers copies %s from partnergate's answer", h)
		}
	}
	for _, h := range []string{"www-authenticate", "content-type", "cache-control"} {
		if !matchesAny(resp.GetAllowedClientHeaders(), h) {
			bad("a denial does not pass %s on to the partner", h)
		}
	}
	for _, h := range []string{"x-partner-id", "x-partner-tier", "x-partner-credential"} {
		if !matchesAny(resp.GetDynamicMetadataFromHeaders(), h) {
			bad("dynamic_metadata_from_headers lacks %s", h)
		}
	}
	var rl ratelimitfilterv3.RateLimit
	if err := m.GetHttpFilters()[1].GetTypedConfig().UnmarshalTo(&rl); err != nil {
		return append(errs, err)
	}
	md := map[string]*structpb.Struct{extAuthzName: {Fields: map[string]*structpb.Value{
		"x-partner-id":   structpb.NewStringValue("acme"),
		"x-partner-tier": structpb.NewStringValue("gold"),
	}}}
	for _, r := range m.GetRouteConfig().GetVirtualHosts()[0].GetRoutes() {
		ds, err := Descriptors(r.GetRoute().GetRateLimits(), rl.GetStage(), md)
		if err != nil {
			bad("route %s: %v", r.GetName(), err)
			continue
		}
		var got []string
		for _, d := range ds {
			var kv []string
			for _, e := range d.GetEntries() {
				kv = append(kv, e.GetKey()+"="+e.GetValue())
			}
			got = append(got, strings.Join(kv, ","))
		}
		var want []string
		for _, w := range ratelimit.Windows {
			want = append(want, ratelimit.KeyTier+"=gold,"+ratelimit.KeyPartnerID+"=acme,"+ratelimit.KeyWindow+"="+string(w))
		}
		if !slices.Equal(got, want) {
			bad("route %s: descriptors %q, want %q", r.GetName(), got, want)
		}
	}
	return errs
}

// matchesAny reports whether the lower-case header name matches one of
// the list's patterns, as Envoy matches them.
func matchesAny(l *matcherv3.ListStringMatcher, name string) bool {
	for _, p := range l.GetPatterns() {
		v := name
		if !p.GetIgnoreCase() {
			// Envoy's headers are lower case by the time they are matched.
			v = strings.ToLower(name)
		}
		switch {
		case p.GetExact() != "" && (p.GetExact() == v || p.GetIgnoreCase() && strings.EqualFold(p.GetExact(), v)):
			return true
		case p.GetPrefix() != "" && (strings.HasPrefix(v, p.GetPrefix()) || p.GetIgnoreCase() && strings.HasPrefix(v, strings.ToLower(p.GetPrefix()))):
			return true
		}
	}
	return false
}

func TestHTTPEdgeContract(t *testing.T) {
	bs, err := Load(httpEdgeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkHTTPEdge(hcm(t, bs)) {
		t.Error(err)
	}
}

func TestHTTPEdgeChecksCatchMistakes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*hcmv3.HttpConnectionManager, *extauthzv3.ExtAuthz)
	}{
		{"fails-open", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) { az.FailureModeAllow = true }},
		{"wrong-prefix", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			az.GetHttpService().PathPrefix = "/authz"
		}},
		{"tier-not-set", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			l := az.GetHttpService().GetAuthorizationResponse().GetAllowedUpstreamHeaders()
			l.Patterns = slices.DeleteFunc(l.Patterns, func(p *matcherv3.StringMatcher) bool { return p.GetExact() == "x-partner-tier" })
		}},
		{"identity-appended", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			r := az.GetHttpService().GetAuthorizationResponse()
			r.AllowedUpstreamHeadersToAppend = r.GetAllowedUpstreamHeaders()
		}},
		{"upstream-gets-anything", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			r := az.GetHttpService().GetAuthorizationResponse()
			r.AllowedUpstreamHeaders.Patterns = append(r.AllowedUpstreamHeaders.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "x-"}})
		}},
		{"spoofed-not-sent", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			l := az.GetAllowedHeaders()
			l.Patterns = slices.DeleteFunc(l.Patterns, func(p *matcherv3.StringMatcher) bool { return p.GetPrefix() == "x-partner-" })
		}},
		{"caller-declares-scopes", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			l := az.GetAllowedHeaders()
			l.Patterns = append(l.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "x-partnergate-"}})
		}},
		{"no-metadata", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			az.GetHttpService().GetAuthorizationResponse().DynamicMetadataFromHeaders = nil
		}},
		{"challenge-dropped", func(_ *hcmv3.HttpConnectionManager, az *extauthzv3.ExtAuthz) {
			az.GetHttpService().GetAuthorizationResponse().AllowedClientHeaders = nil
		}},
		{"rate-limit-on-gRPC-keys", func(m *hcmv3.HttpConnectionManager, _ *extauthzv3.ExtAuthz) {
			for _, a := range m.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetRateLimits()[0].GetActions() {
				if md := a.GetMetadata(); md != nil && md.GetDescriptorKey() == ratelimit.KeyTier {
					md.GetMetadataKey().GetPath()[0].Segment = metadataKey("", "tier").GetPath()[0].Segment
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := Load(httpEdgeFile)
			if err != nil {
				t.Fatal(err)
			}
			m := hcm(t, bs)
			var az extauthzv3.ExtAuthz
			if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&az); err != nil {
				t.Fatal(err)
			}
			tt.mutate(m, &az)
			if err := m.GetHttpFilters()[0].GetTypedConfig().MarshalFrom(&az); err != nil {
				t.Fatal(err)
			}
			if len(checkHTTPEdge(m)) == 0 {
				t.Error("the mistake went unnoticed")
			}
		})
	}
}
