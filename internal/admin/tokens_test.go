package admin_test

// Test strategy for the OAuth2 admin calls: the same real gRPC, SQLite
// store and hot cache as the rest of the admin tests. Each write must reach
// the cache before the call returns (what Check reads), be audited with
// who and what, and every malformed field must be refused with its name
// and leave nothing behind.

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

const idpIssuer = "https://idp.example.com/realms/partners"

func TestClientRegistry(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "globex", "orders:read")
	resp, err := e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: "acme-billing", Reason: "onboarding"})
	if err != nil {
		t.Fatalf("AddClient: %v", err)
	}
	if c := resp.GetClient(); c.GetPartnerId() != "acme" || c.GetClientId() != "acme-billing" || c.GetCreatedAt() == nil {
		t.Errorf("client = %v", c)
	}
	if id, ok := e.cache.Client(idpIssuer, "acme-billing"); !ok || id != "acme" {
		t.Errorf("cache after AddClient: %q, %v; want acme before the call returned", id, ok)
	}
	// One client, one partner.
	_, err = e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "globex", Issuer: idpIssuer, ClientId: "acme-billing"})
	wantCode(t, err, codes.AlreadyExists)
	_, err = e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "ghost", Issuer: idpIssuer, ClientId: "c"})
	if st := wantCode(t, err, codes.NotFound); !strings.Contains(st.Message(), `partner "ghost"`) {
		t.Errorf("message %q does not name the partner", st.Message())
	}

	list, err := e.client.ListClients(e.ctx(t), &adminv1.ListClientsRequest{PartnerId: "acme"})
	if err != nil || len(list.GetClients()) != 1 {
		t.Fatalf("ListClients = %v, %v", list, err)
	}

	// Removing from the wrong partner changes nothing.
	_, err = e.client.RemoveClient(e.ctx(t), &adminv1.RemoveClientRequest{PartnerId: "globex", Issuer: idpIssuer, ClientId: "acme-billing"})
	wantCode(t, err, codes.NotFound)
	if _, err := e.client.RemoveClient(e.ctx(t), &adminv1.RemoveClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: "acme-billing", Reason: "offboarding"}); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	if _, ok := e.cache.Client(idpIssuer, "acme-billing"); ok {
		t.Error("cache still maps the removed client")
	}

	evs := audit(t, e, "acme")
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
		if strings.HasPrefix(ev.Action, "client.") && (ev.Detail["issuer"] != idpIssuer || ev.Detail["client_id"] != "acme-billing" || ev.Actor != "bootstrap" || ev.Note != "alice") {
			t.Errorf("audit event %+v lacks who or what", ev)
		}
	}
	if got := strings.Join(actions, ","); got != "partner.create,client.add,client.remove" {
		t.Errorf("audit actions = %s", got)
	}
}

func TestRevokeToken(t *testing.T) {
	e := newEnv(t)
	exp := e.clock.Now().Add(time.Hour)
	resp, err := e.client.RevokeToken(e.ctx(t), &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "jti-1", ExpiresAt: timestamppb.New(exp), Reason: "leaked in a log"})
	if err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if r := resp.GetRevocation(); !r.GetExpiresAt().AsTime().Equal(exp) || r.GetJti() != "jti-1" {
		t.Errorf("revocation = %v", r)
	}
	if !e.cache.TokenRevoked(idpIssuer, "jti-1") {
		t.Error("cache does not refuse the token after RevokeToken returned")
	}
	// Without --expires-at: the default bound.
	resp, err = e.client.RevokeToken(e.ctx(t), &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "jti-2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.GetRevocation().GetExpiresAt().AsTime(), e.clock.Now().Add(partner.DefaultTokenRevocationTTL); !got.Equal(want) {
		t.Errorf("default expires_at = %v, want %v", got, want)
	}
	evs := audit(t, e, "")
	if last := evs[len(evs)-1]; last.Action != "token.revoke" || last.Detail["jti"] != "jti-2" || last.Detail["issuer"] != idpIssuer {
		t.Errorf("audit = %+v", last)
	}
}

func TestRevokePartnerTokens(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	cut := e.clock.Now().Add(-time.Minute)
	resp, err := e.client.RevokePartnerTokens(e.ctx(t), &adminv1.RevokePartnerTokensRequest{Id: "acme", Before: timestamppb.New(cut), Reason: "client secret leaked"})
	if err != nil {
		t.Fatalf("RevokePartnerTokens: %v", err)
	}
	if got := resp.GetPartner().GetRevokedBefore().AsTime(); !got.Equal(cut) {
		t.Errorf("revoked_before = %v, want %v", got, cut)
	}
	if p, ok := e.cache.Partner("acme"); !ok || !p.TokensNotBefore.Equal(cut) {
		t.Errorf("cache partner = %+v, want TokensNotBefore %v", p, cut)
	}
	_, err = e.client.RevokePartnerTokens(e.ctx(t), &adminv1.RevokePartnerTokensRequest{Id: "ghost", Before: timestamppb.New(cut)})
	wantCode(t, err, codes.NotFound)
}

func TestTokenCallsRefuseMalformedInput(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	now := e.clock.Now()
	tests := []struct {
		name  string
		call  func(ctx context.Context) error
		field string
	}{
		{"add-client-bad-partner", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "A B", Issuer: idpIssuer, ClientId: "c"})
			return err
		}, "partner_id"},
		{"add-client-no-issuer", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", ClientId: "c"})
			return err
		}, "issuer"},
		{"add-client-issuer-not-url", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: "idp.example.com", ClientId: "c"})
			return err
		}, "issuer"},
		{"add-client-empty-client-id", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: idpIssuer})
			return err
		}, "client_id"},
		{"add-client-id-with-newline", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: "c\nx-partner-id: evil"})
			return err
		}, "client_id"},
		{"remove-client-long-client-id", func(ctx context.Context) error {
			_, err := e.client.RemoveClient(ctx, &adminv1.RemoveClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: strings.Repeat("c", 256)})
			return err
		}, "client_id"},
		{"revoke-token-no-jti", func(ctx context.Context) error {
			_, err := e.client.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: idpIssuer})
			return err
		}, "jti"},
		{"revoke-token-past-exp", func(ctx context.Context) error {
			_, err := e.client.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "j", ExpiresAt: timestamppb.New(now.Add(-time.Hour))})
			return err
		}, "expires_at"},
		{"revoke-token-exp-too-far", func(ctx context.Context) error {
			_, err := e.client.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "j", ExpiresAt: timestamppb.New(now.Add(2 * 366 * 24 * time.Hour))})
			return err
		}, "expires_at"},
		{"revoke-token-reason-control-char", func(ctx context.Context) error {
			_, err := e.client.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "j", Reason: "a\x1bb"})
			return err
		}, "reason"},
		{"revoke-tokens-no-before", func(ctx context.Context) error {
			_, err := e.client.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "acme"})
			return err
		}, "before"},
		{"revoke-tokens-before-in-future", func(ctx context.Context) error {
			_, err := e.client.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "acme", Before: timestamppb.New(now.Add(time.Hour))})
			return err
		}, "before"},
		{"revoke-tokens-bad-id", func(ctx context.Context) error {
			_, err := e.client.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "", Before: timestamppb.New(now)})
			return err
		}, "id"},
	}
	before := len(audit(t, e, ""))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantField(t, tt.call(e.ctx(t)), tt.field)
		})
	}
	if after := len(audit(t, e, "")); after != before {
		t.Fatalf("refused requests wrote %d audit events", after-before)
	}
	if e.cache.Clients() != 0 || e.cache.RevokedTokens() != 0 {
		t.Errorf("refused requests reached the cache: %d clients, %d revocations", e.cache.Clients(), e.cache.RevokedTokens())
	}
}
