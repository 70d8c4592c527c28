package k8s

import (
	"path/filepath"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/partnergate/partnergate/envoy"
)

// Test strategy: the headers an edge sends Check decide what Check can
// see (the credential, the request id, the trace context) and what it can
// strip (every x-partner-* header a caller made up). The standalone edge's
// ext_authz allowed_headers (envoy/partner-edge.yaml, whose own test holds
// it to the headers Check reads) is the one list; every other edge is
// compared with it, never with a copy of its names.

const edgeBootstrap = "../envoy/partner-edge.yaml"

// edgeExtAuthz is the standalone edge's ext_authz filter.
func edgeExtAuthz(t *testing.T) *extauthzv3.ExtAuthz {
	t.Helper()
	b, err := envoy.Load(edgeBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	az, err := b.ExtAuthz()
	if err != nil {
		t.Fatal(err)
	}
	if az.GetAllowedHeaders() == nil {
		t.Fatal("the edge's allowed_headers is unset: there is no list to agree with")
	}
	return az
}

// istioExtAuthzPatch returns the ext_authz config the EnvoyFilter patch
// merges into the Istio gateway's CUSTOM ext_authz filter, strictly
// decoded, and checks what the patch applies to.
func istioExtAuthzPatch(t *testing.T, f *EnvoyFilter) *extauthzv3.ExtAuthz {
	t.Helper()
	patches := f.spec.GetConfigPatches()
	if len(patches) != 1 {
		t.Fatalf("EnvoyFilter %s has %d patches, want 1", f.Name, len(patches))
	}
	p := patches[0]
	if p.GetApplyTo() != networkingv1alpha3.EnvoyFilter_HTTP_FILTER || p.GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_MERGE {
		t.Errorf("EnvoyFilter %s: %v %v, want a MERGE into an HTTP_FILTER", f.Name, p.GetPatch().GetOperation(), p.GetApplyTo())
	}
	m := p.GetMatch()
	if m.GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
		t.Errorf("EnvoyFilter %s matches context %v, want GATEWAY", f.Name, m.GetContext())
	}
	fm := m.GetListener().GetFilterChain().GetFilter()
	if fm.GetName() != "envoy.filters.network.http_connection_manager" || fm.GetSubFilter().GetName() != "envoy.filters.http.ext_authz" {
		t.Errorf("EnvoyFilter %s patches %s/%s, not the ext_authz HTTP filter", f.Name, fm.GetName(), fm.GetSubFilter().GetName())
	}
	// The value is an HttpFilter fragment; decode it as one, strictly, so
	// a misspelt field or a wrong @type fails here and not in istiod.
	j, err := protojson.Marshal(p.GetPatch().GetValue())
	if err != nil {
		t.Fatal(err)
	}
	var hf hcmv3.HttpFilter
	if err := protojson.Unmarshal(j, &hf); err != nil {
		t.Fatalf("EnvoyFilter %s patch value is not an HttpFilter: %v", f.Name, err)
	}
	var az extauthzv3.ExtAuthz
	if err := hf.GetTypedConfig().UnmarshalTo(&az); err != nil {
		t.Fatalf("EnvoyFilter %s typed_config is not ExtAuthz: %v", f.Name, err)
	}
	return &az
}

func TestIstioSendsCheckTheEdgesHeaders(t *testing.T) { checkIstioHeaders(t, load(t)) }

// TestChartIstioSendsCheckTheEdgesHeaders: the chart's Istio wiring too.
func TestChartIstioSendsCheckTheEdgesHeaders(t *testing.T) {
	checkIstioHeaders(t, renderChart(t, filepath.Join(chartDir, "ci", "istio-values.yaml")))
}

// checkIstioHeaders asserts every gateway m's AuthorizationPolicies send
// to partnergate gets the edge's header lists from an EnvoyFilter.
func checkIstioHeaders(t *testing.T, m *manifests) {
	t.Helper()
	edge := edgeExtAuthz(t)
	var gateways []string // AuthorizationPolicy selectors using partnergate
	var filters []*EnvoyFilter
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *AuthorizationPolicy:
			if o.spec.GetProvider().GetName() == "partnergate" {
				gateways = append(gateways, o.Namespace+"/"+o.spec.GetSelector().GetMatchLabels()["istio"])
			}
		case *EnvoyFilter:
			filters = append(filters, o)
		}
	}
	for _, gw := range gateways {
		t.Run(gw, func(t *testing.T) {
			var az *extauthzv3.ExtAuthz
			for _, f := range filters {
				if f.Namespace+"/"+f.spec.GetWorkloadSelector().GetLabels()["istio"] == gw {
					az = istioExtAuthzPatch(t, f)
				}
			}
			if az == nil {
				t.Fatal("no EnvoyFilter limits the headers this gateway sends Check: it sends them all")
			}
			if !proto.Equal(az.GetAllowedHeaders(), edge.GetAllowedHeaders()) {
				t.Errorf("allowed_headers\n%v\ndiffers from %s's\n%v", az.GetAllowedHeaders(), edgeBootstrap, edge.GetAllowedHeaders())
			}
			if !proto.Equal(az.GetDisallowedHeaders(), edge.GetDisallowedHeaders()) {
				t.Errorf("disallowed_headers %v differs from %s's %v", az.GetDisallowedHeaders(), edgeBootstrap, edge.GetDisallowedHeaders())
			}
			// The patch sets the header lists only: a MERGE of anything
			// else (failure_mode_allow, services) would override the
			// provider the mesh config defines.
			only := &extauthzv3.ExtAuthz{AllowedHeaders: az.GetAllowedHeaders(), DisallowedHeaders: az.GetDisallowedHeaders()}
			if !proto.Equal(az, only) {
				t.Errorf("the patch sets more than the header lists: %v", az)
			}
		})
	}
	if len(gateways) == 0 {
		t.Fatal("no AuthorizationPolicy uses the partnergate provider")
	}
}

// TestHeaderAgreementCanFail proves the comparison sees a dropped or an
// added pattern.
func TestHeaderAgreementCanFail(t *testing.T) {
	edge := edgeExtAuthz(t).GetAllowedHeaders()
	dropped := proto.Clone(edge).(*matcherv3.ListStringMatcher)
	dropped.Patterns = dropped.Patterns[1:]
	added := proto.Clone(edge).(*matcherv3.ListStringMatcher)
	added.Patterns = append(added.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "cookie"}})
	for _, tc := range []struct {
		name string
		l    *matcherv3.ListStringMatcher
	}{{"dropped-pattern", dropped}, {"added-pattern", added}} {
		t.Run(tc.name, func(t *testing.T) {
			if proto.Equal(tc.l, edge) {
				t.Error("a changed list compares equal")
			}
		})
	}
}
