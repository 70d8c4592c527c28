package cli_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
)

// TestOperatorCommands drives the first-start flow from the CLI: the
// bootstrap token creates a named admin, which then works on its own
// token; and each operator command prints one JSON object.
func TestOperatorCommands(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")

	created := object(t, mustRun(t, "operator", "create", "alice", "--role", "admin", "--expires-in", "720h", "-o", "json"))
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "pgop_") {
		t.Fatalf("operator create printed secret %q, want a pgop_ token", secret)
	}
	text := mustRun(t, "operator", "create", "deployer", "--role", "issuer", "--partners", "acme")
	if !strings.Contains(text, "pgop_") || !strings.Contains(text, cli.SecretWarning) {
		t.Fatalf("operator create text lacks the token or its warning:\n%s", text)
	}

	t.Setenv(cli.EnvAdminToken, secret)
	who := object(t, mustRun(t, "whoami", "-o", "json"))
	if who["name"] != "alice" || who["role"] != "admin" || who["auth_method"] != "operator_token" {
		t.Fatalf("whoami = %v", who)
	}
	got := object(t, mustRun(t, "operator", "get", "deployer", "-o", "json"))
	op := got["operator"].(map[string]any)
	if op["role"] != "issuer" || len(op["partners"].([]any)) != 1 {
		t.Fatalf("operator get = %v", op)
	}
	list := object(t, mustRun(t, "operator", "list", "-o", "json"))
	if n := len(list["operators"].([]any)); n != 2 {
		t.Fatalf("operator list has %d operators, want 2", n)
	}
	mustRun(t, "operator", "update", "deployer", "--role", "viewer", "--reason", "moved team")
	rot := object(t, mustRun(t, "operator", "rotate", "deployer", "--overlap", "1h", "-o", "json"))
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, "pgop_") {
		t.Fatalf("operator rotate = %v", rot)
	}
	mustRun(t, "operator", "revoke", "deployer", "--reason", "left")

	audit := object(t, mustRun(t, "audit", "list", "--actor", "alice", "-o", "json"))
	var actions []string
	for _, ev := range audit["events"].([]any) {
		actions = append(actions, ev.(map[string]any)["action"].(string))
	}
	if got := strings.Join(actions, " "); got != "operator.update operator.rotate operator.revoke" {
		t.Fatalf("alice's audit = %q", got)
	}

	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"unknown-role", []string{"operator", "create", "bob", "--role", "root"}, "^partnergate: invalid argument: role: ", cli.ExitError},
		{"no-role", []string{"operator", "create", "bob"}, "--role is required", cli.ExitUsage},
		{"cert-without-key", []string{"whoami", "--admin-cert", "x.pem"}, "--admin-cert and --admin-key go together", cli.ExitUsage},
		{"revoked-again", []string{"operator", "revoke", "deployer"}, "^partnergate: failed precondition: ", cli.ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code || stdout != "" || !matches(tt.want, stderr) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line matching %q", tt.args, code, stdout, stderr, tt.code, tt.want)
			}
		})
	}
}

func matches(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
