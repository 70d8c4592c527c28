package admin_test

// Test strategy for the certificate calls: the same real gRPC, SQLite
// store and hot cache as the rest of the admin tests. Each write must reach
// the cache before the call returns, be audited with who and what, a
// malformed field must be refused by name, and a command that would do
// nothing (or lock a partner out) is refused.

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestCertificateRegistry(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "globex", "orders:read")

	// Requiring a certificate before one is registered would lock acme out.
	_, err := e.client.RequireCertificate(e.ctx(t), &adminv1.RequireCertificateRequest{PartnerId: "acme", Require: true})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "add one first") {
		t.Errorf("message %q does not say what to do", st.Message())
	}

	resp, err := e.client.AddCertificate(e.ctx(t), &adminv1.AddCertificateRequest{PartnerId: "acme",
		Match: &adminv1.AddCertificateRequest_FingerprintSha256{FingerprintSha256: strings.ToUpper("3f:4a0c1d2e5b6a7980a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607")},
		Name:  "billing", Reason: "onboarding"})
	if err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	c := resp.GetCertificate()
	const fp = "3f4a0c1d2e5b6a7980a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"
	if c.GetFingerprintSha256() != fp || c.GetId() != partner.CertificateID(partner.CertFingerprint, fp) || c.GetCreatedAt() == nil {
		t.Errorf("certificate = %v, want the normalized fingerprint and its id", c)
	}
	if got, ok := e.cache.Certificate(partner.CertFingerprint, fp); !ok || got.PartnerID != "acme" {
		t.Errorf("cache after AddCertificate: %v, %v; want acme's before the call returned", got, ok)
	}
	_, err = e.client.AddCertificate(e.ctx(t), &adminv1.AddCertificateRequest{PartnerId: "globex", Match: &adminv1.AddCertificateRequest_FingerprintSha256{FingerprintSha256: fp}})
	wantCode(t, err, codes.AlreadyExists)

	for _, bad := range []struct {
		req   *adminv1.AddCertificateRequest
		field string
	}{
		{&adminv1.AddCertificateRequest{PartnerId: "acme"}, "spiffe_id"},
		{&adminv1.AddCertificateRequest{PartnerId: "acme", Match: &adminv1.AddCertificateRequest_SpiffeId{SpiffeId: "https://acme.example"}}, "spiffe_id"},
		{&adminv1.AddCertificateRequest{PartnerId: "acme", Match: &adminv1.AddCertificateRequest_DnsSan{DnsSan: "not a name"}}, "dns_san"},
		{&adminv1.AddCertificateRequest{PartnerId: "acme", Match: &adminv1.AddCertificateRequest_FingerprintSha256{FingerprintSha256: "abcd"}}, "fingerprint_sha256"},
	} {
		_, err := e.client.AddCertificate(e.ctx(t), bad.req)
		if st := wantCode(t, err, codes.InvalidArgument); !strings.Contains(st.Message(), bad.field) {
			t.Errorf("AddCertificate(%v): %q does not name %s", bad.req, st.Message(), bad.field)
		}
	}

	if _, err := e.client.RequireCertificate(e.ctx(t), &adminv1.RequireCertificateRequest{PartnerId: "acme", Require: true}); err != nil {
		t.Fatalf("RequireCertificate: %v", err)
	}
	if p, ok := e.cache.Partner("acme"); !ok || !p.RequireCertificate {
		t.Errorf("cache partner = %+v, want RequireCertificate", p)
	}
	_, err = e.client.RequireCertificate(e.ctx(t), &adminv1.RequireCertificateRequest{PartnerId: "acme", Require: true})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "already requires") {
		t.Errorf("requiring twice: %q, want it to say it already requires one", st.Message())
	}

	list, err := e.client.ListCertificates(e.ctx(t), &adminv1.ListCertificatesRequest{PartnerId: "acme"})
	if err != nil || len(list.GetCertificates()) != 1 {
		t.Fatalf("ListCertificates = %v, %v", list, err)
	}
	_, err = e.client.RemoveCertificate(e.ctx(t), &adminv1.RemoveCertificateRequest{PartnerId: "globex", CertificateId: c.GetId()})
	wantCode(t, err, codes.NotFound)
	if _, err := e.client.RemoveCertificate(e.ctx(t), &adminv1.RemoveCertificateRequest{PartnerId: "acme", CertificateId: c.GetId(), Reason: "rotated"}); err != nil {
		t.Fatalf("RemoveCertificate: %v", err)
	}
	if _, ok := e.cache.Certificate(partner.CertFingerprint, fp); ok {
		t.Error("cache still holds the removed certificate")
	}

	var actions []string
	for _, ev := range audit(t, e, "acme") {
		actions = append(actions, ev.Action)
		if ev.Action != "partner.create" && (ev.Actor != "bootstrap" || ev.Note != "alice") {
			t.Errorf("audit event %+v lacks who", ev)
		}
	}
	if got := strings.Join(actions, ","); got != "partner.create,certificate.add,partner.require_certificate,certificate.remove" {
		t.Errorf("audit actions = %s", got)
	}
}
