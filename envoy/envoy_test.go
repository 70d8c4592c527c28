package envoy

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/ratelimit"
)

// Test strategy: every Envoy bootstrap in this directory is decoded into
// go-control-plane's typed protos and validated down into the typed configs
// packed in Any fields; then partner-edge.yaml is checked against the
// contracts others build on (filter order, fail-closed ext_authz, the
// ratelimit domain and descriptor shape, per-route scopes). The mutation
// tests prove the checks can fail. The generated ratelimit config is
// compared byte for byte with Render's output.

var update = flag.Bool("update", false, "rewrite ratelimit-config.yaml from ratelimit-tiers.yaml")

const (
	edgeFile        = "partner-edge.yaml"
	tiersFile       = "ratelimit-tiers.yaml"
	ratelimitConfig = "ratelimit-config.yaml"
	extAuthzName    = "envoy.filters.http.ext_authz"
)

// notBootstraps are the YAML files here that are not Envoy bootstraps;
// every other *.yaml must decode as one.
var notBootstraps = map[string]bool{tiersFile: true, ratelimitConfig: true}

func TestBootstrapsDecodeAndValidate(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if notBootstraps[f] {
			continue
		}
		n++
		t.Run(f, func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no bootstrap found")
	}
}

func TestEdgeUsesEveryTypedConfig(t *testing.T) {
	bs := load(t)
	for _, want := range []string{
		"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
		"envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
		"envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
		"envoy.extensions.filters.http.ratelimit.v3.RateLimit",
		"envoy.extensions.filters.http.router.v3.Router",
		"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
		"envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
	} {
		if !slices.Contains(bs.Types, want) {
			t.Errorf("%s was not found (and so not validated); found %v", want, bs.Types)
		}
	}
}

func load(t *testing.T) *Bootstrap {
	t.Helper()
	bs, err := Load(edgeFile)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func hcm(t *testing.T, bs *Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	ls := bs.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("want 1 listener, got %d", len(ls))
	}
	var m hcmv3.HttpConnectionManager
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestEdgeContract(t *testing.T) {
	m := hcm(t, load(t))

	if !m.GetNormalizePath().GetValue() || !m.GetMergeSlashes() ||
		m.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Error("path normalisation must be on and escaped slashes rejected")
	}

	var names []string
	for _, f := range m.GetHttpFilters() {
		names = append(names, f.GetName())
	}
	if want := []string{extAuthzName, "envoy.filters.http.ratelimit", "envoy.filters.http.router"}; !slices.Equal(names, want) {
		t.Fatalf("http filters = %v, want %v", names, want)
	}

	var az extauthzv3.ExtAuthz
	if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&az); err != nil {
		t.Fatal(err)
	}
	if az.GetFailureModeAllow() {
		t.Error("ext_authz must fail closed")
	}
	if !az.GetValidateMutations() || !az.GetIncludePeerCertificate() || az.GetWithRequestBody() != nil {
		t.Error("ext_authz: want validate_mutations, include_peer_certificate, no request body")
	}
	if az.GetStatusOnError().GetCode() != typev3.StatusCode_ServiceUnavailable {
		t.Errorf("status_on_error = %v", az.GetStatusOnError())
	}
	if az.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "partnergate" || az.GetGrpcService().GetTimeout() == nil {
		t.Error("ext_authz must call the partnergate cluster with a timeout")
	}

	var rl ratelimitfilterv3.RateLimit
	if err := m.GetHttpFilters()[1].GetTypedConfig().UnmarshalTo(&rl); err != nil {
		t.Fatal(err)
	}
	cfg := tiers(t)
	if rl.GetDomain() != cfg.Domain {
		t.Errorf("ratelimit filter domain %q != %s domain %q", rl.GetDomain(), tiersFile, cfg.Domain)
	}

	routes := m.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
	for _, r := range routes {
		t.Run(r.GetName(), func(t *testing.T) { checkRoute(t, r, rl.GetStage()) })
	}
}

// checkRoute asserts a route's scopes and rate-limit descriptors.
func checkRoute(t *testing.T, r *routev3.Route, stage uint32) {
	if r.GetRoute() == nil {
		return
	}
	if r.GetName() != "default" {
		var per extauthzv3.ExtAuthzPerRoute
		if err := r.GetTypedPerFilterConfig()[extAuthzName].UnmarshalTo(&per); err != nil {
			t.Fatalf("no ExtAuthzPerRoute: %v", err)
		}
		if per.GetDisabled() || per.GetCheckSettings().GetContextExtensions()["required_scopes"] == "" {
			t.Error("route must keep ext_authz on and declare required_scopes")
		}
	}

	md := map[string]*structpb.Struct{extAuthzName: {Fields: map[string]*structpb.Value{
		"partner_id":    structpb.NewStringValue("acme"),
		"tier":          structpb.NewStringValue("free"),
		"credential_id": structpb.NewStringValue("key_1"),
	}}}
	tests := []struct {
		name          string
		md            map[string]*structpb.Struct
		tier, partner string
	}{
		{"from-metadata", md, "free", "acme"},
		// default_value: no metadata must still produce every descriptor.
		{"missing-metadata", nil, ratelimit.UnknownTier, ratelimit.UnknownPartner},
	}
	for _, tt := range tests {
		ds, err := Descriptors(r.GetRoute().GetRateLimits(), stage, tt.md)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
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
			want = append(want, ratelimit.KeyTier+"="+tt.tier+","+ratelimit.KeyPartnerID+"="+tt.partner+","+ratelimit.KeyWindow+"="+string(w))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: descriptors\n got %q\nwant %q", tt.name, got, want)
		}
	}
}

func tiers(t *testing.T) ratelimit.Config {
	t.Helper()
	b, err := os.ReadFile(tiersFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ratelimit.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRatelimitConfigIsGenerated keeps ratelimit-config.yaml equal to what
// Render makes of ratelimit-tiers.yaml. Regenerate with
// go test ./envoy -run TestRatelimitConfigIsGenerated -update.
func TestRatelimitConfigIsGenerated(t *testing.T) {
	want, err := tiers(t).Render()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(ratelimitConfig, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(ratelimitConfig)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale; run: go test ./envoy -run %s -update", ratelimitConfig, t.Name())
	}
}

// TestValidationCatchesMistakes proves the checks above can fail: each case
// breaks partner-edge.yaml in one place and expects Decode to refuse it.
func TestValidationCatchesMistakes(t *testing.T) {
	orig, err := os.ReadFile(edgeFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
	}{
		{"typo-in-bootstrap", "static_resources:", "static_resource:"},
		{"typo-inside-packed-filter", "failure_mode_allow: false", "failure_mode_alow: false"},
		{"invalid-value-inside-packed-filter", "domain: partnergate", `domain: ""`},
		{"invalid-enum-inside-packed-filter", "status_on_error: { code: ServiceUnavailable }", "status_on_error: { code: 42 }"},
		{"typo-inside-per-route-config", "check_settings:", "check_setings:"},
		{"unregistered-type", "envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr"},
		{"invalid-rate-limit-action", "descriptor_key: tier", `descriptor_key: ""`},
		{"invalid-cluster", "connect_timeout: 0.25s", "connect_timeout: -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Count(string(orig), tt.old) == 0 {
				t.Fatalf("%q not found in %s: update this test", tt.old, edgeFile)
			}
			broken := strings.Replace(string(orig), tt.old, tt.new, 1)
			if _, err := Decode([]byte(broken)); err == nil {
				t.Fatalf("Decode accepted %s with %q", edgeFile, tt.new)
			}
		})
	}
}

func TestDescriptorsFollowsEnvoy(t *testing.T) {
	md := map[string]*structpb.Struct{"ns": {Fields: map[string]*structpb.Value{
		"s":      structpb.NewStringValue("v"),
		"n":      structpb.NewNumberValue(1),
		"nested": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("deep")}}),
	}}}
	meta := func(path []string, def string, skip bool) *routev3.RateLimit_Action {
		a := &routev3.RateLimit_Action_MetaData{DescriptorKey: "k", DefaultValue: def, SkipIfAbsent: skip, Source: routev3.RateLimit_Action_MetaData_DYNAMIC}
		a.MetadataKey = metadataKey("ns", path...)
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_Metadata{Metadata: a}}
	}
	generic := &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorValue: "g"}}}
	tests := []struct {
		name    string
		actions []*routev3.RateLimit_Action
		want    string // "" when the descriptor is dropped
	}{
		{"string-value", []*routev3.RateLimit_Action{meta([]string{"s"}, "", false)}, "k=v"},
		{"nested-path", []*routev3.RateLimit_Action{meta([]string{"nested", "k"}, "", false)}, "k=deep"},
		{"absent-drops-descriptor", []*routev3.RateLimit_Action{generic, meta([]string{"x"}, "", false)}, ""},
		{"non-string-counts-as-absent", []*routev3.RateLimit_Action{meta([]string{"n"}, "", false)}, ""},
		{"default-value", []*routev3.RateLimit_Action{meta([]string{"x"}, "d", false)}, "k=d"},
		{"skip-if-absent-drops-entry", []*routev3.RateLimit_Action{generic, meta([]string{"x"}, "", true)}, "generic_key=g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := Descriptors([]*routev3.RateLimit{{Actions: tt.actions}}, 0, md)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(ds) == 1 {
				var kv []string
				for _, e := range ds[0].GetEntries() {
					kv = append(kv, e.GetKey()+"="+e.GetValue())
				}
				got = strings.Join(kv, ",")
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	unsupported := []*routev3.RateLimit{{Actions: []*routev3.RateLimit_Action{{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{}}}}}}
	if _, err := Descriptors(unsupported, 0, md); err == nil {
		t.Error("an action that is not simulated must be an error")
	}
	other := []*routev3.RateLimit{proto.CloneOf(&routev3.RateLimit{Actions: []*routev3.RateLimit_Action{generic}})}
	other[0].Stage = wrapUint32(1)
	if ds, _ := Descriptors(other, 0, md); len(ds) != 0 {
		t.Error("rate_limits of another stage must be ignored")
	}
}

const mtlsEdgeFile = "partner-edge-mtls.yaml"

// TestMTLSEdge: the shipped mutual-TLS edge requires a client certificate
// from a trusted CA, forwards it to partnergate, and is partner-edge.yaml
// in every other respect.
func TestMTLSEdge(t *testing.T) {
	mtls, err := Load(mtlsEdgeFile)
	if err != nil {
		t.Fatal(err)
	}
	ls := mtls.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 {
		t.Fatalf("want one listener with one filter chain, got %v", ls)
	}
	ts := ls[0].GetFilterChains()[0].GetTransportSocket()
	var tc tlsv3.DownstreamTlsContext
	if ts.GetName() != "envoy.transport_sockets.tls" || ts.GetTypedConfig().UnmarshalTo(&tc) != nil {
		t.Fatalf("transport socket = %v, want a DownstreamTlsContext", ts)
	}
	if !tc.GetRequireClientCertificate().GetValue() {
		t.Error("require_client_certificate must be true")
	}
	vc := tc.GetCommonTlsContext().GetValidationContext()
	if vc.GetTrustedCa().GetFilename() == "" && vc.GetTrustedCa().GetInlineString() == "" {
		t.Error("validation_context needs a trusted_ca")
	}
	if vc.GetTrustChainVerification() != tlsv3.CertificateValidationContext_VERIFY_TRUST_CHAIN {
		t.Error("trust_chain_verification must stay VERIFY_TRUST_CHAIN")
	}
	if v := tc.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion(); v < tlsv3.TlsParameters_TLSv1_2 {
		t.Errorf("tls_minimum_protocol_version = %v, want TLSv1_2 or later", v)
	}
	var az extauthzv3.ExtAuthz
	if err := hcm(t, mtls).GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&az); err != nil {
		t.Fatal(err)
	}
	if !az.GetIncludePeerCertificate() {
		t.Error("ext_authz must set include_peer_certificate")
	}

	// Everything but the listener's address and transport socket is the
	// plain edge's, whose contract TestEdgeContract checks.
	plain := load(t)
	strip := func(bs *Bootstrap) *bootstrapv3.Bootstrap {
		c := proto.Clone(bs.Bootstrap).(*bootstrapv3.Bootstrap)
		l := c.GetStaticResources().GetListeners()[0]
		l.Address = nil
		l.GetFilterChains()[0].TransportSocket = nil
		return c
	}
	if diff := cmp.Diff(strip(plain), strip(mtls), protocmp.Transform()); diff != "" {
		t.Errorf("%s differs from %s beyond the listener (-plain +mtls):\n%s", mtlsEdgeFile, edgeFile, diff)
	}
}

func TestMTLSValidationCatchesMistakes(t *testing.T) {
	orig, err := os.ReadFile(mtlsEdgeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, old, new string }{
		{"typo-in-tls-context", "require_client_certificate: true", "require_client_certifcate: true"},
		{"invalid-tls-version", "tls_minimum_protocol_version: TLSv1_2", "tls_minimum_protocol_version: TLSv9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tt.old) {
				t.Fatalf("%q not found in %s: update this test", tt.old, mtlsEdgeFile)
			}
			if _, err := Decode([]byte(strings.Replace(string(orig), tt.old, tt.new, 1))); err == nil {
				t.Fatalf("Decode accepted %s with %q", mtlsEdgeFile, tt.new)
			}
		})
	}
}
