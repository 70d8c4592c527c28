package envoy

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

// overrideValue is what partnergate emits for a partner's own limit.
func overrideValue(n float64, unit string) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"requests_per_unit": structpb.NewNumberValue(n),
		"unit":              structpb.NewStringValue(unit),
	}})
}

// TestEdgeCarriesLimitOverrides: every route of the shipped edge turns the
// limit metadata partnergate emits (keys from authz, not restated) into
// the limit of that window's descriptor, and only that window's; without
// the metadata no descriptor carries a limit.
func TestEdgeCarriesLimitOverrides(t *testing.T) {
	m := hcm(t, load(t))
	fields := func(extra map[string]*structpb.Value) map[string]*structpb.Struct {
		f := map[string]*structpb.Value{
			extauthz.MetadataPartnerID: structpb.NewStringValue("acme"),
			extauthz.MetadataTier:      structpb.NewStringValue("free"),
		}
		for k, v := range extra {
			f[k] = v
		}
		return map[string]*structpb.Struct{extAuthzName: {Fields: f}}
	}
	over := func(n uint32, u typev3.RateLimitUnit) *ratelimitv3.RateLimitDescriptor_RateLimitOverride {
		return &ratelimitv3.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: n, Unit: u}
	}
	tests := []struct {
		name string
		md   map[string]*structpb.Struct
		want map[ratelimit.Window]*ratelimitv3.RateLimitDescriptor_RateLimitOverride
	}{
		{"no-overrides", fields(nil), nil},
		{"second-and-day", fields(map[string]*structpb.Value{
			extauthz.MetadataLimitSecond: overrideValue(50, "SECOND"),
			extauthz.MetadataLimitDay:    overrideValue(10_000, "DAY"),
		}), map[ratelimit.Window]*ratelimitv3.RateLimitDescriptor_RateLimitOverride{
			ratelimit.Second: over(50, typev3.RateLimitUnit_SECOND),
			ratelimit.Day:    over(10_000, typev3.RateLimitUnit_DAY),
		}},
		{"minute-only", fields(map[string]*structpb.Value{
			extauthz.MetadataLimitMinute: overrideValue(600, "MINUTE"),
		}), map[ratelimit.Window]*ratelimitv3.RateLimitDescriptor_RateLimitOverride{
			ratelimit.Minute: over(600, typev3.RateLimitUnit_MINUTE),
		}},
		{"no-metadata-at-all", nil, nil},
	}
	var rlf ratelimitfilterv3.RateLimit
	if err := m.GetHttpFilters()[1].GetTypedConfig().UnmarshalTo(&rlf); err != nil {
		t.Fatal(err) // TestEdgeContract pins the filter order
	}
	stage := rlf.GetStage()
	for _, r := range m.GetRouteConfig().GetVirtualHosts()[0].GetRoutes() {
		for _, tt := range tests {
			t.Run(r.GetName()+"/"+tt.name, func(t *testing.T) {
				ds, err := Descriptors(r.GetRoute().GetRateLimits(), stage, tt.md)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) != len(ratelimit.Windows) {
					t.Fatalf("%d descriptors, want one per window", len(ds))
				}
				for i, w := range ratelimit.Windows {
					if diff := cmp.Diff(tt.want[w], ds[i].GetLimit(), protocmp.Transform()); diff != "" {
						t.Errorf("%s window's limit (-want +got):\n%s", w, diff)
					}
				}
			})
		}
	}
}

// TestDescriptorsLimitOverrideFollowsEnvoy: an override applies only when
// the metadata holds what Envoy's DynamicMetadataRateLimitOverride accepts.
func TestDescriptorsLimitOverrideFollowsEnvoy(t *testing.T) {
	generic := &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorValue: "g"}}}
	rl := []*routev3.RateLimit{{
		Actions: []*routev3.RateLimit_Action{generic},
		Limit: &routev3.RateLimit_Override{OverrideSpecifier: &routev3.RateLimit_Override_DynamicMetadata_{
			DynamicMetadata: &routev3.RateLimit_Override_DynamicMetadata{MetadataKey: metadataKey("ns", "o")},
		}},
	}}
	structOf := func(f map[string]*structpb.Value) *structpb.Value {
		return structpb.NewStructValue(&structpb.Struct{Fields: f})
	}
	tests := []struct {
		name string
		v    *structpb.Value
		want *ratelimitv3.RateLimitDescriptor_RateLimitOverride
	}{
		{"valid", overrideValue(7, "HOUR"), &ratelimitv3.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: 7, Unit: typev3.RateLimitUnit_HOUR}},
		{"absent", nil, nil},
		{"lower-case-unit-is-no-unit", overrideValue(7, "second"), nil},
		{"unknown-unit", overrideValue(7, "FORTNIGHT"), nil},
		{"number-as-string", structOf(map[string]*structpb.Value{"requests_per_unit": structpb.NewStringValue("7"), "unit": structpb.NewStringValue("SECOND")}), nil},
		{"missing-unit", structOf(map[string]*structpb.Value{"requests_per_unit": structpb.NewNumberValue(7)}), nil},
		{"not-a-struct", structpb.NewNumberValue(7), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := map[string]*structpb.Struct{"ns": {Fields: map[string]*structpb.Value{}}}
			if tt.v != nil {
				md["ns"].Fields["o"] = tt.v
			}
			ds, err := Descriptors(rl, 0, md)
			if err != nil || len(ds) != 1 {
				t.Fatalf("Descriptors = %v, %v; want one descriptor", ds, err)
			}
			if diff := cmp.Diff(tt.want, ds[0].GetLimit(), protocmp.Transform()); diff != "" {
				t.Errorf("limit (-want +got):\n%s", diff)
			}
		})
	}

	static := []*routev3.RateLimit{{
		Actions: []*routev3.RateLimit_Action{generic},
		Limit: &routev3.RateLimit_Override{OverrideSpecifier: &routev3.RateLimit_Override_RateLimit{
			RateLimit: &routev3.RateLimit_Override_RateLimitOverride{RequestsPerUnit: 1, Unit: typev3.RateLimitUnit_SECOND},
		}},
	}}
	if _, err := Descriptors(static, 0, nil); err == nil {
		t.Error("a static limit override is not simulated and must be an error")
	}
}
