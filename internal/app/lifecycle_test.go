package app

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// TestNarrowedGrantReachesEveryReplica: on two replicas sharing
// PostgreSQL, a partner's grants narrowed on A refuse, on B, a key whose
// own scopes still name the dropped scope (effective = key scopes ∩
// grants) within a second; widening the grants back restores no more than
// the key was issued with; and deleting the partner on A refuses its keys
// on B.
func TestNarrowedGrantReachesEveryReplica(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	a := startReplica(t, db, pepper, true, nil)
	b := startReplica(t, db, pepper, true, nil)
	ctx := adminCtx()
	if _, err := a.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read", "orders:write"}}); err != nil {
		t.Fatal(err)
	}
	k, err := a.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "the key reaches B", k.GetSecret(), codes.OK)

	start := time.Now()
	if _, err := a.admin.UpdatePartner(ctx, &adminv1.UpdatePartnerRequest{Id: "acme", SetScopes: true, Scopes: []string{"orders:write"}}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "the narrowed grant on B", k.GetSecret(), codes.PermissionDenied)
	took := time.Since(start)
	t.Logf("grant narrowed on A refused on B after %s", took)
	if took > time.Second {
		t.Errorf("narrowing took %s to reach B, want within 1s", took)
	}
	b.waitLog(t, "B audits the refusal", `"reason":"insufficient_scope"`, `"credential_id":"`+k.GetKey().GetId()+`"`)

	if _, err := a.admin.UpdatePartner(ctx, &adminv1.UpdatePartnerRequest{Id: "acme", SetScopes: true, Scopes: []string{"orders:read", "orders:write", "refunds:write"}}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "the key within widened grants on B", k.GetSecret(), codes.OK)
	if got, ok := b.srv.Cache.Key(ctx, k.GetKey().GetId()); !ok || got.Scopes != "orders:read" {
		t.Errorf("B's record of the key = %+v; widening the grants must not widen the key", got)
	}

	start = time.Now()
	if _, err := a.admin.DeletePartner(ctx, &adminv1.DeletePartnerRequest{Id: "acme", RevokeAll: true}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "the deletion on B", k.GetSecret(), codes.Unauthenticated)
	t.Logf("partner deleted on A refused on B after %s", time.Since(start))
}

// TestSourceAllowListEndToEnd: a key pinned to networks passes a Check
// from inside them and is refused, 403 source_not_allowed with the address
// in the decision log, from outside; with source_address from
// x-forwarded-for, the entry past the trusted hop is judged and a spoofed
// one left of it is not.
func TestSourceAllowListEndToEnd(t *testing.T) {
	h := startReady(t, nil)
	ctx := adminCtx()
	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	k, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true, AllowCidrs: []string{"198.51.100.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "from inside the list", k.GetSecret(), codes.OK) // the harness's peer is 198.51.100.9
	if _, err := h.admin.UpdateKey(ctx, &adminv1.UpdateKeyRequest{KeyId: k.GetKey().GetId(), SetAllowCidrs: true, AllowCidrs: []string{"2001:db8::/32"}}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "from outside the list", k.GetSecret(), codes.PermissionDenied)
	h.waitLog(t, "the refusal is audited with the address", `"reason":"source_not_allowed"`, `"detail":"198.51.100.9"`)
	if _, err := h.admin.UpdateKey(ctx, &adminv1.UpdateKeyRequest{KeyId: k.GetKey().GetId(), SetAllowCidrs: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.UpdatePartner(ctx, &adminv1.UpdatePartnerRequest{Id: "acme", SetAllowCidrs: true, AllowCidrs: []string{"192.0.2.0/24"}}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "outside the partner's list", k.GetSecret(), codes.PermissionDenied)

	x := startReady(t, func(c *config.Config) {
		c.SourceAddress = config.SourceAddress{From: config.SourceFromXFF, XFFNumTrustedHops: 1}
	})
	if _, err := x.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	xk, err := x.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true, AllowCidrs: []string{"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		xff  string
		want codes.Code
	}{
		{"203.0.113.5, 10.0.0.1", codes.OK},
		{"203.0.113.5, 192.0.2.1, 10.0.0.1", codes.PermissionDenied}, // the client wrote 203.0.113.5
		{"10.0.0.1", codes.PermissionDenied},                         // no entry past the trusted hop
	} {
		resp, err := x.check.Check(context.Background(), checkRequest("req-xff", map[string]string{"x-api-key": xk.GetSecret(), "x-forwarded-for": tt.xff}))
		if err != nil {
			t.Fatal(err)
		}
		if got := codes.Code(resp.GetStatus().GetCode()); got != tt.want {
			t.Errorf("x-forwarded-for %q: %v, want %v", tt.xff, got, tt.want)
		}
	}
}
