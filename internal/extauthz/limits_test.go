package extauthz

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/partner"
)

// setLimits replaces the partner's entry in the index with one holding l,
// as the cache does when the feed delivers a limit change.
func (f *fakeIndex) setLimits(id string, l partner.Limits) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := *f.partners[id]
	p.Limits = l
	f.partners[id] = &p
}

// override is the struct Envoy's RateLimit.Override.DynamicMetadata reads.
func override(n float64, unit string) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"requests_per_unit": structpb.NewNumberValue(n),
		"unit":              structpb.NewStringValue(unit),
	}})
}

// TestAllowEmitsLimitOverrides: a partner's own limits reach the allow's
// dynamic metadata as Envoy's limit-override structs, one per window set
// and none for the others; a change or a clear shows on the next Check,
// though repeated allows are served from the memo.
func TestAllowEmitsLimitOverrides(t *testing.T) {
	f := newFixture(t, nil)
	base := func(partnerID, tier string) map[string]*structpb.Value {
		return map[string]*structpb.Value{
			MetadataPartnerID:    structpb.NewStringValue(partnerID),
			MetadataTier:         structpb.NewStringValue(tier),
			MetadataCredentialID: structpb.NewStringValue(f.keys[partnerID].ID()),
		}
	}
	with := func(m map[string]*structpb.Value, extra map[string]*structpb.Value) *structpb.Struct {
		for k, v := range extra {
			m[k] = v
		}
		return &structpb.Struct{Fields: m}
	}
	steps := []struct {
		name   string
		limits partner.Limits
		want   map[string]*structpb.Value
	}{
		{"no-limits-emits-none", partner.Limits{}, nil},
		{"one-window", partner.Limits{PerSecond: 50}, map[string]*structpb.Value{
			MetadataLimitSecond: override(50, "SECOND"),
		}},
		{"changed-limits-replace-the-memo", partner.Limits{PerMinute: 600, PerDay: 10_000}, map[string]*structpb.Value{
			MetadataLimitMinute: override(600, "MINUTE"),
			MetadataLimitDay:    override(10_000, "DAY"),
		}},
		{"every-window-at-its-bound", partner.Limits{PerSecond: partner.MaxPerSecond, PerMinute: partner.MaxPerMinute, PerDay: partner.MaxPerDay}, map[string]*structpb.Value{
			MetadataLimitSecond: override(partner.MaxPerSecond, "SECOND"),
			MetadataLimitMinute: override(partner.MaxPerMinute, "MINUTE"),
			MetadataLimitDay:    override(partner.MaxPerDay, "DAY"),
		}},
		{"cleared-emits-none", partner.Limits{}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.index.setLimits("acme", st.limits)
			// Twice: the second allow comes from the memo.
			for range 2 {
				resp, err := f.client.Check(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
				if err != nil || resp.GetOkResponse() == nil {
					t.Fatalf("Check = %v, %v; want an allow", resp, err)
				}
				want := with(base("acme", "gold"), st.want)
				if diff := cmp.Diff(want, resp.GetDynamicMetadata(), protocmp.Transform()); diff != "" {
					t.Fatalf("dynamic metadata (-want +got):\n%s", diff)
				}
			}
			// Another partner's response never carries acme's limits.
			resp, err := f.client.Check(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["globex"]), nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(with(base("globex", "free"), nil), resp.GetDynamicMetadata(), protocmp.Transform()); diff != "" {
				t.Errorf("globex metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAllowEmitsLimitOverridesForTokens: the token path carries the
// partner's limits too.
func TestAllowEmitsLimitOverridesForTokens(t *testing.T) {
	tf := newTokenFixture(t, 0)
	tf.index.setLimits("acme", partner.Limits{PerDay: 42})
	c := tf.claims()
	tok := sign(t, tf.rsa, c, func(*jwt.Token) {})
	resp, err := tf.client.Check(context.Background(), request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil))
	if err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("Check = %v, %v; want an allow", resp, err)
	}
	got := resp.GetDynamicMetadata().GetFields()
	if diff := cmp.Diff(override(42, "DAY"), got[MetadataLimitDay], protocmp.Transform()); diff != "" {
		t.Errorf("limit_day (-want +got):\n%s", diff)
	}
	if _, ok := got[MetadataLimitSecond]; ok {
		t.Error("limit_second emitted for a window without an override")
	}
}

// BenchmarkBuildAllow measures building an allow response outside the
// memo (a first request, or one that spoofed a header), without and with
// limit overrides: the first must cost what it did before overrides.
func BenchmarkBuildAllow(b *testing.B) {
	for _, c := range []struct {
		name   string
		limits partner.Limits
	}{
		{"no-overrides", partner.Limits{}},
		{"three-overrides", partner.Limits{PerSecond: 50, PerMinute: 600, PerDay: 10_000}},
	} {
		d := &authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme", Tier: "gold", CredentialID: "k1", Scopes: "orders:read", Limits: c.limits}
		remove := []string{"authorization", "x-partner-admin"}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if buildAllow(ptr(identityOf(d)), remove).GetDynamicMetadata() == nil {
						b.Fatal("no metadata")
					}
				}
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }
