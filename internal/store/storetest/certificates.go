package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

const testFingerprint = "3f4a0c1d2e5b6a7980a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"

func testCertificates(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	before := time.Now()
	c := &partner.Certificate{PartnerID: "acme", Kind: partner.CertSPIFFEID, Value: "spiffe://partners.example/acme", Name: "billing"}
	if err := s.AddCertificate(ctx, c, ev("certificate.add", "acme", "")); err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	within(t, "CreatedAt", c.CreatedAt, before, time.Now())
	if want := partner.CertificateID(partner.CertSPIFFEID, c.Value); c.ID != want || !strings.HasPrefix(c.ID, "cert_") {
		t.Errorf("ID = %q, want %q", c.ID, want)
	}
	if got := lastChange(t, s); got.Kind != store.KindCertificate || got.ID != c.ID {
		t.Errorf("change = %+v, want kind %q for %s", got, store.KindCertificate, c.ID)
	}
	if a := lastAudit(t, s); a.Action != "certificate.add" {
		t.Errorf("audit action = %q, want certificate.add", a.Action)
	}
	got, err := s.GetCertificate(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Errorf("GetCertificate mismatch (-want +got):\n%s", d)
	}
	for _, o := range []*partner.Certificate{
		{PartnerID: "acme", Kind: partner.CertDNSSAN, Value: "api.acme.example"},
		{PartnerID: "acme", Kind: partner.CertFingerprint, Value: testFingerprint},
	} {
		if err := s.AddCertificate(ctx, o, ev("certificate.add", "acme", "")); err != nil {
			t.Fatalf("AddCertificate(%s): %v", o.Kind, err)
		}
	}
	list, err := s.ListCertificates(ctx, "acme")
	if err != nil || len(list) != 3 || list[0].Kind != partner.CertDNSSAN || list[1].Kind != partner.CertFingerprint || list[2].Kind != partner.CertSPIFFEID {
		t.Errorf("ListCertificates = %v, %v; want 3 ordered by kind", list, err)
	}
	var snap []*partner.Certificate
	if _, err := s.Snapshot(ctx, store.Visitor{Certificate: func(c *partner.Certificate) error { snap = append(snap, c); return nil }}); err != nil || len(snap) != 3 {
		t.Errorf("Snapshot visited %d certificates (%v), want 3", len(snap), err)
	}
	if err := s.RemoveCertificate(ctx, "acme", c.ID, ev("certificate.remove", "acme", "")); err != nil {
		t.Fatalf("RemoveCertificate: %v", err)
	}
	if got := lastChange(t, s); got.Kind != store.KindCertificate || got.ID != c.ID {
		t.Errorf("remove change = %+v, want kind %q", got, store.KindCertificate)
	}
	if _, err := s.GetCertificate(ctx, c.ID); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("GetCertificate after remove: %v, want ErrNotFound", err)
	}

	p, err := s.SetRequireCertificate(ctx, "acme", true, ev("partner.require_certificate", "acme", ""))
	if err != nil || !p.RequireCertificate {
		t.Fatalf("SetRequireCertificate = %+v, %v", p, err)
	}
	if got := lastChange(t, s); got.Kind != store.KindPartner || got.ID != "acme" {
		t.Errorf("change = %+v, want the partner", got)
	}
	if stored, err := s.GetPartner(ctx, "acme"); err != nil || !stored.RequireCertificate || stored.Version != p.Version {
		t.Errorf("GetPartner = %+v, %v; want RequireCertificate at version %d", stored, err, p.Version)
	}
	if p, err := s.SetRequireCertificate(ctx, "acme", false, ev("partner.require_certificate", "acme", "")); err != nil || p.RequireCertificate {
		t.Errorf("SetRequireCertificate(false) = %+v, %v", p, err)
	}
}

func testCertificateErrors(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	c := &partner.Certificate{PartnerID: "acme", Kind: partner.CertDNSSAN, Value: "api.acme.example"}
	if err := s.AddCertificate(ctx, c, ev("certificate.add", "acme", "")); err != nil {
		t.Fatal(err)
	}
	v, n := lastVersion(t, s), auditCount(t, s)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"taken-by-another-partner", func() error {
			return s.AddCertificate(ctx, &partner.Certificate{PartnerID: "beta", Kind: partner.CertDNSSAN, Value: "api.acme.example"}, ev("certificate.add", "beta", ""))
		}, partner.ErrExists},
		{"unknown-partner", func() error {
			return s.AddCertificate(ctx, &partner.Certificate{PartnerID: "ghost", Kind: partner.CertDNSSAN, Value: "ghost.example"}, ev("certificate.add", "ghost", ""))
		}, partner.ErrNotFound},
		{"remove-from-wrong-partner", func() error {
			return s.RemoveCertificate(ctx, "beta", c.ID, ev("certificate.remove", "beta", ""))
		}, partner.ErrNotFound},
		{"remove-unknown", func() error {
			return s.RemoveCertificate(ctx, "acme", "cert_0000000000000000", ev("certificate.remove", "acme", ""))
		}, partner.ErrNotFound},
		{"require-unknown-partner", func() error {
			_, err := s.SetRequireCertificate(ctx, "ghost", true, ev("partner.require_certificate", "ghost", ""))
			return err
		}, partner.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		c     partner.Certificate
		field string
	}{
		{partner.Certificate{PartnerID: "acme", Kind: partner.CertSPIFFEID, Value: "https://acme.example/x"}, "spiffe_id"},
		{partner.Certificate{PartnerID: "acme", Kind: partner.CertDNSSAN, Value: "API.acme.example"}, "dns_san"},
		{partner.Certificate{PartnerID: "acme", Kind: partner.CertFingerprint, Value: "abc"}, "fingerprint_sha256"},
		{partner.Certificate{PartnerID: "acme", Kind: "subject", Value: "CN=acme"}, "kind"},
	} {
		var fe *partner.FieldError
		if err := s.AddCertificate(ctx, &bad.c, ev("certificate.add", "acme", "")); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("AddCertificate(%s %q) = %v, want a FieldError naming %s", bad.c.Kind, bad.c.Value, err, bad.field)
		}
	}
	if got, gotN := lastVersion(t, s), auditCount(t, s); got != v || gotN != n {
		t.Errorf("failed writes left a trace: version %d→%d, audit %d→%d", v, got, n, gotN)
	}
}
