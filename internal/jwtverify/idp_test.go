package jwtverify

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
)

// TestIdPTokens verifies client-credentials access tokens shaped like those
// of the major IdPs (headers and claims as they issue them), each under the
// issuer config the README documents for it.
func TestIdPTokens(t *testing.T) {
	p := newIdP(t, rsaKey("rsa-1"), ecKey("ec-1"), edKey("ed-1"))
	clk := newClock()
	now := clk.Now()
	iat, exp := now.Unix(), now.Add(time.Hour).Unix()
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

	tests := []struct {
		name   string
		cfg    IssuerConfig
		key    *testKey
		header map[string]any
		claims jwt.MapClaims
		client string
		scopes partner.Scopes
	}{
		{
			name: "keycloak",
			cfg: IssuerConfig{
				Issuer: "https://sso.example.com/realms/partners", Audiences: []string{"partnergate"},
				ClientClaim: "azp", ScopeClaim: "scope",
			},
			key:    rsaKey("rsa-1"),
			header: map[string]any{"typ": "JWT"},
			claims: jwt.MapClaims{
				"exp": exp, "iat": iat, "jti": "8b1c0c3e-5d4a-4f7e-9a51-1f0e6f3c2d11",
				"iss": "https://sso.example.com/realms/partners", "aud": "partnergate",
				"sub": "4c5d2b7e-0d0b-4b6c-9a66-2f3e1a7d9c01", "typ": "Bearer", "azp": "acme-billing",
				"acr": "1", "scope": "orders:read profile email", "clientHost": "10.1.2.3",
				"email_verified": false, "preferred_username": "service-account-acme-billing",
				"clientAddress": "10.1.2.3", "client_id": "acme-billing",
				"realm_access": map[string]any{"roles": []string{"offline_access", "uma_authorization"}},
			},
			client: "acme-billing",
			scopes: partner.Scopes{"email", "orders:read", "profile"},
		},
		{
			name: "auth0",
			cfg: IssuerConfig{
				Issuer: "https://partnergate.eu.auth0.com/", Audiences: []string{"https://api.partnergate.example"},
				ClientClaim: "azp", ScopeClaim: "scope",
			},
			key:    rsaKey("rsa-1"),
			header: map[string]any{"typ": "JWT"},
			claims: jwt.MapClaims{
				"iss": "https://partnergate.eu.auth0.com/", "sub": "Xk3f9QbZ1mN8pR2sT5vW7yA0cE4gH6jL@clients",
				"aud": "https://api.partnergate.example", "iat": iat, "exp": exp,
				"scope": "read:orders write:orders", "gty": "client-credentials",
				"azp": "Xk3f9QbZ1mN8pR2sT5vW7yA0cE4gH6jL",
			},
			client: "Xk3f9QbZ1mN8pR2sT5vW7yA0cE4gH6jL",
			scopes: partner.Scopes{"read:orders", "write:orders"},
		},
		{
			name: "okta",
			cfg: IssuerConfig{
				Issuer: "https://acme.okta.com/oauth2/default", Audiences: []string{"api://partnergate"},
				ClientClaim: "cid", ScopeClaim: "scp",
			},
			key: ecKey("ec-1"),
			claims: jwt.MapClaims{
				"ver": 1, "jti": "AT.q1Wf3y0Yk8Zr2nXH5pQ9vJ7uE4tB6mC0aS1dF3gH5jK",
				"iss": "https://acme.okta.com/oauth2/default", "aud": "api://partnergate",
				"iat": iat, "exp": exp, "cid": "0oa1b2c3d4e5f6g7h8i9", "sub": "0oa1b2c3d4e5f6g7h8i9",
				"scp": []string{"orders.read", "orders.write"},
			},
			client: "0oa1b2c3d4e5f6g7h8i9",
			scopes: partner.Scopes{"orders.read", "orders.write"},
		},
		{
			name: "entra-id-v1",
			cfg: IssuerConfig{
				Issuer: "https://sts.windows.net/" + tenant + "/", Audiences: []string{"api://partnergate"},
				ClientClaim: "appid", ScopeClaim: "roles",
			},
			key:    rsaKey("rsa-1"),
			header: map[string]any{"typ": "JWT", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg"},
			claims: jwt.MapClaims{
				"aud": "api://partnergate", "iss": "https://sts.windows.net/" + tenant + "/",
				"iat": iat, "nbf": iat, "exp": exp, "aio": "E2ZgYDi0c3FzN2n1v9nZ+3sAAA==",
				"appid": "11111111-2222-3333-4444-555555555555", "appidacr": "1",
				"idp": "https://sts.windows.net/" + tenant + "/", "oid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
				"rh": "0.AXEAv4j5cvGGr0GRqy180BHbR1vZ.", "roles": []string{"Orders.Read", "Orders.Write"},
				"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "tid": tenant, "uti": "Q7cZ1d4vN0Szh2oF5yKxAA", "ver": "1.0",
			},
			client: "11111111-2222-3333-4444-555555555555",
			scopes: partner.Scopes{"Orders.Read", "Orders.Write"},
		},
		{
			name: "entra-id-v2",
			cfg: IssuerConfig{
				Issuer: "https://login.microsoftonline.com/" + tenant + "/v2.0", Audiences: []string{"6e74172b-be56-4843-9ff4-e66a39bb12e3"},
				ClientClaim: "azp", ScopeClaim: "roles",
			},
			key:    rsaKey("rsa-1"),
			header: map[string]any{"typ": "JWT"},
			claims: jwt.MapClaims{
				"aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "iss": "https://login.microsoftonline.com/" + tenant + "/v2.0",
				"iat": iat, "nbf": iat, "exp": exp, "azp": "11111111-2222-3333-4444-555555555555", "azpacr": "1",
				"oid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "roles": []string{"Orders.Read"},
				"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "tid": tenant, "uti": "Q7cZ1d4vN0Szh2oF5yKxAA", "ver": "2.0",
			},
			client: "11111111-2222-3333-4444-555555555555",
			scopes: partner.Scopes{"Orders.Read"},
		},
		{
			name: "ory-hydra",
			cfg: IssuerConfig{
				Issuer: "https://auth.example.com/", Audiences: []string{"https://api.partnergate.example"},
				ClientClaim: "client_id", ScopeClaim: "scp",
			},
			key:    edKey("ed-1"),
			header: map[string]any{"typ": "JWT"},
			claims: jwt.MapClaims{
				"aud": []string{"https://api.partnergate.example"}, "client_id": "acme-billing",
				"exp": exp, "ext": map[string]any{}, "iat": iat, "iss": "https://auth.example.com/",
				"jti": "4f5e6d7c-8b9a-4c3d-9e2f-1a0b9c8d7e6f", "nbf": iat, "scp": []string{"orders.read"},
				"sub": "acme-billing",
			},
			client: "acme-billing",
			scopes: partner.Scopes{"orders.read"},
		},
		{
			name: "ory-hydra-by-sub",
			cfg: IssuerConfig{
				Issuer: "https://auth2.example.com/", Audiences: []string{"https://api.partnergate.example"},
				ClientClaim: "sub", ScopeClaim: "scp",
			},
			key:    edKey("ed-1"),
			header: map[string]any{"typ": "JWT"},
			claims: jwt.MapClaims{
				"aud": []string{"https://api.partnergate.example"}, "client_id": "acme-billing",
				"exp": exp, "ext": map[string]any{}, "iat": iat, "iss": "https://auth2.example.com/",
				"jti": "4f5e6d7c-8b9a-4c3d-9e2f-1a0b9c8d7e6f", "nbf": iat, "scp": []string{"orders.read"},
				"sub": "acme-billing",
			},
			client: "acme-billing",
			scopes: partner.Scopes{"orders.read"},
		},
		{
			name: "rfc9068-at-jwt",
			cfg: IssuerConfig{
				Issuer: "https://as.example.com", Audiences: []string{"https://api.partnergate.example"},
				RequireType: "at+jwt",
			},
			key:    ecKey("ec-1"),
			header: map[string]any{"typ": "at+jwt"},
			claims: jwt.MapClaims{
				"iss": "https://as.example.com", "exp": exp, "aud": "https://api.partnergate.example",
				"sub": "acme-billing", "client_id": "acme-billing", "iat": iat, "jti": "dbe39bf3a3ba4238a513f51d6e1691c4",
				"scope": "orders:read",
			},
			client: "acme-billing",
			scopes: partner.Scopes{"orders:read"},
		},
	}

	cfgs := make([]IssuerConfig, len(tests))
	for i, tt := range tests {
		cfgs[i] = tt.cfg
		cfgs[i].JWKSURL = p.jwksURL() // every IdP's keys from the one test endpoint
	}
	v, err := New(context.Background(), cfgs, Options{Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), sign(t, tt.key, tt.header, tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v (reason %s)", err, Reason(err))
			}
			if got.Issuer != tt.cfg.Issuer || got.ClientID != tt.client {
				t.Errorf("issuer, client = %q, %q; want %q, %q", got.Issuer, got.ClientID, tt.cfg.Issuer, tt.client)
			}
			if diff := cmp.Diff(tt.scopes, got.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
		})
	}
}
