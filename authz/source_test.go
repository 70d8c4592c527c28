package authz

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
)

// TestSourceAllowList: the key's and the partner's allow-lists both
// apply, for IPv4 and IPv6, to the address the transport resolved; a
// refusal is 403 source_not_allowed with the address in Detail, for keys
// and (through the partner's list) for the partner's other credentials.
func TestSourceAllowList(t *testing.T) {
	cidrs := func(s string) partner.CIDRs {
		c, err := partner.ParseCIDRs("allow", s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name       string
		key, part  string // allow-lists, "" for none
		addr       string // Request.SourceAddr
		want       Reason
		wantDetail string
	}{
		{"no-lists-any-address", "", "", "192.0.2.1", ReasonAllowed, ""},
		{"no-lists-no-address", "", "", "", ReasonAllowed, ""},
		{"key-list-v4-inside", "203.0.113.0/24", "", "203.0.113.7", ReasonAllowed, ""},
		{"key-list-v4-outside", "203.0.113.0/24", "", "203.0.114.7", ReasonSourceNotAllowed, "203.0.114.7"},
		{"key-list-v4-mapped-inside", "203.0.113.0/24", "", "::ffff:203.0.113.7", ReasonAllowed, ""},
		{"key-list-v6-inside", "2001:db8::/32", "", "2001:db8:1::5", ReasonAllowed, ""},
		{"key-list-v6-outside", "2001:db8::/32", "", "2001:db9::5", ReasonSourceNotAllowed, "2001:db9::5"},
		{"key-list-no-address", "2001:db8::/32", "", "", ReasonSourceNotAllowed, "no client address"},
		{"key-list-garbage-address", "2001:db8::/32", "", "not-an-ip", ReasonSourceNotAllowed, "no client address"},
		{"partner-list-outside", "", "198.51.100.0/24", "203.0.113.7", ReasonSourceNotAllowed, "203.0.113.7"},
		{"both-lists-both-pass", "203.0.113.0/24", "203.0.0.0/16", "203.0.113.7", ReasonAllowed, ""},
		{"both-lists-partner-fails", "203.0.113.0/24", "198.51.100.0/24", "203.0.113.7", ReasonSourceNotAllowed, "203.0.113.7"},
		{"both-lists-key-fails", "198.51.100.0/24", "203.0.0.0/16", "203.0.113.7", ReasonSourceNotAllowed, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format, _ := apikey.NewFormat("pg_test_")
			hasher, _ := apikey.NewHasher(1, map[int][]byte{1: []byte(strings.Repeat("p", 32))})
			k, _ := format.Generate(nil)
			digest, v := hasher.Digest(k)
			idx := &fakeIndex{
				keys: map[string]partner.KeyRecord{k.ID(): {ID: k.ID(), PartnerID: "acme", Scopes: "orders:read", Digest: digest, PepperVersion: v,
					AllowCIDRs: cidrs(tt.key)}},
				partners: map[string]*partner.Partner{"acme": {ID: "acme", Tier: "gold", Scopes: partner.Scopes{"orders:read"}, State: partner.Active,
					AllowCIDRs: cidrs(tt.part)}},
			}
			idx.ready.Store(true)
			dec, err := New(Options{Index: idx, Keys: format, Hasher: hasher, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			d, err := dec.Decide(context.Background(), Request{
				Method: "GET", Path: "/v1/orders", RequiredScopes: "orders:read", SourceAddr: tt.addr,
				Headers: MapHeaders{"authorization": "Bearer " + k.Reveal()},
			})
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != tt.want || d.Detail != tt.wantDetail {
				t.Fatalf("reason %s (detail %q), want %s (%q)", d.Reason, d.Detail, tt.want, tt.wantDetail)
			}
			if tt.want == ReasonSourceNotAllowed {
				if d.Reason.Status() != 403 || d.Reason.Public() != "source_not_allowed" || !d.Reason.HighSeverity() {
					t.Errorf("status %d, public %q", d.Reason.Status(), d.Reason.Public())
				}
			}
		})
	}
}

// TestTokenSourceAllowList: a partner's allow-list binds its OAuth2
// clients' access tokens as it binds its keys.
func TestTokenSourceAllowList(t *testing.T) {
	const iss = "https://idp.example/realms/partners"
	tokens := fakeTokens{jwtish("good"): {p: &jwtverify.Principal{Issuer: iss, ClientID: "acme-client", Scopes: partner.Scopes{"orders:read"},
		ScopeList: "orders:read", JTI: "jti-1", IssuedAt: testNow.Add(-time.Minute)}}}
	f := newFixture(t, nil, tokens)
	f.index.clients[[2]string{iss, "acme-client"}] = "acme"
	list, _ := partner.ParseCIDRs("allow", "203.0.113.0/24,2001:db8::/32")
	f.index.partners["acme"].AllowCIDRs = list
	for _, tt := range []struct {
		addr string
		want Reason
	}{
		{"203.0.113.9", ReasonAllowed},
		{"2001:db8::9", ReasonAllowed},
		{"198.51.100.9", ReasonSourceNotAllowed},
	} {
		d, err := f.dec.Decide(context.Background(), Request{Method: "GET", Path: "/v1/orders", RequiredScopes: "orders:read", SourceAddr: tt.addr,
			Headers: MapHeaders{"authorization": "Bearer " + jwtish("good")}})
		if err != nil || d.Reason != tt.want {
			t.Errorf("token from %s: %s, %v; want %s", tt.addr, d.Reason, err, tt.want)
		}
	}
}
