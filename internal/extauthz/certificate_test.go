package extauthz

// Test strategy: certificates as partner credentials end to end over real
// gRPC. A test CA issues client certificates; CheckRequests carry them in
// source.certificate (URL-encoded PEM) and source.principal exactly as
// Envoy fills them. The registry is a map, as the cache holds it. Each row
// asserts the audited reason, the credential id sent upstream on allow,
// and the generic 401 on every authentication refusal.

import (
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/peercert"
	"github.com/partnergate/partnergate/internal/pkitest"
)

// certIndex is a registry of certificates by (kind, value).
type certIndex map[[2]string]*partner.Certificate

func (c certIndex) Certificate(kind partner.CertificateKind, value string) (*partner.Certificate, bool) {
	reg, ok := c[[2]string{string(kind), value}]
	return reg, ok
}

func (c certIndex) add(partnerID string, kind partner.CertificateKind, value string) *partner.Certificate {
	reg := &partner.Certificate{ID: partner.CertificateID(kind, value), PartnerID: partnerID, Kind: kind, Value: value}
	c[[2]string{string(kind), value}] = reg
	return reg
}

func TestCheckCertificateCredential(t *testing.T) {
	ca := pkitest.NewCA(t, "partners CA")
	spiffe := ca.Issue(t, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}})
	dns := ca.Issue(t, pkitest.Names{Subject: "acme", DNS: []string{"api.acme.example"}})
	byPrint := ca.Issue(t, pkitest.Names{Subject: "acme-pinned"})
	unregistered := ca.Issue(t, pkitest.Names{Subject: "stranger", URIs: []string{"spiffe://partners.example/stranger"}, DNS: []string{"stranger.example"}})
	globexCert := ca.Issue(t, pkitest.Names{Subject: "globex", URIs: []string{"spiffe://partners.example/globex"}})
	umbraCert := ca.Issue(t, pkitest.Names{Subject: "umbra", DNS: []string{"umbra.example"}})
	twoPartners := ca.Issue(t, pkitest.Names{Subject: "confused", URIs: []string{"spiffe://partners.example/acme"}, DNS: []string{"globex.example"}})

	f := newFixture(t, nil)
	f.index.setPartner(&partner.Partner{ID: "initech", Tier: "gold", Scopes: partner.Scopes{"orders:read"}, State: partner.Active, RequireCertificate: true})
	k, err := f.format.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, v := f.hasher.Digest(k)
	f.index.mu.Lock()
	f.index.keys[k.ID()] = partner.KeyRecord{ID: k.ID(), PartnerID: "initech", Scopes: "orders:read", Digest: digest, PepperVersion: v}
	f.index.mu.Unlock()
	initechCert := ca.Issue(t, pkitest.Names{Subject: "initech", URIs: []string{"spiffe://partners.example/initech"}})

	certs := certIndex{}
	regSPIFFE := certs.add("acme", partner.CertSPIFFEID, "spiffe://partners.example/acme")
	regDNS := certs.add("acme", partner.CertDNSSAN, "api.acme.example")
	regPrint := certs.add("acme", partner.CertFingerprint, mustParse(t, byPrint).Fingerprint)
	certs.add("globex", partner.CertSPIFFEID, "spiffe://partners.example/globex")
	certs.add("globex", partner.CertDNSSAN, "globex.example")
	certs.add("umbra", partner.CertDNSSAN, "umbra.example")
	regInitech := certs.add("initech", partner.CertSPIFFEID, "spiffe://partners.example/initech")

	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Auditor: f.audit, Certificates: certs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	client := serve(t, srv)

	tests := []struct {
		name   string
		peer   *pkitest.Leaf
		hdrs   map[string]string
		reason authz.Reason
		credID string // on allow
		scopes string // on allow
	}{
		{name: "spiffe-registered", peer: spiffe, reason: authz.ReasonAllowed, credID: regSPIFFE.ID, scopes: "orders:read orders:write"},
		{name: "spiffe-unregistered", peer: unregistered, reason: authz.ReasonMissingCredential},
		{name: "dns-san-registered", peer: dns, reason: authz.ReasonAllowed, credID: regDNS.ID, scopes: "orders:read orders:write"},
		{name: "fingerprint-registered", peer: byPrint, reason: authz.ReasonAllowed, credID: regPrint.ID, scopes: "orders:read orders:write"},
		{name: "fingerprint-unregistered", peer: ca.Issue(t, pkitest.Names{Subject: "acme-pinned"}), reason: authz.ReasonMissingCredential},
		{name: "no-certificate-no-credential", reason: authz.ReasonMissingCredential},
		{name: "certificate-of-a-with-key-of-b", peer: spiffe, hdrs: bearerOf(f.keys["globex"]), reason: authz.ReasonCertificateMismatch},
		{name: "certificate-of-a-with-key-of-a", peer: spiffe, hdrs: bearerOf(f.keys["acme"]), reason: authz.ReasonAllowed, credID: f.keys["acme"].ID(), scopes: "orders:read orders:write"},
		{name: "unregistered-certificate-with-key", peer: unregistered, hdrs: bearerOf(f.keys["globex"]), reason: authz.ReasonAllowed, credID: f.keys["globex"].ID(), scopes: "orders:read"},
		{name: "suspended-partners-certificate", peer: umbraCert, reason: authz.ReasonPartnerSuspended},
		{name: "names-of-two-partners", peer: twoPartners, reason: authz.ReasonAmbiguousCertificate},
		{name: "require-certificate-key-alone", hdrs: bearerOf(k), reason: authz.ReasonCertificateRequired},
		{name: "require-certificate-key-with-another-partners-certificate", peer: globexCert, hdrs: bearerOf(k), reason: authz.ReasonCertificateMismatch},
		{name: "require-certificate-key-with-its-certificate", peer: initechCert, hdrs: bearerOf(k), reason: authz.ReasonAllowed, credID: k.ID(), scopes: "orders:read"},
		{name: "require-certificate-certificate-alone", peer: initechCert, reason: authz.ReasonAllowed, credID: regInitech.ID, scopes: "orders:read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), withPeer(request("GET", "/v1/orders", tc.hdrs, nil), tc.peer))
			if err != nil {
				t.Fatal(err)
			}
			d := f.audit.get()
			if d.Reason != tc.reason {
				t.Fatalf("reason = %s (%s), want %s", d.Reason, d.Detail, tc.reason)
			}
			if tc.reason != authz.ReasonAllowed {
				if tc.reason == authz.ReasonPartnerSuspended {
					return
				}
				if den := resp.GetDeniedResponse(); den == nil || den.GetStatus().GetCode() != 401 || resp.GetStatus().GetMessage() != authz.PublicInvalidCredentials {
					t.Fatalf("denial = %v, want the generic 401", resp)
				}
				return
			}
			got := headersOf(resp)
			if got[authz.HeaderPartnerCredential] != tc.credID || got[authz.HeaderPartnerScopes] != tc.scopes {
				t.Errorf("headers = %v, want credential %q and scopes %q", got, tc.credID, tc.scopes)
			}
		})
	}

	t.Run("istio-principal-without-certificate", func(t *testing.T) {
		r := request("GET", "/v1/orders", nil, nil)
		r.GetAttributes().GetSource().Principal = "spiffe://partners.example/acme"
		if _, err := client.Check(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if d := f.audit.get(); d.Reason != authz.ReasonAllowed || d.CredentialID != regSPIFFE.ID {
			t.Errorf("decision = %s %q, want allowed as %s", d.Reason, d.CredentialID, regSPIFFE.ID)
		}
	})
}

func mustParse(t *testing.T, l *pkitest.Leaf) *peercert.Cert {
	t.Helper()
	c, err := peercert.Parse(peercert.Encode(l.PEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func headersOf(resp *authv3.CheckResponse) map[string]string {
	got := map[string]string{}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return got
}
