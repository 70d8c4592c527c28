package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

func writeDecl(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "partners.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApply drives apply end to end: a dry run changes nothing and says
// what it would; apply creates each partner with its clients in one
// audited write; a second apply and an export round trip find nothing to
// change; an edit is one update listing old and new values; --prune
// suspends, then --prune=delete deletes, the partners the file omits.
func TestApply(t *testing.T) {
	_, _, st := server(t)
	ctx := context.Background()
	decl := writeDecl(t, `partners:
  - id: acme
    tier: gold
    scopes: [orders:read, orders:write]
    allow_cidrs: [203.0.113.0/24, "2001:db8::/32"]
    limits: {per_second: 50}
    clients:
      - {issuer: "`+cliIssuer+`", client_id: acme-svc}
  - id: globex
    scopes: [orders:read]
`)
	out := mustRun(t, "apply", "-f", decl, "--dry-run")
	if !strings.Contains(out, "would create partner acme") || !strings.Contains(out, "limits: (none) -> per_second=50") ||
		!strings.Contains(out, "2 to create, 0 to update, 0 unchanged, 0 to prune (dry run: nothing changed)") {
		t.Fatalf("dry run:\n%s", out)
	}
	if _, err := st.GetPartner(ctx, "acme"); err == nil {
		t.Fatal("a dry run created a partner")
	}
	plan := object(t, mustRun(t, "apply", "-f", decl, "--dry-run", "-o", "json"))
	if plan["dry_run"] != true || len(plan["partners"].([]any)) != 2 {
		t.Fatalf("dry run json: %v", plan)
	}

	mustRun(t, "apply", "-f", decl, "--reason", "commit 1a2b3c")
	p, err := st.GetPartner(ctx, "acme")
	if err != nil || p.Tier != "gold" || p.Limits.PerSecond != 50 || p.AllowCIDRs.String() != "203.0.113.0/24,2001:db8::/32" {
		t.Fatalf("applied acme = %+v, %v", p, err)
	}
	if cs, _ := st.ListClients(ctx, "acme"); len(cs) != 1 || cs[0].ClientID != "acme-svc" {
		t.Fatalf("acme's clients = %v", cs)
	}
	evs, _ := st.ListAudit(ctx, store.AuditFilter{PartnerID: "acme", Limit: 100})
	if len(evs) != 1 || evs[0].Action != "partner.apply" || evs[0].Reason != "commit 1a2b3c" || evs[0].Detail["clients"] == "" {
		t.Fatalf("acme's audit trail = %+v, want one partner.apply event", evs)
	}

	if out := mustRun(t, "apply", "-f", decl); !strings.Contains(out, "0 to create, 0 to update, 2 unchanged") {
		t.Errorf("second apply:\n%s", out)
	}
	mustRun(t, "partner", "suspend", "globex")
	exported := writeDecl(t, mustRun(t, "export"))
	if out := mustRun(t, "apply", "-f", exported, "--dry-run"); !strings.Contains(out, "0 to create, 0 to update, 2 unchanged") {
		t.Errorf("export round trip is not a no-op:\n%s", out)
	}
	if g, _ := st.GetPartner(ctx, "globex"); g.State != partner.Suspended {
		t.Error("an apply without state lifted a suspension")
	}

	edited := writeDecl(t, strings.Replace(mustRun(t, "export"), "tier: gold", "tier: silver", 1))
	if out := mustRun(t, "apply", "-f", edited); !strings.Contains(out, "updated partner acme\n  tier: gold -> silver\n") {
		t.Errorf("edit:\n%s", out)
	}

	mustRun(t, "partner", "create", "stale")
	if out := mustRun(t, "apply", "-f", edited, "--prune", "--dry-run"); !strings.Contains(out, "would suspend partner stale") {
		t.Errorf("prune dry run:\n%s", out)
	}
	mustRun(t, "apply", "-f", edited, "--prune")
	if s, _ := st.GetPartner(ctx, "stale"); s.State != partner.Suspended {
		t.Errorf("--prune left stale %s", s.State)
	}
	mustRun(t, "apply", "-f", edited, "--prune=delete")
	if s, _ := st.GetPartner(ctx, "stale"); s.State != partner.Deleted {
		t.Errorf("--prune=delete left stale %s", s.State)
	}
	if a, _ := st.GetPartner(ctx, "acme"); a.State != partner.Active {
		t.Error("prune touched a declared partner")
	}
}

// TestApplyRefuses: a malformed declaration is refused before anything is
// sent, naming the line.
func TestApplyRefuses(t *testing.T) {
	server(t)
	tests := []struct{ name, body, want string }{
		{"unknown-field", "partners:\n  - id: acme\n    colour: blue\n", "line 3: field colour not found"},
		{"key-secret-field", "partners:\n  - id: acme\n    keys: [pg_live_x]\n", "line 3: field keys not found"},
		{"duplicate", "partners:\n  - id: acme\n  - id: acme\n", "line 3: partner \"acme\" is declared twice (first at line 2)"},
		{"missing-id", "partners:\n  - tier: gold\n", "line 2: partners[0]: id is required"},
		{"two-documents", "partners: []\n---\npartners: []\n", "one document only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, "apply", "-f", writeDecl(t, tt.body))
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want %q", code, errs, tt.want)
			}
		})
	}
	if code, _, errs := run(t, "apply", "-f", writeDecl(t, "partners:\n  - id: acme\n    tier: \"Not A Tier\"\n")); code == 0 || !strings.Contains(errs, "spec.tier") {
		t.Errorf("bad tier: exit %d, stderr %q", code, errs)
	}
}
