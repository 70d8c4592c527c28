package cli_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/cli"
)

const cliIssuer = "https://sso.example.com/realms/partners"

func TestTokenCommands(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")

	out := mustRun(t, "partner", "add-client", "acme", "--issuer", cliIssuer, "--client-id", "acme-billing", "--reason", "onboarding")
	if !regexp.MustCompile(`(?m)^acme\s+` + regexp.QuoteMeta(cliIssuer) + `\s+acme-billing\s`).MatchString(out) {
		t.Errorf("add-client text:\n%s", out)
	}
	if c, err := st.GetClient(context.Background(), cliIssuer, "acme-billing"); err != nil || c.PartnerID != "acme" {
		t.Fatalf("stored client = %+v, %v", c, err)
	}
	list := object(t, mustRun(t, "partner", "list-clients", "acme", "-o", "json"))
	if cs, _ := list["clients"].([]any); len(cs) != 1 {
		t.Errorf("list-clients json: %v", list)
	}

	exp := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	rev := object(t, mustRun(t, "token", "revoke", "--jti", "jti-1", "--issuer", cliIssuer, "--expires-at", exp, "-o", "json"))
	if r := rev["revocation"].(map[string]any); r["jti"] != "jti-1" || r["expires_at"] != exp {
		t.Errorf("token revoke json: %v", rev)
	}
	if _, err := st.GetTokenRevocation(context.Background(), cliIssuer, "jti-1"); err != nil {
		t.Errorf("revocation not stored: %v", err)
	}

	p := object(t, mustRun(t, "partner", "revoke-tokens", "acme", "--before", "now", "-o", "json"))
	if p["partner"].(map[string]any)["revoked_before"] == nil {
		t.Errorf("revoke-tokens json lacks the cutoff: %v", p)
	}
	if sp, err := st.GetPartner(context.Background(), "acme"); err != nil || sp.TokensNotBefore.IsZero() {
		t.Errorf("stored partner = %+v, %v", sp, err)
	}

	mustRun(t, "partner", "remove-client", "acme", "--issuer", cliIssuer, "--client-id", "acme-billing")
	if cs, _ := st.ListClients(context.Background(), "acme"); len(cs) != 0 {
		t.Errorf("clients after remove-client: %v", cs)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"add-client-missing-issuer", []string{"partner", "add-client", "acme", "--client-id", "c"},
			cli.ExitUsage, `^partnergate: partnergate partner add-client: --issuer is required`},
		{"add-client-bad-issuer", []string{"partner", "add-client", "acme", "--issuer", "sso.example.com", "--client-id", "c"},
			cli.ExitError, `^partnergate: invalid argument: issuer: `},
		{"add-client-unknown-partner", []string{"partner", "add-client", "ghost", "--issuer", cliIssuer, "--client-id", "c"},
			cli.ExitError, `^partnergate: not found: partner "ghost" not found$`},
		{"remove-unknown-client", []string{"partner", "remove-client", "acme", "--issuer", cliIssuer, "--client-id", "nope"},
			cli.ExitError, `^partnergate: not found: `},
		{"revoke-missing-jti", []string{"token", "revoke", "--issuer", cliIssuer},
			cli.ExitUsage, `^partnergate: partnergate token revoke: --jti is required`},
		{"revoke-bad-expiry", []string{"token", "revoke", "--jti", "j", "--issuer", cliIssuer, "--expires-at", "tomorrow"},
			cli.ExitUsage, `^partnergate: --expires-at: want an RFC 3339 time`},
		{"revoke-tokens-missing-before", []string{"partner", "revoke-tokens", "acme"},
			cli.ExitUsage, `^partnergate: partnergate partner revoke-tokens: --before is required`},
		{"revoke-tokens-future", []string{"partner", "revoke-tokens", "acme", "--before", "2099-01-01T00:00:00Z"},
			cli.ExitError, `^partnergate: invalid argument: before: must not be in the future`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runFails(t, tt.wantCode, tt.wantErr, tt.args...)
		})
	}
}
