package app

// Test strategy for certificates as credentials end to end: app.Start on a
// real SQLite file; registrations and the requirement are changed through
// the admin API only, and each change must decide the very next Check,
// sent as Envoy sends a TLS client's (source.certificate URL-encoded,
// source.principal its SPIFFE ID), over real gRPC.

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/internal/peercert"
	"github.com/partnergate/partnergate/internal/pkitest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestCertificatesThroughAdminAPI(t *testing.T) {
	h := start(t)
	ctx := adminCtx()
	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	key, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	if err != nil {
		t.Fatal(err)
	}
	ca := pkitest.NewCA(t, "partners CA")
	leaf := ca.Issue(t, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}})
	check := func(step string, withCert bool, apiKey string, want codes.Code) *authv3.CheckResponse {
		t.Helper()
		src := &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.9"},
		}}}
		if withCert {
			src.Principal = "spiffe://partners.example/acme"
			src.Certificate = peercert.Encode(leaf.PEM)
		}
		hdrs := map[string]string{}
		if apiKey != "" {
			hdrs["x-api-key"] = apiKey
		}
		resp, err := h.check.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: src,
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Id: "req-1", Method: "GET", Path: "/v1/orders", Scheme: "https", Host: "api.example.com", Headers: hdrs,
			}},
			ContextExtensions: map[string]string{"required_scopes": "orders:read"},
		}})
		if err != nil {
			t.Fatalf("%s: Check: %v", step, err)
		}
		if got := codes.Code(resp.GetStatus().GetCode()); got != want {
			t.Fatalf("%s: Check = %v (%s), want %v", step, got, resp.GetDeniedResponse().GetBody(), want)
		}
		return resp
	}

	check("unregistered certificate", true, "", codes.Unauthenticated)
	reg, err := h.admin.AddCertificate(ctx, &adminv1.AddCertificateRequest{PartnerId: "acme", Match: &adminv1.AddCertificateRequest_SpiffeId{SpiffeId: "spiffe://partners.example/acme"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := check("registered certificate", true, "", codes.OK)
	for _, hv := range resp.GetOkResponse().GetHeaders() {
		if hv.GetHeader().GetKey() == "x-partner-credential" && hv.GetHeader().GetValue() != reg.GetCertificate().GetId() {
			t.Errorf("x-partner-credential = %q, want %q", hv.GetHeader().GetValue(), reg.GetCertificate().GetId())
		}
	}
	check("key alone, not required", false, key.GetSecret(), codes.OK)
	if _, err := h.admin.RequireCertificate(ctx, &adminv1.RequireCertificateRequest{PartnerId: "acme", Require: true}); err != nil {
		t.Fatal(err)
	}
	check("key alone, required", false, key.GetSecret(), codes.Unauthenticated)
	check("key with its certificate, required", true, key.GetSecret(), codes.OK)
	if _, err := h.admin.RemoveCertificate(ctx, &adminv1.RemoveCertificateRequest{PartnerId: "acme", CertificateId: reg.GetCertificate().GetId()}); err != nil {
		t.Fatal(err)
	}
	check("removed certificate", true, "", codes.Unauthenticated)
	check("key with a removed certificate, required", true, key.GetSecret(), codes.Unauthenticated)
}
