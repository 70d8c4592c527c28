package cache

import (
	"context"
	"fmt"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
)

func (m *memSource) GetCertificate(_ context.Context, id string) (*partner.Certificate, error) {
	return nil, fmt.Errorf("certificate %q: %w", id, partner.ErrNotFound)
}

// TestCertificateIndex: registrations arrive by snapshot and by the feed,
// leave by the feed, and a partner's require_certificate follows it.
func TestCertificateIndex(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, auditEv("partner.create")))
	atLoad := &partner.Certificate{PartnerID: "acme", Kind: partner.CertSPIFFEID, Value: "spiffe://partners.example/acme"}
	must(s.AddCertificate(ctx, atLoad, auditEv("certificate.add")))
	c, err := New(s, Options{})
	must(err)
	t.Cleanup(func() { _ = c.Close() })
	must(c.Load(ctx))
	if got, ok := c.Certificate(partner.CertSPIFFEID, "spiffe://partners.example/acme"); !ok || got.PartnerID != "acme" || got.ID != atLoad.ID {
		t.Fatalf("Certificate after Load = %+v, %v", got, ok)
	}
	if _, ok := c.Certificate(partner.CertDNSSAN, "spiffe://partners.example/acme"); ok {
		t.Error("a SPIFFE ID matched as a DNS SAN")
	}
	later := &partner.Certificate{PartnerID: "acme", Kind: partner.CertDNSSAN, Value: "api.acme.example"}
	must(s.AddCertificate(ctx, later, auditEv("certificate.add")))
	must(s.RemoveCertificate(ctx, "acme", atLoad.ID, auditEv("certificate.remove")))
	_, err = s.SetRequireCertificate(ctx, "acme", true, auditEv("partner.require_certificate"))
	must(err)
	must(c.Sync(ctx))
	if _, ok := c.Certificate(partner.CertDNSSAN, "api.acme.example"); !ok {
		t.Error("registration added on the feed is missing")
	}
	if _, ok := c.Certificate(partner.CertSPIFFEID, "spiffe://partners.example/acme"); ok {
		t.Error("registration removed on the feed is still held")
	}
	if p, ok := c.Partner("acme"); !ok || !p.RequireCertificate {
		t.Errorf("partner = %+v, want RequireCertificate", p)
	}
	if c.Certificates() != 1 {
		t.Errorf("Certificates = %d, want 1", c.Certificates())
	}
}
