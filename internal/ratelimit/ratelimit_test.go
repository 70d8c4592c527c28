package ratelimit

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/partnergate/partnergate/internal/partner"
)

// Test strategy: Render's output is decoded back into envoyproxy/ratelimit's
// shape and walked the way the service matches a descriptor (most specific
// value first, then the key alone, one level per entry, no backtracking),
// so the tests assert the limit a real request would get, not the text.
// The real service is exercised in integration_test.go.

var sample = Config{
	Domain: "partnergate",
	Tiers: []Tier{
		{Name: "free", PerSecond: 5, PerMinute: 100, PerDay: 5000},
		{Name: "gold", PerSecond: 100, PerMinute: 3000},
	},
	Overrides: []Override{{PartnerID: "acme", PerSecond: 50}},
}

// lookup finds the limit for (tier, partner, window) as envoyproxy/ratelimit
// would: ok is false when no rule matches (no limit at all).
func lookup(t *testing.T, out []byte, tier, partnerID string, w Window) (l limit, ok bool) {
	t.Helper()
	var r root
	if err := yaml.Unmarshal(out, &r); err != nil {
		t.Fatalf("decode rendered config: %v", err)
	}
	level := r.Descriptors
	var d *descriptor
	for _, e := range []struct{ key, value string }{{KeyTier, tier}, {KeyPartnerID, partnerID}, {KeyWindow, string(w)}} {
		d = nil
		for i := range level {
			if level[i].Key == e.key && level[i].Value == e.value {
				d = &level[i]
			}
		}
		if d == nil {
			for i := range level {
				if level[i].Key == e.key && level[i].Value == "" {
					d = &level[i]
				}
			}
		}
		if d == nil {
			return limit{}, false
		}
		level = d.Descriptors
	}
	if d.RateLimit == nil {
		return limit{}, false
	}
	return *d.RateLimit, true
}

func TestRenderLimits(t *testing.T) {
	out, err := sample.Render()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		tier, partner string
		window        Window
		want          limit
	}{
		{"free-per-second", "free", "p1", Second, limit{Unit: "second", RequestsPerUnit: 5}},
		{"free-per-minute", "free", "p1", Minute, limit{Unit: "minute", RequestsPerUnit: 100}},
		{"free-per-day", "free", "p1", Day, limit{Unit: "day", RequestsPerUnit: 5000}},
		{"gold-per-second", "gold", "p2", Second, limit{Unit: "second", RequestsPerUnit: 100}},
		{"gold-no-daily-quota-is-explicit", "gold", "p2", Day, limit{Unlimited: true}},
		{"override-replaces-its-window", "free", "acme", Second, limit{Unit: "second", RequestsPerUnit: 50}},
		{"override-inherits-other-windows", "free", "acme", Minute, limit{Unit: "minute", RequestsPerUnit: 100}},
		{"override-applies-in-every-tier", "gold", "acme", Second, limit{Unit: "second", RequestsPerUnit: 50}},
		{"override-inherits-gold-unlimited", "gold", "acme", Day, limit{Unlimited: true}},
		{"unknown-tier-gets-strictest", "platinum", "p3", Second, limit{Unit: "second", RequestsPerUnit: 5}},
		{"missing-metadata-gets-strictest", UnknownTier, UnknownPartner, Day, limit{Unit: "day", RequestsPerUnit: 5000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lookup(t, out, tt.tier, tt.partner, tt.window)
			if !ok {
				t.Fatalf("no rule matches (%s, %s, %s)", tt.tier, tt.partner, tt.window)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("limit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, err := sample.Render()
	if err != nil {
		t.Fatal(err)
	}
	shuffled := Config{
		Domain:    sample.Domain,
		Tiers:     []Tier{sample.Tiers[1], sample.Tiers[0]},
		Overrides: append([]Override{{PartnerID: "zeta", PerDay: 1}}, sample.Overrides...),
	}
	unshuffled := Config{
		Domain:    sample.Domain,
		Tiers:     sample.Tiers,
		Overrides: append(append([]Override{}, sample.Overrides...), Override{PartnerID: "zeta", PerDay: 1}),
	}
	b, err := shuffled.Render()
	if err != nil {
		t.Fatal(err)
	}
	c, err := unshuffled.Render()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(c), string(b)); diff != "" {
		t.Errorf("order changed the output (-sorted +shuffled):\n%s", diff)
	}
	again, _ := sample.Render()
	if string(a) != string(again) {
		t.Error("two renders of the same config differ")
	}
	if !strings.HasPrefix(string(a), Header) {
		t.Error("output lacks the generated-file header")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Validate("bad domain!", []Tier{
		{Name: "Free", PerSecond: 1},
		{Name: "gold"},
		{Name: "gold"},
	}, []Override{
		{PartnerID: "-x"},
		{PartnerID: "ok", PerDay: 1},
		{PartnerID: "ok", PerDay: 2},
	})
	if err == nil {
		t.Fatal("Validate accepted an invalid config")
	}
	wantFields := []string{
		"domain",
		"tiers[0].name",
		"tiers[2].name",
		"overrides[0].partner_id",
		"overrides[0].per_second",
		"overrides[2].partner_id",
	}
	var got []string
	for _, e := range unjoin(err) {
		for _, e := range unjoin(e) {
			var fe *partner.FieldError
			if !errors.As(e, &fe) {
				t.Errorf("error %q names no field", e)
				continue
			}
			got = append(got, fe.Field)
		}
	}
	if diff := cmp.Diff(wantFields, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s\nerror: %v", diff, err)
	}
}

func TestValidateEmpty(t *testing.T) {
	err := Validate("partnergate", nil, nil)
	var fe *partner.FieldError
	if !errors.As(err, &fe) || fe.Field != "tiers" {
		t.Fatalf("Validate(no tiers) = %v, want a tiers field error", err)
	}
	if _, err := Render("partnergate", nil, nil); err == nil {
		t.Fatal("Render accepted no tiers")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"valid", "domain: d\ntiers:\n  - name: free\n    per_second: 1\n", ""},
		{"unknown-field-is-an-error", "domain: d\ntiers:\n  - name: free\n    per_secnd: 1\n", "per_secnd"},
		{"invalid-is-an-error", "domain: d\ntiers: []\n", "tiers"},
		{"negative-is-an-error", "domain: d\ntiers:\n  - name: free\n    per_second: -1\n", "line 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}
