package authz

import (
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
)

// CertificateIndex finds the client certificates registered as partner
// credentials. *cache.Cache implements it.
type CertificateIndex interface {
	// Certificate returns the registration of (kind, value).
	Certificate(kind partner.CertificateKind, value string) (*partner.Certificate, bool)
}

// matchCertificate returns the registration the request's verified client
// certificate matches: its SHA-256 fingerprint, one of its URI SANs (a
// SPIFFE ID) or one of its DNS SANs. Without a forwarded certificate, the
// principal Envoy derived from it counts (a SPIFFE ID, or a DNS name). A
// certificate whose names match registrations of two partners is
// ambiguous: ok is false, and the request is refused rather than resolved
// in the caller's favour.
func (s *Decider) matchCertificate(req *Request) (reg *partner.Certificate, ok bool) {
	if s.certs == nil {
		return nil, true
	}
	consider := func(kind partner.CertificateKind, value string) bool {
		c, found := s.certs.Certificate(kind, value)
		if !found {
			return true
		}
		if reg != nil && reg.PartnerID != c.PartnerID {
			return false
		}
		if reg == nil {
			reg = c
		}
		return true
	}
	if pc := req.PeerCert; pc != nil {
		if !consider(partner.CertFingerprint, pc.Fingerprint) {
			return nil, false
		}
		for _, u := range pc.URIs {
			if !consider(partner.CertSPIFFEID, u) {
				return nil, false
			}
		}
		for _, n := range pc.DNSNames {
			if !consider(partner.CertDNSSAN, strings.ToLower(n)) {
				return nil, false
			}
		}
		return reg, true
	}
	switch p := req.SourcePrincipal; {
	case p == "":
	case strings.HasPrefix(p, "spiffe://"):
		consider(partner.CertSPIFFEID, p)
	default:
		consider(partner.CertDNSSAN, strings.ToLower(p))
	}
	return reg, true
}

// decideCertificate is the decision for a request whose only credential is
// its client certificate: the registration names the partner, whose grants
// are the scopes.
func (s *Decider) decideCertificate(req *Request, d *Decision) {
	d.CredentialID = d.cert.ID
	d.PartnerID = d.cert.PartnerID
	p, reason := s.activePartner(d)
	if reason != "" {
		d.deny(reason)
		return
	}
	d.Scopes = p.Scopes.String()
	s.authorize(req, d)
}

// certificateReason is the certificate rule of d's partner p, common to
// every credential kind: a registered certificate of another partner is
// refused next to this partner's key or token, and a partner that
// requires a certificate gets none of its credentials accepted without
// one of its own.
func certificateReason(d *Decision, p *partner.Partner) Reason {
	switch {
	case d.cert != nil && d.cert.PartnerID != p.ID:
		return ReasonCertificateMismatch
	case p.RequireCertificate && d.cert == nil:
		return ReasonCertificateRequired
	}
	return ""
}
