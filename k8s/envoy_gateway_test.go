package k8s

// Test strategy: the chart's Envoy Gateway objects are rendered by Helm
// and decoded strictly into Envoy Gateway's and Gateway API's own Go types
// (github.com/envoyproxy/gateway/api/v1alpha1, sigs.k8s.io/gateway-api),
// then held to what the standalone edge does: the SecurityPolicy sends
// Check the headers envoy/partner-edge.yaml's allowed_headers sends (as
// envoy.SentToAuthz evaluates it) and fails closed, and the
// BackendTrafficPolicy's rules, evaluated for a request the way Envoy
// Gateway matches client selectors, give each partner the limits
// internal/ratelimit gives it in the envoyproxy/ratelimit config.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/envoy"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

// egObjects are the Envoy Gateway objects of one render.
type egObjects struct {
	route    *gwapiv1.HTTPRoute
	security *egv1a1.SecurityPolicy
	traffic  *egv1a1.BackendTrafficPolicy
}

func envoyGatewayRender(t *testing.T, values string) (*manifests, egObjects) {
	t.Helper()
	m := renderChart(t, filepath.Join(chartDir, "ci", values+"-values.yaml"))
	var eg egObjects
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *gwapiv1.HTTPRoute:
			eg.route = o
		case *egv1a1.SecurityPolicy:
			eg.security = o
		case *egv1a1.BackendTrafficPolicy:
			eg.traffic = o
		}
	}
	if eg.route == nil || eg.security == nil || eg.traffic == nil {
		t.Fatalf("%s: want an HTTPRoute, a SecurityPolicy and a BackendTrafficPolicy, got %+v", values, eg)
	}
	return m, eg
}

// identityHeadersWith returns the identity headers Check sets that
// pattern matches.
func identityHeadersWith(t *testing.T, p *matcherv3.StringMatcher) []string {
	t.Helper()
	var out []string
	for _, h := range []string{authz.HeaderPartnerID, authz.HeaderPartnerScopes, authz.HeaderPartnerCredential, authz.HeaderPartnerTier} {
		one := &extauthzv3.ExtAuthz{AllowedHeaders: &matcherv3.ListStringMatcher{Patterns: []*matcherv3.StringMatcher{p}}}
		ok, err := envoy.SentToAuthz(one, h)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, h)
		}
	}
	return out
}

func TestEnvoyGatewaySendsCheckTheEdgesHeaders(t *testing.T) {
	edge := edgeExtAuthz(t)
	_, eg := envoyGatewayRender(t, "envoy-gateway")
	got := slices.Clone(eg.security.Spec.ExtAuth.HeadersToExtAuth)
	// Envoy Gateway turns each name into an exact, case-insensitive
	// pattern. An exact pattern of the edge is one name; a prefix pattern
	// (x-partner-) cannot be said, and becomes the identity headers Check
	// sets, which Check overwrites.
	var want []string
	for _, p := range edge.GetAllowedHeaders().GetPatterns() {
		if !p.GetIgnoreCase() {
			t.Fatalf("edge pattern %v is case-sensitive: Envoy Gateway's names are not", p)
		}
		switch m := p.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			want = append(want, m.Exact)
		case *matcherv3.StringMatcher_Prefix:
			ids := identityHeadersWith(t, p)
			if len(ids) == 0 {
				t.Fatalf("edge pattern %v matches no identity header: it cannot be said in headersToExtAuth", p)
			}
			want = append(want, ids...)
		default:
			t.Fatalf("edge pattern %v has no Envoy Gateway form: update this test", p)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("headersToExtAuth = %v, want %v (the edge's allowed_headers)", got, want)
	}
	for _, h := range got {
		if sent, err := envoy.SentToAuthz(edge, h); err != nil || !sent {
			t.Errorf("headersToExtAuth lists %s, which the edge does not send Check (%v)", h, err)
		}
	}
}

func TestEnvoyGatewaySecurityPolicyFailsClosed(t *testing.T) {
	m, eg := envoyGatewayRender(t, "envoy-gateway")
	ea := eg.security.Spec.ExtAuth
	if ea == nil || ea.GRPC == nil {
		t.Fatal("the SecurityPolicy has no extAuth.grpc")
	}
	if ea.FailOpen == nil || *ea.FailOpen {
		t.Error("extAuth.failOpen must be set, to false: an unreachable partnergate denies")
	}
	if ea.StatusOnError == nil || *ea.StatusOnError != 503 {
		t.Error("extAuth.statusOnError must be 503, as the standalone edge answers a Check fault")
	}
	if ea.Timeout == nil {
		t.Error("extAuth.timeout must be set (Envoy Gateway's default is 10s)")
	}
	svc := m.services[chartRelease]
	if len(ea.GRPC.BackendRefs) != 1 {
		t.Fatalf("extAuth.grpc.backendRefs = %+v, want partnergate's Service", ea.GRPC.BackendRefs)
	}
	ref := ea.GRPC.BackendRefs[0].BackendObjectReference
	if string(ref.Name) != svc.Name || ref.Port == nil || *ref.Port != 9001 ||
		(ref.Namespace != nil && string(*ref.Namespace) != svc.Namespace) ||
		(ref.Kind != nil && *ref.Kind != "Service") {
		t.Errorf("extAuth.grpc.backendRefs[0] = %+v, want Service %s port 9001 (Check)", ref, svc.Name)
	}
	for _, pol := range []struct {
		kind string
		refs []gwapiv1.LocalPolicyTargetReferenceWithSectionName
		ns   string
	}{
		{"SecurityPolicy", eg.security.Spec.TargetRefs, eg.security.Namespace},
		{"BackendTrafficPolicy", eg.traffic.Spec.TargetRefs, eg.traffic.Namespace},
	} {
		if len(pol.refs) != 1 || pol.refs[0].Kind != "HTTPRoute" || string(pol.refs[0].Name) != eg.route.Name || pol.ns != eg.route.Namespace {
			t.Errorf("%s targets %+v, not the HTTPRoute %s/%s", pol.kind, pol.refs, eg.route.Namespace, eg.route.Name)
		}
	}
	if len(eg.route.Spec.Hostnames) == 0 || len(eg.route.Spec.ParentRefs) == 0 {
		t.Error("the HTTPRoute needs hostnames and a parent Gateway")
	}
}

// egRequest is what the rate-limit rules see of an allowed request: the
// headers Check set.
type egRequest map[string]string

// matches reports whether every header match of sel holds for r, as Envoy
// Gateway matches them: Exact compares the value, Distinct needs the
// header, and invert turns an Exact match around.
func (r egRequest) matches(t *testing.T, sel egv1a1.RateLimitSelectCondition) bool {
	t.Helper()
	if len(sel.Methods) > 0 || sel.Path != nil || sel.SourceCIDR != nil || len(sel.QueryParams) > 0 {
		t.Fatalf("selector %+v matches more than headers: simulate it here", sel)
	}
	for _, h := range sel.Headers {
		v, present := r[strings.ToLower(h.Name)]
		typ := egv1a1.HeaderMatchExact
		if h.Type != nil {
			typ = *h.Type
		}
		invert := h.Invert != nil && *h.Invert
		var ok bool
		switch typ {
		case egv1a1.HeaderMatchExact:
			if h.Value == nil {
				t.Fatalf("exact match on %s without a value", h.Name)
			}
			ok = present && v == *h.Value
		case egv1a1.HeaderMatchDistinct:
			if h.Value != nil || invert {
				t.Fatalf("distinct match on %s with a value or invert", h.Name)
			}
			ok = present
		default:
			t.Fatalf("header match type %s is not simulated", typ)
		}
		if ok == invert {
			return false
		}
	}
	return true
}

var egUnits = map[ratelimit.Window]egv1a1.RateLimitUnit{
	ratelimit.Second: egv1a1.RateLimitUnitSecond,
	ratelimit.Minute: egv1a1.RateLimitUnitMinute,
	ratelimit.Day:    egv1a1.RateLimitUnitDay,
}

var limitKeys = map[ratelimit.Window]string{
	ratelimit.Second: extauthz.MetadataLimitSecond,
	ratelimit.Minute: extauthz.MetadataLimitMinute,
	ratelimit.Day:    extauthz.MetadataLimitDay,
}

func TestEnvoyGatewayRateLimitsAreTheTiers(t *testing.T) {
	for _, values := range []string{"envoy-gateway", "custom-tiers"} {
		t.Run(values, func(t *testing.T) {
			m, eg := envoyGatewayRender(t, values)
			cfg, _ := loadChartConfig(t, m)
			rl := cfg.RateLimit
			if len(rl.Tiers) == 0 {
				t.Fatal("the rendered config has no tiers")
			}
			g := eg.traffic.Spec.RateLimit.Global
			if g == nil || eg.traffic.Spec.RateLimit.Local != nil {
				t.Fatal("the BackendTrafficPolicy must set global rate limits only: local ones are per proxy")
			}
			// The CRD's bounds, which the Go types do not check.
			if len(g.Rules) > 256 {
				t.Errorf("%d rules: the CRD allows 256", len(g.Rules))
			}
			for i, r := range g.Rules {
				for _, s := range r.ClientSelectors {
					if len(s.Headers) > 128 {
						t.Errorf("rule %d: %d header matches: the CRD allows 128", i, len(s.Headers))
					}
				}
			}
			tiers := append(slices.Clone(rl.Tiers), ratelimit.Tier{Name: ratelimit.UnknownTier})
			partners := []string{"some-partner"}
			for _, o := range rl.Overrides {
				partners = append(partners, o.PartnerID)
			}
			for _, tier := range tiers {
				limits := tier
				if tier.Name == ratelimit.UnknownTier {
					limits = ratelimit.Strictest(rl.Tiers)
				}
				for _, p := range partners {
					req := egRequest{authz.HeaderPartnerTier: tier.Name, authz.HeaderPartnerID: p}
					for _, w := range ratelimit.Windows {
						want := limits.Limit(w)
						for _, o := range rl.Overrides {
							if o.PartnerID == p && o.Limit(w) != 0 {
								want = o.Limit(w)
							}
						}
						got, err := egLimit(t, g.Rules, req, w)
						if err != nil {
							t.Errorf("tier %s partner %s per %s: %v", tier.Name, p, w, err)
						} else if got != want {
							t.Errorf("tier %s partner %s per %s: Envoy Gateway allows %d, the ratelimit config %d (0: no limit)", tier.Name, p, w, got, want)
						}
					}
				}
			}
		})
	}
}

// egLimit returns the limit the matching rules in window w put on req (0
// if none), and checks that they count per partner and read a partner's
// own limit from Check's metadata.
func egLimit(t *testing.T, rules []egv1a1.RateLimitRule, req egRequest, w ratelimit.Window) (uint32, error) {
	t.Helper()
	var got uint32
	n := 0
	for _, r := range rules {
		if r.Limit.Unit != egUnits[w] {
			continue
		}
		all := true
		for _, s := range r.ClientSelectors {
			all = all && req.matches(t, s)
		}
		if !all || len(r.ClientSelectors) == 0 {
			continue
		}
		n++
		got = r.Limit.Requests
		if md := r.Limit.FromMetadata; md == nil || md.Namespace != "envoy.filters.http.ext_authz" || md.Key != limitKeys[w] {
			return 0, fmt.Errorf("rule %+v does not read the partner's own limit from ext_authz metadata %s", r.ClientSelectors, limitKeys[w])
		}
		if !perPartner(r, req) {
			return 0, fmt.Errorf("rule %+v does not count each partner apart", r.ClientSelectors)
		}
		if r.Shared != nil && *r.Shared {
			return 0, fmt.Errorf("rule %+v is shared across routes", r.ClientSelectors)
		}
	}
	if n > 1 {
		return 0, fmt.Errorf("%d rules match: the strictest would win, not the partner's", n)
	}
	return got, nil
}

// perPartner reports whether r counts req's partner in a bucket of its
// own: a distinct bucket per x-partner-id, or an exact match on req's.
func perPartner(r egv1a1.RateLimitRule, req egRequest) bool {
	for _, s := range r.ClientSelectors {
		for _, h := range s.Headers {
			if !strings.EqualFold(h.Name, authz.HeaderPartnerID) || (h.Invert != nil && *h.Invert) {
				continue
			}
			if h.Type != nil && *h.Type == egv1a1.HeaderMatchDistinct {
				return true
			}
			if h.Value != nil && *h.Value == req[authz.HeaderPartnerID] {
				return true
			}
		}
	}
	return false
}
