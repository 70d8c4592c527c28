package partner

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Scopes
		wantErr bool
	}{
		{"empty", "", Scopes{}, false},
		{"sorted-and-deduplicated", "orders:write orders:read orders:write", Scopes{"orders:read", "orders:write"}, false},
		{"extra-whitespace", "  a \t b\n", Scopes{"a", "b"}, false},
		{"url-like", "https://api.example.com/orders.read", Scopes{"https://api.example.com/orders.read"}, false},
		{"quote-refused", `orders"`, nil, true},
		{"comma-refused", "a,b", nil, true},
		{"leading-punctuation-refused", ":a", nil, true},
		{"too-long-refused", strings.Repeat("a", 129), nil, true},
		{"too-many-refused", strings.Repeat("s ", MaxScopes) + "t", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScopes("scopes", tt.in)
			if tt.wantErr {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "scopes" {
					t.Fatalf("ParseScopes(%q) error = %v, want a FieldError naming scopes", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopeSetOperations(t *testing.T) {
	s, _ := ParseScopes("s", "a b c")
	tt, _ := ParseScopes("s", "b c d")
	if !s.Has("b") || s.Has("d") {
		t.Error("Has")
	}
	if !s.HasAll([]string{"a", "c"}) || s.HasAll([]string{"a", "d"}) {
		t.Error("HasAll")
	}
	if diff := cmp.Diff(Scopes{"b", "c"}, s.Intersect(tt)); diff != "" {
		t.Errorf("Intersect (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Scopes{"d"}, s.Missing(tt)); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
	if s.String() != "a b c" {
		t.Errorf("String = %q", s.String())
	}
}

func TestValidatePartner(t *testing.T) {
	ok := Partner{ID: "acme-corp", Tier: "gold", State: Active}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*Partner)
		field string
	}{
		{"upper-case-id", func(p *Partner) { p.ID = "Acme" }, "id"},
		{"id-with-slash", func(p *Partner) { p.ID = "acme/../x" }, "id"},
		{"empty-id", func(p *Partner) { p.ID = "" }, "id"},
		{"id-too-long", func(p *Partner) { p.ID = strings.Repeat("a", 64) }, "id"},
		{"bad-tier", func(p *Partner) { p.Tier = "Gold Plus" }, "tier"},
		{"bad-state", func(p *Partner) { p.State = "archived" }, "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			var fe *FieldError
			if err := p.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError naming %s", err, tt.field)
			}
		})
	}
}

func TestCredentialUsable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		c    Credential
		want bool
	}{
		{"no-expiry", Credential{}, true},
		{"expires-later", Credential{ExpiresAt: now.Add(time.Nanosecond)}, true},
		{"expires-now", Credential{ExpiresAt: now}, false},
		{"expired", Credential{ExpiresAt: now.Add(-time.Hour)}, false},
		{"revoked", Credential{RevokedAt: now.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Usable(now); got != tt.want {
				t.Errorf("Usable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecordCarriesEverythingTheCheckPathNeeds(t *testing.T) {
	exp := time.Unix(100, 5)
	c := Credential{ID: "k", PartnerID: "acme", Scopes: Scopes{"a", "b"}, Digest: []byte{1, 2}, PepperVersion: 2, ExpiresAt: exp, RevokedAt: exp, Version: 7}
	want := KeyRecord{ID: "k", PartnerID: "acme", Scopes: "a b", Digest: []byte{1, 2}, PepperVersion: 2, ExpiresAt: exp.UnixNano(), Revoked: true, Version: 7}
	if diff := cmp.Diff(want, c.Record()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if (&Credential{}).Record().ExpiresAt != 0 {
		t.Error("no expiry must record as 0")
	}
}
