package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJWTSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "partnergate.yaml")
	yaml := `jwt:
  cache_size: 500
  issuers:
    - issuer: https://idp.example.com/realms/partners
      discovery: true
      audiences: [https://api.example.com]
      client_claim: azp
    - issuer: https://bad.example.com/
      jwks_url: http://bad.example.com/jwks
      audiences: []
      algorithms: [none]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(flags(t, "--config", path, "--jwt-cache-ttl", "2m"), fakeEnv(map[string]string{"PARTNERGATE_JWT_CACHE_SIZE": "700"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.JWT.Issuers) != 2 || c.JWT.Issuers[0].ClientClaim != "azp" || !c.JWT.Issuers[0].Discovery {
		t.Errorf("issuers = %+v", c.JWT.Issuers)
	}
	if c.JWT.CacheSize != 700 || c.JWT.CacheTTL != 2*time.Minute {
		t.Errorf("cache = %d, %s; want env 700 over the file, flag 2m", c.JWT.CacheSize, c.JWT.CacheTTL)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate accepted an issuer with no audience, alg none and a plain-http JWKS")
	}
	for _, key := range []string{"jwt.issuers[1].audiences", "jwt.issuers[1].algorithms", "jwt.issuers[1].jwks_url"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Validate error does not name %s:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "issuers[0]") {
		t.Errorf("Validate refused the good issuer:\n%v", err)
	}

	c.JWT.Issuers = c.JWT.Issuers[:1]
	c.JWT.CacheTTL = time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "jwt.cache_ttl") {
		t.Errorf("Validate(cache_ttl 1h) = %v, want it named", err)
	}
}

func TestJWTIssuersHaveNoFlag(t *testing.T) {
	fs := flags(t)
	if fs.Lookup("jwt-issuers") != nil {
		t.Error("a list setting got a flag it cannot parse")
	}
	if fs.Lookup("jwt-cache-size") == nil {
		t.Error("jwt-cache-size has no flag")
	}
}

func TestDPoPValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*DPoP)
		want string // "" valid
	}{
		{"defaults", func(*DPoP) {}, ""},
		{"zero-window", func(d *DPoP) { d.Window = 0 }, "jwt.dpop.window"},
		{"window-too-long", func(d *DPoP) { d.Window = time.Hour }, "jwt.dpop.window"},
		{"no-replay-cache", func(d *DPoP) { d.ReplayCacheSize = 0 }, "jwt.dpop.replay_cache_size"},
		{"hmac-alg", func(d *DPoP) { d.Algorithms = []string{"HS256"} }, "jwt.dpop.algorithms"},
		{"empty-algs", func(d *DPoP) { d.Algorithms = []string{} }, "jwt.dpop.algorithms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c.JWT.DPoP)
			var got error
			for _, e := range c.JWT.validate() {
				got = errors.Join(got, e)
			}
			if tt.want == "" {
				if got != nil {
					t.Fatalf("validate = %v, want none", got)
				}
				return
			}
			if got == nil || !strings.Contains(got.Error(), tt.want) {
				t.Fatalf("validate = %v, want it to name %s", got, tt.want)
			}
		})
	}
}
