package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileErrorsNameTheKey: a config file's unknown keys and bad values
// are reported on one line, each unknown key by its full path, so the
// CLI's one-line error still says what to fix.
func TestFileErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"top-level-typo", "log_levle: info\n", []string{"log_levle: unknown field (line 1)"}},
		{"tier-field-typo", "ratelimit:\n  tiers:\n    - {name: standard, per_second: 1}\n    - {name: gold, per_secnd: 5}\n",
			[]string{"ratelimit.tiers[1].per_secnd: unknown field (line 4)"}},
		{"section-key-typo", "ratelimit:\n  domain: partnergate\n  tierz: []\n", []string{"ratelimit.tierz: unknown field (line 3)"}},
		{"override-field-typo-block-style", "ratelimit:\n  overrides:\n    - partner_id: acme\n      per_minit: 5\n",
			[]string{"ratelimit.overrides[0].per_minit: unknown field (line 4)"}},
		{"every-problem-on-one-line", "log_levle: info\nratelimit:\n  tiers:\n    - {name: free, per_day: lots}\n",
			[]string{"log_levle: unknown field (line 1)", "line 4: cannot unmarshal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "partnergate.yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(flags(t, "--config", path), fakeEnv(nil))
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}
