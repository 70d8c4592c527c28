package partner

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateIssuerAndTokenIdent(t *testing.T) {
	tests := []struct {
		name    string
		check   func() error
		wantBad bool
	}{
		{"issuer-keycloak", func() error { return ValidateIssuer("issuer", "https://sso.example.com/realms/partners") }, false},
		{"issuer-trailing-slash", func() error { return ValidateIssuer("issuer", "https://partnergate.eu.auth0.com/") }, false},
		{"issuer-loopback-http", func() error { return ValidateIssuer("issuer", "http://127.0.0.1:8080/") }, false},
		{"issuer-empty", func() error { return ValidateIssuer("issuer", "") }, true},
		{"issuer-no-scheme", func() error { return ValidateIssuer("issuer", "sso.example.com") }, true},
		{"issuer-other-scheme", func() error { return ValidateIssuer("issuer", "urn:example:idp") }, true},
		{"issuer-space", func() error { return ValidateIssuer("issuer", "https://sso.example.com/ x") }, true},
		{"issuer-newline", func() error { return ValidateIssuer("issuer", "https://sso.example.com/\nx") }, true},
		{"issuer-too-long", func() error { return ValidateIssuer("issuer", "https://e.com/"+strings.Repeat("a", 250)) }, true},
		{"ident-uuid", func() error { return ValidateTokenIdent("client_id", "6e74172b-be56-4843-9ff4-e66a39bb12e3") }, false},
		{"ident-unicode", func() error { return ValidateTokenIdent("client_id", "client-ü") }, false},
		{"ident-empty", func() error { return ValidateTokenIdent("client_id", "") }, true},
		{"ident-control", func() error { return ValidateTokenIdent("client_id", "a\x00b") }, true},
		{"ident-crlf", func() error { return ValidateTokenIdent("jti", "a\r\nx-partner-id: b") }, true},
		{"ident-invalid-utf8", func() error { return ValidateTokenIdent("jti", "a\xffb") }, true},
		{"ident-too-long", func() error { return ValidateTokenIdent("jti", strings.Repeat("j", 256)) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if (err != nil) != tc.wantBad {
				t.Fatalf("err = %v, want bad=%v", err, tc.wantBad)
			}
			var fe *FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("err %v is not a FieldError", err)
			}
		})
	}
}

func TestTokenRevocationLive(t *testing.T) {
	exp := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := &TokenRevocation{Issuer: "https://idp.example.com/", JTI: "j", ExpiresAt: exp}
	for _, tc := range []struct {
		name string
		at   time.Time
		live bool
	}{
		{"before-exp", exp.Add(-time.Minute), true},
		{"within-grace", exp.Add(TokenRevocationGrace - time.Second), true},
		{"grace-over", exp.Add(TokenRevocationGrace), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Live(tc.at); got != tc.live {
				t.Errorf("Live = %v, want %v", got, tc.live)
			}
		})
	}
	var fe *FieldError
	if err := (&TokenRevocation{Issuer: r.Issuer, JTI: "j"}).Validate(); !errors.As(err, &fe) || fe.Field != "expires_at" {
		t.Errorf("Validate without exp = %v, want expires_at named", err)
	}
	if err := (&Client{Issuer: r.Issuer, ClientID: "c", PartnerID: "Bad ID"}).Validate(); !errors.As(err, &fe) || fe.Field != "partner_id" {
		t.Errorf("Client.Validate = %v, want partner_id named", err)
	}
}
