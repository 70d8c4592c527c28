package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shippedAsPartnergateConfig returns envoy/ratelimit-tiers.yaml nested
// under the ratelimit key of a partnergate config file.
func shippedAsPartnergateConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../envoy/ratelimit-tiers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("log_level: info\nratelimit:\n")
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		sb.WriteString("  " + line + "\n")
	}
	path := filepath.Join(t.TempDir(), "partnergate.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRatelimitConfigRendersTheCommittedConfig(t *testing.T) {
	want, err := os.ReadFile("../../envoy/ratelimit-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := shippedAsPartnergateConfig(t)

	t.Run("stdout", func(t *testing.T) {
		if got := mustRun(t, "ratelimit-config", "--config", cfg); got != string(want) {
			t.Errorf("ratelimit-config differs from envoy/ratelimit-config.yaml:\n%s", got)
		}
	})
	t.Run("out-file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "config.yaml")
		if got := mustRun(t, "ratelimit-config", "--config", cfg, "--out", out); got != "" {
			t.Errorf("stdout = %q, want nothing with --out", got)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("--out file differs from envoy/ratelimit-config.yaml:\n%s", got)
		}
	})
	t.Run("domain-from-env", func(t *testing.T) {
		t.Setenv("PARTNERGATE_RATELIMIT_DOMAIN", "edge-eu")
		got := mustRun(t, "ratelimit-config", "--config", cfg)
		if !strings.Contains(got, "\ndomain: edge-eu\n") {
			t.Errorf("PARTNERGATE_RATELIMIT_DOMAIN ignored:\n%s", got)
		}
	})
}

func TestRatelimitConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no-tiers", args: []string{"--config", write("none.yaml", "log_level: info\n")}, want: "ratelimit.tiers"},
		{name: "bad-tier", args: []string{"--config", write("bad.yaml", "ratelimit:\n  tiers:\n    - {name: standard}\n    - {name: Bad Name}\n")}, want: "ratelimit.tiers[1].name"},
		{name: "unknown-field", args: []string{"--config", write("typo.yaml", "ratelimit:\n  tiers:\n    - {name: standard, per_secnd: 1}\n")}, want: "typo.yaml"},
		{name: "unwritable-out", args: []string{"--config", shippedAsPartnergateConfig(t), "--out", filepath.Join(dir, "missing", "x.yaml")}, want: "--out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"ratelimit-config"}, tc.args...)...)
			if code == 0 || out != "" || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want a failure naming %s", code, out, errs, tc.want)
			}
		})
	}
}
