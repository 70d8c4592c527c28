package admin_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/admin"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// keyCount returns how many keys partner id has, in any state.
func keyCount(t *testing.T, e *env, id string) int {
	t.Helper()
	list, err := e.client.ListKeys(e.ctx(t), &adminv1.ListKeysRequest{PartnerId: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.GetKeys())
}

// TestIssueKeyScopesAreChosen guards least privilege at issue: no scopes
// is an error, not "every grant"; every grant takes all_granted_scopes.
func TestIssueKeyScopesAreChosen(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read", "orders:write")
	tests := []struct {
		name      string
		req       *adminv1.IssueKeyRequest
		wantField string   // "" means issued
		want      []string // the issued key's scopes
	}{
		{"no-scopes-refused", &adminv1.IssueKeyRequest{PartnerId: "acme"}, "scopes", nil},
		{"empty-scope-list-refused", &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{}}, "scopes", nil},
		{"both-refused", &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, AllGrantedScopes: true}, "all_granted_scopes", nil},
		{"chosen", &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}}, "", []string{"orders:read"}},
		{"all-granted-asked-for", &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}, "", []string{"orders:read", "orders:write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := keyCount(t, e, "acme")
			resp, err := e.client.IssueKey(e.ctx(t), tt.req)
			if tt.wantField != "" {
				wantField(t, err, tt.wantField)
				if keyCount(t, e, "acme") != before {
					t.Error("a refused issue created a key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(resp.GetKey().GetScopes(), " "); got != strings.Join(tt.want, " ") {
				t.Errorf("scopes = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestIssueKeyRefusesSuspendedPartner guards suspension: a suspended
// partner cannot be quietly re-armed with a fresh key.
func TestIssueKeyRefusesSuspendedPartner(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	if _, err := e.client.SuspendPartner(e.ctx(t), &adminv1.SuspendPartnerRequest{Id: "acme", Reason: "leak"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.IssueKey(e.ctx(t), &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), `"acme"`) || !strings.Contains(st.Message(), "suspended") {
		t.Errorf("message %q does not say acme is suspended", st.Message())
	}
	if n := keyCount(t, e, "acme"); n != 0 {
		t.Errorf("%d keys after a refused issue", n)
	}
	if _, err := e.client.ResumePartner(e.ctx(t), &adminv1.ResumePartnerRequest{Id: "acme"}); err != nil {
		t.Fatal(err)
	}
	e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
}

// TestRotateRefusesSecondLiveSuccessor guards rotation against a retry
// after a timeout: a key with a live successor is not rotated again, the
// refusal names the successor, and --force overrides it.
func TestRotateRefusesSecondLiveSuccessor(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	old := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}}).GetKey()
	first, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: old.GetId(), Overlap: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	succ := first.GetKey().GetId()

	_, err = e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: old.GetId(), Overlap: durationpb.New(time.Hour)})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), succ) || !strings.Contains(st.Message(), "--force") {
		t.Errorf("refusal %q does not name the successor %s and --force", st.Message(), succ)
	}
	if n := keyCount(t, e, "acme"); n != 2 {
		t.Fatalf("%d keys after a refused rotation, want 2", n)
	}

	forced, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: old.GetId(), Overlap: durationpb.New(time.Hour), Force: true})
	if err != nil {
		t.Fatalf("forced rotation: %v", err)
	}
	if forced.GetKey().GetId() == succ || keyCount(t, e, "acme") != 3 {
		t.Error("forced rotation made no new successor")
	}

	t.Run("revoked-successor-does-not-block", func(t *testing.T) {
		k := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}}).GetKey()
		r, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: k.GetId(), Overlap: durationpb.New(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: r.GetKey().GetId(), Reason: "lost"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: k.GetId(), Overlap: durationpb.New(time.Hour)}); err != nil {
			t.Errorf("rotation after the successor was revoked: %v", err)
		}
	})
}

// TestRotateKeepsTheKeysLifetime guards the successor's expiry: it lives
// as long as the old key was issued for, unless expires_in says
// otherwise, and a zero expires_in is refused.
func TestRotateKeepsTheKeysLifetime(t *testing.T) {
	tests := []struct {
		name      string
		issued    time.Duration
		expiresIn *durationpb.Duration
		want      time.Duration // 0 means refused, naming expires_in
	}{
		{"short-key-stays-short", 20 * time.Second, nil, 20 * time.Second},
		{"long-key-stays-long", 200 * 24 * time.Hour, nil, 200 * 24 * time.Hour},
		{"expires-in-overrides", 20 * time.Second, durationpb.New(48 * time.Hour), 48 * time.Hour},
		{"zero-expires-in-refused", time.Hour, durationpb.New(0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createPartner(t, "acme", "orders:read")
			old := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, ExpiresIn: durationpb.New(tt.issued)}).GetKey()
			e.clock.Advance(time.Second)
			resp, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: old.GetId(), ExpiresIn: tt.expiresIn})
			if tt.want == 0 {
				wantField(t, err, "expires_in")
				if n := keyCount(t, e, "acme"); n != 1 {
					t.Errorf("%d keys after a refused rotation", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := resp.GetKey()
			if got := k.GetExpiresAt().AsTime().Sub(k.GetCreatedAt().AsTime()); got != tt.want {
				t.Errorf("successor lifetime = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestTokenCallsRefuseUntrustedIssuer guards token revocation and client
// registration against an issuer no trusted issuer matches byte for byte
// (a missing trailing slash): either would succeed and change nothing
// Check sees. The refusal names the closest configured issuer.
func TestTokenCallsRefuseUntrustedIssuer(t *testing.T) {
	e := newEnv(t, func(s *admin.Server) {
		s.Issuers = []string{"https://idp.example.com/realms/partners/", "https://login.example.org/"}
	})
	e.createPartner(t, "acme", "orders:read")
	const near = "https://idp.example.com/realms/partners" // no trailing slash
	tests := []struct {
		name string
		call func() error
	}{
		{"revoke-token", func() error {
			_, err := e.client.RevokeToken(e.ctx(t), &adminv1.RevokeTokenRequest{Issuer: near, Jti: "jti-1"})
			return err
		}},
		{"add-client", func() error {
			_, err := e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "acme", Issuer: near, ClientId: "acme-billing"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			st := wantField(t, tt.call(), "issuer")
			if !strings.Contains(st.Message(), `closest is "https://idp.example.com/realms/partners/"`) {
				t.Errorf("message %q does not name the closest issuer", st.Message())
			}
			if after := len(audit(t, e, "")); after != before {
				t.Errorf("a refused call wrote %d audit events", after-before)
			}
		})
	}
	t.Run("no-issuers-configured", func(t *testing.T) {
		e := newEnv(t, func(s *admin.Server) { s.Issuers = nil })
		_, err := e.client.RevokeToken(e.ctx(t), &adminv1.RevokeTokenRequest{Issuer: idpIssuer, Jti: "jti-1"})
		if st := wantField(t, err, "issuer"); !strings.Contains(st.Message(), "no token issuers are configured") {
			t.Errorf("message %q", st.Message())
		}
	})
	t.Run("exact-issuer-accepted", func(t *testing.T) {
		if _, err := e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "acme", Issuer: near + "/", ClientId: "acme-billing"}); err != nil {
			t.Fatal(err)
		}
	})
}
