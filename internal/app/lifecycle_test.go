package app

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

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
