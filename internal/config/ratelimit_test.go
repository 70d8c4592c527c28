package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRateLimitSection(t *testing.T) {
	good := `ratelimit:
  tiers:
    - {name: free, per_second: 5, per_minute: 100, per_day: 5000}
    - {name: standard, per_second: 20}
  overrides:
    - {partner_id: acme, per_second: 50}
`
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr []string // keys the Validate error must name; none means valid
	}{
		{name: "valid-tiers-and-override", yaml: good},
		{name: "no-section-is-valid", yaml: "log_level: info\n"},
		{name: "domain-from-env", yaml: good, env: map[string]string{"PARTNERGATE_RATELIMIT_DOMAIN": "bad domain"}, wantErr: []string{"ratelimit.domain"}},
		{name: "bad-tier-name-and-duplicate", yaml: `ratelimit:
  tiers:
    - {name: standard}
    - {name: "Gold Tier"}
    - {name: standard}
`, wantErr: []string{"ratelimit.tiers[1].name", "ratelimit.tiers[2].name"}},
		{name: "default-tier-missing", yaml: `ratelimit:
  tiers:
    - {name: free, per_second: 1}
`, wantErr: []string{"ratelimit.tiers: must include \"standard\""}},
		{name: "override-without-limit", yaml: `ratelimit:
  tiers:
    - {name: standard}
  overrides:
    - {partner_id: acme}
`, wantErr: []string{"ratelimit.overrides[0].per_second"}},
		{name: "overrides-without-tiers", yaml: `ratelimit:
  overrides:
    - {partner_id: acme, per_second: 1}
`, wantErr: []string{"ratelimit.overrides"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "partnergate.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(flags(t, "--config", path), fakeEnv(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %q", tc.yaml)
			}
			for _, key := range tc.wantErr {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("Validate error does not name %s:\n%v", key, err)
				}
			}
		})
	}
}

func TestRateLimitListsHaveNoFlag(t *testing.T) {
	fs := flags(t)
	if fs.Lookup("ratelimit-tiers") != nil || fs.Lookup("ratelimit-overrides") != nil {
		t.Error("a list setting got a flag it cannot parse")
	}
	if f := fs.Lookup("ratelimit-domain"); f == nil || f.DefValue != "partnergate" {
		t.Errorf("ratelimit-domain flag = %+v, want default partnergate", f)
	}
}

func TestRateLimitMisspeltFieldFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partnergate.yaml")
	if err := os.WriteFile(path, []byte("ratelimit:\n  tiers:\n    - {name: standard, per_secnd: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(flags(t, "--config", path), fakeEnv(nil)); err == nil || !strings.Contains(err.Error(), "per_secnd") {
		t.Errorf("Load = %v, want the misspelt per_secnd named", err)
	}
}
