package app

// Test strategy for access tokens end to end: app.Start on a real SQLite
// file with one trusted issuer whose JWKS a real httptest server publishes,
// the verified-token cache on. Clients are registered and tokens revoked
// through the admin API only, and each change must refuse the very next
// Check of a token that was already verified (and cached). A second test
// starts with an unreachable IdP and asserts the replica stays out of
// rotation and says which issuer it is waiting for.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/jwtverify"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

const tokenAudience = "https://api.partnergate.test"

// startWith starts a server like start, after adjust edits the config,
// without waiting for readiness.
func startWith(t *testing.T, adjust func(*config.Config)) *harness {
	t.Helper()
	cfg := testConfig(t.TempDir())
	adjust(&cfg)
	return launch(t, cfg, 0)
}

func TestAccessTokensThroughAdminAPI(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer idp.Close()
	issuer := idp.URL + "/realms/partners"

	h := startWith(t, func(c *config.Config) {
		c.JWT.Issuers = jwtverify.Issuers{{Issuer: issuer, JWKSURL: idp.URL + "/jwks", Audiences: []string{tokenAudience}, ClientClaim: "azp"}}
		c.JWT.CacheSize = 100
	})
	select {
	case <-h.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	ctx := adminCtx()
	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}

	mint := func(jti string, iat time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": issuer, "aud": tokenAudience, "azp": "acme-billing", "scope": "orders:read orders:write",
			"jti": jti, "iat": iat.Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(),
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(step, token string, want codes.Code) *authv3.CheckResponse {
		t.Helper()
		resp, err := h.check.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Id: "req-" + step, Method: "GET", Path: "/v1/orders",
				Headers: map[string]string{"authorization": "Bearer " + token},
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
	// The audit log is written off the Check path: wait for the line.
	reasonLogged := func(step string, r authz.Reason) {
		t.Helper()
		h.waitLog(t, step+": audit line", `"request_id":"req-`+step+`"`, `"reason":"`+string(r)+`"`)
	}

	t1 := mint("jti-1", time.Now().Add(-time.Minute))
	check("unregistered", t1, codes.Unauthenticated)
	reasonLogged("unregistered", authz.ReasonUnregisteredClient)

	if _, err := h.admin.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: issuer, ClientId: "acme-billing"}); err != nil {
		t.Fatal(err)
	}
	resp := check("registered", t1, codes.OK)
	hdrs := map[string]string{}
	for _, hv := range resp.GetOkResponse().GetHeaders() {
		hdrs[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
	}
	if hdrs["x-partner-id"] != "acme" || hdrs["x-partner-credential"] != "acme-billing" || hdrs["x-partner-scopes"] != "orders:read" {
		t.Errorf("identity headers = %v, want acme, the client id, and scopes within the grants", hdrs)
	}
	check("cached", t1, codes.OK)

	if _, err := h.admin.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: issuer, Jti: "jti-1", Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	check("revoked-jti", t1, codes.Unauthenticated)
	reasonLogged("revoked-jti", authz.ReasonRevokedToken)

	t2 := mint("jti-2", time.Now().Add(-time.Minute))
	check("other-jti", t2, codes.OK)
	if _, err := h.admin.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "acme", Before: timestamppb.Now()}); err != nil {
		t.Fatal(err)
	}
	check("before-cutoff", t2, codes.Unauthenticated)
	reasonLogged("before-cutoff", authz.ReasonTokenBeforeCutoff)
	t3 := mint("jti-3", time.Now().Add(2*time.Second))
	check("after-cutoff", t3, codes.OK)

	if _, err := h.admin.RemoveClient(ctx, &adminv1.RemoveClientRequest{PartnerId: "acme", Issuer: issuer, ClientId: "acme-billing"}); err != nil {
		t.Fatal(err)
	}
	check("removed-client", t3, codes.Unauthenticated)
	reasonLogged("removed-client", authz.ReasonUnregisteredClient) // every decision's line is written
	for _, tok := range []string{t1, t2, t3} {
		if strings.Contains(h.logs.String(), tok[strings.LastIndex(tok, ".")+1:]) {
			t.Error("a token's signature reached the logs")
		}
	}
}

func TestUnreachableIssuerKeepsReplicaOutOfRotation(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String()
	lis.Close() // nothing listens there now
	h := startWith(t, func(c *config.Config) {
		c.JWT.Issuers = jwtverify.Issuers{{Issuer: dead + "/realms/partners", JWKSURL: dead + "/jwks", Audiences: []string{tokenAudience}}}
	})
	// Poll, with a deadline, until the cache is loaded: from then on only
	// the issuer keeps the replica out of rotation.
	deadline := time.Now().Add(10 * time.Second)
	for !h.srv.Cache.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("cache not loaded within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var named bool
	for _, line := range strings.Split(h.logs.String(), "\n") {
		named = named || strings.Contains(line, "JWKS unreachable") && strings.Contains(line, dead+"/jwks")
	}
	if !named {
		t.Errorf("no log line naming the unreachable IdP; logs:\n%s", h.logs.String())
	}
	resp, err := h.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health = %v, %v; want NOT_SERVING while issuer keys are missing", resp.GetStatus(), err)
	}
	select {
	case <-h.srv.Ready():
		t.Error("Ready closed without issuer keys")
	default:
	}
}
