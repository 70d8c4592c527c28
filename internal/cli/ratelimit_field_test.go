package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
)

// TestRatelimitConfigNamesAMisspeltField: the one line on stderr names
// the misspelt key by its path, not just the file.
func TestRatelimitConfigNamesAMisspeltField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(path, []byte("ratelimit:\n  tiers:\n    - {name: standard, per_secnd: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "ratelimit-config", "--config", path)
	want := "partnergate: config " + path + ": ratelimit.tiers[0].per_secnd: unknown field (line 3)\n"
	if code != cli.ExitError || out != "" || errs != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and stderr %q", code, out, errs, cli.ExitError, want)
	}
	if strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", errs)
	}
}
