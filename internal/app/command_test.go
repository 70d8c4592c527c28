package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
)

// runServe runs "partnergate serve args..." through the real entry point,
// as main does, and returns its exit status and stderr.
func runServe(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := cli.New(Command(&stdout, &stderr), &stdout, &stderr)
	root.SetArgs(append([]string{"serve"}, args...))
	return cli.Execute(context.Background(), root), stderr.String()
}

// TestServeReportsEveryConfigProblem guards start-up's error message: a
// configuration with many problems, from flags, the environment and the
// file, stops serve with every problem printed, each naming its key, in
// the same order every time.
func TestServeReportsEveryConfigProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "partnergate.yaml")
	if err := os.WriteFile(file, []byte(`
audit_allow_sample: 2
jwt:
  issuers:
    - issuer: https://idp.example/
      jwks_url: http://idp.example/jwks
ratelimit:
  tiers:
    - {name: gold, per_second: 5}
    - {name: gold, per_second: 9}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARTNERGATE_POLICY_FILE", filepath.Join(dir, "absent-policy.yaml"))
	t.Setenv("PARTNERGATE_STORE", "postgres://db.internal/pg")
	args := []string{"--config", file, "--log-format", "foo", "--listen", "nope", "--shutdown-grace", "soon", "--pepper-version", "v2"}

	code, stderr := runServe(t, args...)
	if code != cli.ExitError {
		t.Errorf("exit %d, want %d", code, cli.ExitError)
	}
	for _, key := range []string{
		"log_format:", "listen:", "--shutdown-grace:", "--pepper-version:", "pepper_file:", "policy_file:",
		"audit_allow_sample:", "jwt.issuers[0].jwks_url:", "jwt.issuers[0].audiences:", "ratelimit.tiers",
	} {
		if !strings.Contains(stderr, key) {
			t.Errorf("stderr does not name %s:\n%s", key, stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if !strings.HasPrefix(lines[0], "partnergate: invalid configuration: ") {
		t.Errorf("first line %q", lines[0])
	}
	if !slices.IsSorted(lines[1:]) {
		t.Errorf("problems are not in a stable order:\n%s", stderr)
	}
	t.Run("same-order-every-run", func(t *testing.T) {
		for range 5 {
			if _, again := runServe(t, args...); again != stderr {
				t.Fatalf("second run differs:\n%s\nfirst:\n%s", again, stderr)
			}
		}
	})
}

// TestServeHelpListsServeSettings guards serve --help: every setting is
// described with its type, and the admin client's flags are not there.
func TestServeHelpListsServeSettings(t *testing.T) {
	var stdout, stderr bytes.Buffer
	root := cli.New(Command(&stdout, &stderr), &stdout, &stderr)
	root.SetArgs([]string{"serve", "--help"})
	if code := cli.Execute(context.Background(), root); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{"--shutdown-grace duration", "--pepper-version int", "--audit-deny-rate float", "time in-flight Checks get to finish on SIGTERM"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	for _, not := range []string{"--admin-addr", "--output", "--timeout"} {
		if strings.Contains(help, not) {
			t.Errorf("help lists the client flag %s:\n%s", not, help)
		}
	}
}
