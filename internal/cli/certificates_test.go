package cli_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/partner"
)

func TestCertificateCommands(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")

	out := mustRun(t, "partner", "add-certificate", "acme", "--spiffe-id", "spiffe://partners.example/acme", "--name", "billing")
	id := partner.CertificateID(partner.CertSPIFFEID, "spiffe://partners.example/acme")
	if !regexp.MustCompile(`(?m)^` + id + `\s+acme\s+spiffe-id spiffe://partners.example/acme\s+billing\s`).MatchString(out) {
		t.Errorf("add-certificate text:\n%s", out)
	}
	if c, err := st.GetCertificate(context.Background(), id); err != nil || c.PartnerID != "acme" {
		t.Fatalf("stored certificate = %+v, %v", c, err)
	}
	list := object(t, mustRun(t, "partner", "list-certificates", "acme", "-o", "json"))
	if cs, _ := list["certificates"].([]any); len(cs) != 1 {
		t.Errorf("list-certificates json: %v", list)
	}
	req := object(t, mustRun(t, "partner", "require-certificate", "acme", "-o", "json"))
	if req["partner"].(map[string]any)["require_certificate"] != true {
		t.Errorf("require-certificate json: %v", req)
	}
	mustRun(t, "partner", "require-certificate", "acme", "--off")
	if p, err := st.GetPartner(context.Background(), "acme"); err != nil || p.RequireCertificate {
		t.Errorf("stored partner after --off = %+v, %v", p, err)
	}
	mustRun(t, "partner", "remove-certificate", "acme", id)
	if cs, _ := st.ListCertificates(context.Background(), "acme"); len(cs) != 0 {
		t.Errorf("certificates after remove-certificate: %v", cs)
	}
}

func TestCertificateCommandErrors(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"none-of-the-matches", []string{"partner", "add-certificate", "acme"},
			cli.ExitUsage, `exactly one of --spiffe-id, --dns-san and --fingerprint-sha256`},
		{"two-matches", []string{"partner", "add-certificate", "acme", "--dns-san", "a.example", "--spiffe-id", "spiffe://x/y"},
			cli.ExitUsage, `exactly one of`},
		{"bad-fingerprint", []string{"partner", "add-certificate", "acme", "--fingerprint-sha256", "abc"},
			cli.ExitError, `^partnergate: invalid argument: fingerprint_sha256: `},
		{"require-without-certificate", []string{"partner", "require-certificate", "acme"},
			cli.ExitError, `has no registered certificate`},
		{"off-when-not-required", []string{"partner", "require-certificate", "acme", "--off"},
			cli.ExitError, `does not require a certificate`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runFails(t, tt.wantCode, tt.wantErr, tt.args...)
		})
	}
}

// TestPartnerUpdateRequireCertificate: partner update --require-certificate
// sets the requirement as require-certificate does, =false clears it, and
// it is refused beside another change, which is a write of its own.
func TestPartnerUpdateRequireCertificate(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	mustRun(t, "partner", "add-certificate", "acme", "--dns-san", "api.acme.example")
	out := mustRun(t, "partner", "update", "acme", "--require-certificate")
	if !regexp.MustCompile(`(?m)^REQUIRE-CERTIFICATE\s+yes`).MatchString(out) {
		t.Errorf("update --require-certificate text:\n%s", out)
	}
	if p, err := st.GetPartner(context.Background(), "acme"); err != nil || !p.RequireCertificate {
		t.Fatalf("stored partner after --require-certificate = %+v, %v", p, err)
	}
	runFails(t, cli.ExitUsage, `give --require-certificate alone, not with --tier`,
		"partner", "update", "acme", "--require-certificate=false", "--tier", "gold")
	if p, _ := st.GetPartner(context.Background(), "acme"); !p.RequireCertificate {
		t.Fatal("a refused update changed the requirement")
	}
	mustRun(t, "partner", "update", "acme", "--require-certificate=false")
	if p, err := st.GetPartner(context.Background(), "acme"); err != nil || p.RequireCertificate {
		t.Errorf("stored partner after --require-certificate=false = %+v, %v", p, err)
	}
}
