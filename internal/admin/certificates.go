package admin

import (
	"context"
	"fmt"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Client certificates registered as partner credentials, and the
// partner's requirement of one. Every write is audited and synced like
// the others.

func certificatePB(c *partner.Certificate) *adminv1.Certificate {
	out := &adminv1.Certificate{Id: c.ID, PartnerId: c.PartnerID, Name: c.Name, CreatedAt: ts(c.CreatedAt)}
	switch c.Kind {
	case partner.CertSPIFFEID:
		out.Match = &adminv1.Certificate_SpiffeId{SpiffeId: c.Value}
	case partner.CertDNSSAN:
		out.Match = &adminv1.Certificate_DnsSan{DnsSan: c.Value}
	case partner.CertFingerprint:
		out.Match = &adminv1.Certificate_FingerprintSha256{FingerprintSha256: c.Value}
	}
	return out
}

// certificateFromPB reads the request's one match, normalized.
func certificateFromPB(req *adminv1.AddCertificateRequest) (*partner.Certificate, error) {
	c := &partner.Certificate{PartnerID: req.GetPartnerId(), Name: req.GetName()}
	switch m := req.GetMatch().(type) {
	case *adminv1.AddCertificateRequest_SpiffeId:
		c.Kind, c.Value = partner.CertSPIFFEID, m.SpiffeId
	case *adminv1.AddCertificateRequest_DnsSan:
		c.Kind, c.Value = partner.CertDNSSAN, m.DnsSan
	case *adminv1.AddCertificateRequest_FingerprintSha256:
		c.Kind, c.Value = partner.CertFingerprint, m.FingerprintSha256
	default:
		return nil, partner.Invalid("spiffe_id", "set exactly one of spiffe_id, dns_san and fingerprint_sha256")
	}
	c.Value = partner.NormalizeCertificate(c.Kind, c.Value)
	return c, c.Validate()
}

// AddCertificate registers a client certificate to a partner.
func (s *Server) AddCertificate(ctx context.Context, req *adminv1.AddCertificateRequest) (*adminv1.AddCertificateResponse, error) {
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, s.status(ctx, "AddCertificate", err)
	}
	c, err := certificateFromPB(req)
	if err != nil {
		return nil, s.status(ctx, "AddCertificate", err)
	}
	if err := s.notDeleted(ctx, c.PartnerID); err != nil {
		return nil, s.status(ctx, "AddCertificate", err)
	}
	ev := s.event(ctx, "certificate.add", c.PartnerID, c.ID, req.GetReason())
	ev.Detail = map[string]string{string(c.Kind): c.Value}
	if c.Name != "" {
		ev.Detail["name"] = c.Name
	}
	if err := s.Store.AddCertificate(ctx, c, ev); err != nil {
		what := fmt.Sprintf("%s %q", c.Kind, c.Value)
		if errIsNotFound(err) {
			what = fmt.Sprintf("partner %q", c.PartnerID)
		}
		return nil, s.status(ctx, "AddCertificate", named(what, err))
	}
	s.committed(ctx, ev)
	return &adminv1.AddCertificateResponse{Certificate: certificatePB(c)}, nil
}

// RemoveCertificate unregisters a client certificate from a partner.
func (s *Server) RemoveCertificate(ctx context.Context, req *adminv1.RemoveCertificateRequest) (*adminv1.RemoveCertificateResponse, error) {
	if err := partner.ValidateID("partner_id", req.GetPartnerId()); err != nil {
		return nil, s.status(ctx, "RemoveCertificate", err)
	}
	if id := req.GetCertificateId(); len(id) != len("cert_")+16 || id[:5] != "cert_" {
		return nil, s.status(ctx, "RemoveCertificate", partner.Invalid("certificate_id", "want cert_ and 16 hex digits, as list-certificates shows"))
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, s.status(ctx, "RemoveCertificate", err)
	}
	ev := s.event(ctx, "certificate.remove", req.GetPartnerId(), req.GetCertificateId(), req.GetReason())
	if err := s.Store.RemoveCertificate(ctx, req.GetPartnerId(), req.GetCertificateId(), ev); err != nil {
		what := fmt.Sprintf("certificate %q of partner %q", req.GetCertificateId(), req.GetPartnerId())
		return nil, s.status(ctx, "RemoveCertificate", named(what, err))
	}
	s.committed(ctx, ev)
	return &adminv1.RemoveCertificateResponse{}, nil
}

// ListCertificates lists a partner's registered certificates.
func (s *Server) ListCertificates(ctx context.Context, req *adminv1.ListCertificatesRequest) (*adminv1.ListCertificatesResponse, error) {
	if err := partner.ValidateID("partner_id", req.GetPartnerId()); err != nil {
		return nil, s.status(ctx, "ListCertificates", err)
	}
	if _, err := s.Store.GetPartner(ctx, req.GetPartnerId()); err != nil {
		return nil, s.status(ctx, "ListCertificates", named(fmt.Sprintf("partner %q", req.GetPartnerId()), err))
	}
	cs, err := s.Store.ListCertificates(ctx, req.GetPartnerId())
	if err != nil {
		return nil, s.status(ctx, "ListCertificates", err)
	}
	out := &adminv1.ListCertificatesResponse{Certificates: make([]*adminv1.Certificate, 0, len(cs))}
	for _, c := range cs {
		out.Certificates = append(out.Certificates, certificatePB(c))
	}
	return out, nil
}

// RequireCertificate sets or clears the partner's requirement of a
// registered client certificate with its keys and tokens.
func (s *Server) RequireCertificate(ctx context.Context, req *adminv1.RequireCertificateRequest) (*adminv1.RequireCertificateResponse, error) {
	p, err := s.requireCertificate(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RequireCertificate", err)
	}
	return &adminv1.RequireCertificateResponse{Partner: partnerPB(p)}, nil
}

func (s *Server) requireCertificate(ctx context.Context, req *adminv1.RequireCertificateRequest) (*partner.Partner, error) {
	id := req.GetPartnerId()
	if err := partner.ValidateID("partner_id", id); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	cur, err := s.Store.GetPartner(ctx, id)
	if err != nil {
		return nil, named(fmt.Sprintf("partner %q", id), err)
	}
	switch {
	case cur.State == partner.Deleted:
		return nil, deletedPartner(id)
	case cur.RequireCertificate == req.GetRequire() && req.GetRequire():
		return nil, precondition(fmt.Sprintf("partner %q already requires a certificate", id))
	case cur.RequireCertificate == req.GetRequire():
		return nil, precondition(fmt.Sprintf("partner %q does not require a certificate", id))
	case req.GetRequire():
		// Requiring what nothing can satisfy would lock the partner out.
		cs, err := s.Store.ListCertificates(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			return nil, precondition(fmt.Sprintf("partner %q has no registered certificate; add one first (partner add-certificate)", id))
		}
	}
	ev := s.event(ctx, "partner.require_certificate", id, "", req.GetReason())
	ev.Detail = map[string]string{"require": fmt.Sprint(req.GetRequire())}
	p, err := s.Store.SetRequireCertificate(ctx, id, req.GetRequire(), ev)
	if err != nil {
		return nil, named(fmt.Sprintf("partner %q", id), err)
	}
	s.committed(ctx, ev)
	return p, nil
}
