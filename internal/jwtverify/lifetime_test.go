package jwtverify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTokenLifetimeBounded guards max_token_lifetime: a token whose exp
// lies further from its iat than the issuer allows (ten years, a day and
// a second) is refused as token_lifetime_exceeded, whatever its
// signature; one within the bound is not, and the bound is per issuer.
func TestTokenLifetimeBounded(t *testing.T) {
	good := rsaKey("k1")
	tests := []struct {
		name string
		max  time.Duration // the issuer's max_token_lifetime; 0 is the default
		life time.Duration
		want error
	}{
		{"ten-years-refused", 0, 10 * 365 * 24 * time.Hour, ErrLifetime},
		{"default-bound-exceeded-by-a-second", 0, 24*time.Hour + time.Second, ErrLifetime},
		{"default-bound-met", 0, 24 * time.Hour, nil},
		{"short-token", 0, 5 * time.Minute, nil},
		{"issuer-bound-tighter", time.Hour, 2 * time.Hour, ErrLifetime},
		{"issuer-bound-looser", 72 * time.Hour, 48 * time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, []*testKey{good}, func(c *IssuerConfig, _ *Options) { c.MaxTokenLifetime = tt.max })
			now := e.clock.Now()
			tok := sign(t, good, nil, edit(e.claims(), map[string]any{"iat": now.Unix(), "exp": now.Add(tt.life).Unix()}))
			_, err := e.v.Verify(context.Background(), tok)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if tt.want != nil && Reason(err) != "token_lifetime_exceeded" {
				t.Errorf("Reason = %q, want token_lifetime_exceeded", Reason(err))
			}
		})
	}
	t.Run("bound-validated", func(t *testing.T) {
		for _, bad := range []time.Duration{time.Second, -time.Hour, 721 * time.Hour} {
			c := IssuerConfig{Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks", Audiences: []string{"a"}, MaxTokenLifetime: bad}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max_token_lifetime") {
				t.Errorf("max_token_lifetime %s: Validate = %v", bad, err)
			}
		}
	})
}

// TestPrincipalSaysScopeClaimMissing guards the hint operators get for a
// token without the issuer's scope claim, as against one with an empty
// scope list.
func TestPrincipalSaysScopeClaimMissing(t *testing.T) {
	good := rsaKey("k1")
	e := newEnv(t, []*testKey{good}, nil)
	tests := []struct {
		name  string
		scope any // nil deletes the claim
		want  bool
	}{
		{"no-claim", nil, true},
		{"empty-claim", "", false},
		{"scopes", "orders:read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := edit(e.claims(), map[string]any{"scope": tt.scope, "jti": "tok-" + tt.name})
			p, err := e.v.Verify(context.Background(), sign(t, good, nil, c))
			if err != nil {
				t.Fatal(err)
			}
			if p.ScopeClaimMissing != tt.want {
				t.Errorf("ScopeClaimMissing = %v, want %v", p.ScopeClaimMissing, tt.want)
			}
		})
	}
}
