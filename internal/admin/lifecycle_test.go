package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// TestUpdatePartner: a tier change, narrowed and widened grants and an
// allow-list, over real gRPC; each is audited with the old and new values
// and the verified actor, and the serving replica's cache holds the new
// partner when the call returns. The key's own scopes are never touched.
func TestUpdatePartner(t *testing.T) {
	e := newEnv(t, func(s *admin.Server) { s.Tiers = []string{"gold", "silver"} })
	e.createPartner(t, "acme", "orders:read", "orders:write")
	key := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read", "orders:write"}}).GetKey()

	steps := []struct {
		name       string
		req        *adminv1.UpdatePartnerRequest
		wantTier   string
		wantScopes string
		wantAllow  string
		wantDetail map[string]string
	}{
		{"narrow-grants", &adminv1.UpdatePartnerRequest{Id: "acme", SetScopes: true, Scopes: []string{"orders:read"}, Reason: "contract ended"},
			"gold", "orders:read", "", map[string]string{"old_scopes": "orders:read orders:write", "scopes": "orders:read", "dropped_scopes": "orders:write"}},
		{"widen-grants-and-tier", &adminv1.UpdatePartnerRequest{Id: "acme", Tier: proto.String("silver"), SetScopes: true, Scopes: []string{"orders:read", "refunds:write"}},
			"silver", "orders:read refunds:write", "", map[string]string{"old_tier": "gold", "tier": "silver", "old_scopes": "orders:read", "scopes": "orders:read refunds:write"}},
		{"allow-list", &adminv1.UpdatePartnerRequest{Id: "acme", SetAllowCidrs: true, AllowCidrs: []string{"2001:db8::/32", "203.0.113.0/24"}},
			"silver", "orders:read refunds:write", "203.0.113.0/24,2001:db8::/32", map[string]string{"old_allow_cidrs": "", "allow_cidrs": "203.0.113.0/24,2001:db8::/32"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp, err := e.client.UpdatePartner(e.ctx(t), st.req)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.GetPartner()
			if got.GetTier() != st.wantTier || strings.Join(got.GetScopes(), " ") != st.wantScopes || strings.Join(got.GetAllowCidrs(), ",") != st.wantAllow {
				t.Errorf("response = %v", got)
			}
			p, ok := e.cache.Partner("acme")
			if !ok || p.Tier != st.wantTier || p.Scopes.String() != st.wantScopes || p.AllowCIDRs.String() != st.wantAllow {
				t.Errorf("cache holds %+v when the call returns", p)
			}
			evs := audit(t, e, "acme")
			last := evs[len(evs)-1]
			if last.Action != "partner.update" || last.Actor != "bootstrap" || last.Reason != st.req.GetReason() {
				t.Errorf("audit = %+v", last)
			}
			for k, v := range st.wantDetail {
				if last.Detail[k] != v {
					t.Errorf("audit detail %s = %q, want %q (all: %v)", k, last.Detail[k], v, last.Detail)
				}
			}
			if rec, ok := e.cache.Key(context.Background(), key.GetId()); !ok || rec.Scopes != "orders:read orders:write" {
				t.Errorf("key record = %+v; its own scopes must stay as issued", rec)
			}
		})
	}
}

// TestUpdatePartnerRefusals: bad input names the field, a tier that is not
// configured is refused as at create, a call that changes nothing is a
// failed precondition, and none of them writes.
func TestUpdatePartnerRefusals(t *testing.T) {
	e := newEnv(t, func(s *admin.Server) { s.Tiers = []string{"gold"} })
	e.createPartner(t, "acme", "orders:read")
	tests := []struct {
		name      string
		req       *adminv1.UpdatePartnerRequest
		wantField string
		wantCode  codes.Code
	}{
		{"unknown-tier", &adminv1.UpdatePartnerRequest{Id: "acme", Tier: proto.String("platinum")}, "tier", codes.InvalidArgument},
		{"nothing-asked", &adminv1.UpdatePartnerRequest{Id: "acme"}, "id", codes.InvalidArgument},
		{"scopes-without-set", &adminv1.UpdatePartnerRequest{Id: "acme", Scopes: []string{"x"}}, "set_scopes", codes.InvalidArgument},
		{"bad-scope", &adminv1.UpdatePartnerRequest{Id: "acme", SetScopes: true, Scopes: []string{"a b"}}, "scopes", codes.InvalidArgument},
		{"host-bits-in-cidr", &adminv1.UpdatePartnerRequest{Id: "acme", SetAllowCidrs: true, AllowCidrs: []string{"203.0.113.7/24"}}, "allow_cidrs", codes.InvalidArgument},
		{"same-values", &adminv1.UpdatePartnerRequest{Id: "acme", Tier: proto.String("gold"), SetScopes: true, Scopes: []string{"orders:read"}}, "", codes.FailedPrecondition},
		{"unknown-partner", &adminv1.UpdatePartnerRequest{Id: "ghost", Tier: proto.String("gold")}, "", codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			_, err := e.client.UpdatePartner(e.ctx(t), tt.req)
			if tt.wantField != "" {
				wantField(t, err, tt.wantField)
			} else {
				wantCode(t, err, tt.wantCode)
			}
			if n := len(audit(t, e, "")); n != before {
				t.Errorf("a refused call wrote %d audit events", n-before)
			}
			if p, _ := e.store.GetPartner(context.Background(), "acme"); p.Version != 1 {
				t.Errorf("a refused call changed the partner: %+v", p)
			}
		})
	}
}

// TestDeletePartner: refused while credentials are live; with revoke_all
// every key is revoked and every client removed in the serving replica's
// cache when the call returns; the tombstone refuses every later write and
// a plain create of its id, and reuse_deleted_id hands the id over without
// its old keys.
func TestDeletePartner(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	k1 := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	k2 := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	if _, err := e.client.AddClient(e.ctx(t), &adminv1.AddClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: "svc"}); err != nil {
		t.Fatal(err)
	}

	before := len(audit(t, e, ""))
	_, err := e.client.DeletePartner(e.ctx(t), &adminv1.DeletePartnerRequest{Id: "acme"})
	st := wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(st.Message(), "2 live keys, 1 OAuth clients and 0 client certificates") || !strings.Contains(st.Message(), "--revoke-all") {
		t.Errorf("message = %q", st.Message())
	}
	if len(audit(t, e, "")) != before {
		t.Error("the refused delete was written")
	}

	resp, err := e.client.DeletePartner(e.ctx(t), &adminv1.DeletePartnerRequest{Id: "acme", RevokeAll: true, Reason: "offboarded"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPartner().GetState() != "deleted" || resp.GetPartner().GetDeletedAt() == nil ||
		len(resp.GetRevokedKeyIds()) != 2 || len(resp.GetRemovedClients()) != 1 {
		t.Errorf("response = %v", resp)
	}
	for _, id := range []string{k1, k2} {
		if rec, ok := e.cache.Key(context.Background(), id); ok && !rec.Revoked {
			t.Errorf("key %s still live in the cache after the delete returned", id)
		}
	}
	if _, ok := e.cache.Client(idpIssuer, "svc"); ok {
		t.Error("the client is still in the cache")
	}
	if p, _ := e.cache.Partner("acme"); p == nil || p.State != partner.Deleted {
		t.Errorf("cache partner = %+v", p)
	}
	evs := audit(t, e, "acme")
	if last := evs[len(evs)-1]; last.Action != "partner.delete" || last.Actor != "bootstrap" || last.Reason != "offboarded" ||
		last.Detail["removed_clients"] != "1" || strings.Count(last.Detail["revoked_keys"], ",") != 1 {
		t.Errorf("audit = %+v", last)
	}

	refused := []struct {
		name string
		call func(context.Context) error
		code codes.Code
	}{
		{"delete-again", func(ctx context.Context) error {
			_, err := e.client.DeletePartner(ctx, &adminv1.DeletePartnerRequest{Id: "acme", RevokeAll: true})
			return err
		}, codes.FailedPrecondition},
		{"resume", func(ctx context.Context) error {
			_, err := e.client.ResumePartner(ctx, &adminv1.ResumePartnerRequest{Id: "acme"})
			return err
		}, codes.FailedPrecondition},
		{"update", func(ctx context.Context) error {
			_, err := e.client.UpdatePartner(ctx, &adminv1.UpdatePartnerRequest{Id: "acme", SetScopes: true})
			return err
		}, codes.FailedPrecondition},
		{"set-limits", func(ctx context.Context) error {
			_, err := e.client.SetPartnerLimits(ctx, &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(5, 0, 0)})
			return err
		}, codes.FailedPrecondition},
		{"add-client", func(ctx context.Context) error {
			_, err := e.client.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: idpIssuer, ClientId: "svc2"})
			return err
		}, codes.FailedPrecondition},
		{"issue-key", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
			return err
		}, codes.FailedPrecondition},
		{"create-without-reuse", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold"})
			if err != nil && !strings.Contains(err.Error(), "--reuse-deleted-id") {
				t.Errorf("create of a deleted id: %v; want the message to name --reuse-deleted-id", err)
			}
			return err
		}, codes.AlreadyExists},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			wantCode(t, tt.call(e.ctx(t)), tt.code)
			if len(audit(t, e, "")) != before {
				t.Error("a refused call was written")
			}
		})
	}

	t.Run("reuse-deleted-id", func(t *testing.T) {
		if _, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: "live", Tier: "gold", ReuseDeletedId: true}); err == nil {
			t.Error("reuse_deleted_id created a partner whose id was never deleted")
		}
		resp, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold", Scopes: []string{"reports:read"}, ReuseDeletedId: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetPartner().GetState() != "active" || resp.GetPartner().GetDeletedAt() != nil {
			t.Errorf("reused partner = %v", resp.GetPartner())
		}
		if rec, ok := e.cache.Key(context.Background(), k1); ok && !rec.Revoked {
			t.Error("the old tenant's key is live again")
		}
	})
}

// TestUpdateKey: a label, narrower scopes and an allow-list, audited with
// old and new values; scopes never widen.
func TestUpdateKey(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read", "orders:write", "refunds:write")
	id := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read", "orders:write"}, Name: "old"}).GetKey().GetId()

	resp, err := e.client.UpdateKey(e.ctx(t), &adminv1.UpdateKeyRequest{KeyId: id, Name: proto.String("billing"),
		SetScopes: true, Scopes: []string{"orders:read"}, SetAllowCidrs: true, AllowCidrs: []string{"2001:db8::/32"}, Reason: "least privilege"})
	if err != nil {
		t.Fatal(err)
	}
	if k := resp.GetKey(); k.GetName() != "billing" || strings.Join(k.GetScopes(), " ") != "orders:read" || strings.Join(k.GetAllowCidrs(), ",") != "2001:db8::/32" {
		t.Errorf("response = %v", k)
	}
	rec, ok := e.cache.Key(context.Background(), id)
	if !ok || rec.Scopes != "orders:read" || rec.AllowCIDRs.String() != "2001:db8::/32" {
		t.Errorf("cache record = %+v when the call returns", rec)
	}
	evs := audit(t, e, "acme")
	last := evs[len(evs)-1]
	want := map[string]string{"old_name": "old", "name": "billing", "old_scopes": "orders:read orders:write", "scopes": "orders:read",
		"old_allow_cidrs": "", "allow_cidrs": "2001:db8::/32"}
	if last.Action != "key.update" || last.CredentialID != id || last.Actor != "bootstrap" {
		t.Errorf("audit = %+v", last)
	}
	for k, v := range want {
		if last.Detail[k] != v {
			t.Errorf("audit detail %s = %q, want %q", k, last.Detail[k], v)
		}
	}

	revoked := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	if _, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: revoked}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       *adminv1.UpdateKeyRequest
		wantField string
		wantCode  codes.Code
	}{
		{"widen-back", &adminv1.UpdateKeyRequest{KeyId: id, SetScopes: true, Scopes: []string{"orders:read", "orders:write"}}, "scopes", codes.InvalidArgument},
		{"widen-within-grants", &adminv1.UpdateKeyRequest{KeyId: id, SetScopes: true, Scopes: []string{"refunds:write"}}, "scopes", codes.InvalidArgument},
		{"empty-scopes", &adminv1.UpdateKeyRequest{KeyId: id, SetScopes: true}, "scopes", codes.InvalidArgument},
		{"nothing-asked", &adminv1.UpdateKeyRequest{KeyId: id}, "key_id", codes.InvalidArgument},
		{"bad-name", &adminv1.UpdateKeyRequest{KeyId: id, Name: proto.String("a b")}, "name", codes.InvalidArgument},
		{"bad-cidr", &adminv1.UpdateKeyRequest{KeyId: id, SetAllowCidrs: true, AllowCidrs: []string{"10.0.0.1"}}, "allow_cidrs", codes.InvalidArgument},
		{"same-values", &adminv1.UpdateKeyRequest{KeyId: id, Name: proto.String("billing")}, "", codes.FailedPrecondition},
		{"revoked-key", &adminv1.UpdateKeyRequest{KeyId: revoked, Name: proto.String("x")}, "", codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			_, err := e.client.UpdateKey(e.ctx(t), tt.req)
			if tt.wantField != "" {
				wantField(t, err, tt.wantField)
			} else {
				wantCode(t, err, tt.wantCode)
			}
			if len(audit(t, e, "")) != before {
				t.Error("a refused call was written")
			}
		})
	}
}

// TestFindKeys: live keys across partners expiring within a window, on the
// injected clock, and by pepper version; a scoped operator sees only its
// partners'.
func TestFindKeys(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "globex", "orders:read")
	soon := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true, ExpiresIn: durationpb.New(5 * 24 * time.Hour)}).GetKey().GetId()
	later := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "globex", AllGrantedScopes: true, ExpiresIn: durationpb.New(20 * 24 * time.Hour)}).GetKey().GetId()
	e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true, ExpiresIn: durationpb.New(300 * 24 * time.Hour)})

	ids := func(resp *adminv1.FindKeysResponse) string {
		var out []string
		for _, k := range resp.GetKeys() {
			out = append(out, k.GetId())
		}
		return strings.Join(out, " ")
	}
	resp, err := e.client.FindKeys(e.ctx(t), &adminv1.FindKeysRequest{ExpiringWithin: durationpb.New(14 * 24 * time.Hour)})
	if err != nil || ids(resp) != soon {
		t.Fatalf("expiring within 14d = %q, %v; want %s", ids(resp), err, soon)
	}
	e.clock.Advance(10 * 24 * time.Hour) // soon has expired: no longer live
	resp, err = e.client.FindKeys(e.ctx(t), &adminv1.FindKeysRequest{ExpiringWithin: durationpb.New(14 * 24 * time.Hour)})
	if err != nil || ids(resp) != later {
		t.Fatalf("ten days on, expiring within 14d = %q, %v; want %s", ids(resp), err, later)
	}
	resp, err = e.client.FindKeys(e.ctx(t), &adminv1.FindKeysRequest{PepperVersion: proto.Int32(1)})
	if err != nil || len(resp.GetKeys()) != 2 || resp.GetKeys()[0].GetPepperVersion() != 1 {
		t.Fatalf("pepper version 1 = %v, %v; want the two live keys", resp.GetKeys(), err)
	}
	scoped := e.operator(t, "acme-viewer", partner.RoleViewer, "acme")
	resp, err = e.client.FindKeys(as(t, scoped), &adminv1.FindKeysRequest{PepperVersion: proto.Int32(1)})
	if err != nil || len(resp.GetKeys()) != 1 || resp.GetKeys()[0].GetPartnerId() != "acme" {
		t.Fatalf("scoped operator sees %v, %v; want acme's key only", resp.GetKeys(), err)
	}
	_, err = e.client.FindKeys(e.ctx(t), &adminv1.FindKeysRequest{})
	wantField(t, err, "pepper_version")
	_, err = e.client.FindKeys(e.ctx(t), &adminv1.FindKeysRequest{ExpiringWithin: durationpb.New(-time.Hour)})
	wantField(t, err, "expiring_within")
}
