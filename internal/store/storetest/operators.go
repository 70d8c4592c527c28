package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

func newOperator(name string, role partner.Role, partners ...string) *partner.Operator {
	return &partner.Operator{Name: name, Role: role, Partners: partners, ExpiresAt: time.Now().Add(time.Hour)}
}

func newOperatorToken(id string) *partner.OperatorToken {
	return &partner.OperatorToken{ID: id, Digest: randomDigest(), PepperVersion: 1}
}

// testOperators covers an operator's life: create with a token, read back
// by name, token id and certificate SAN, narrow, rotate, revoke; each
// write audited with its verified identity and on the change feed.
func testOperators(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	o := newOperator("deployer", partner.RoleIssuer, "acme")
	o.CertSAN = "spiffe://cluster.local/ns/ops/sa/deployer"
	tok := newOperatorToken("tok000000001")
	e := ev("operator.create", "", "")
	e.AuthMethod, e.Source, e.Note = "bootstrap", "127.0.0.1:1234", "alice"
	if err := s.CreateOperator(ctx, o, tok, e); err != nil {
		t.Fatalf("CreateOperator: %v", err)
	}
	if o.Version != 1 || o.CreatedAt.IsZero() || tok.Operator != "deployer" || tok.CreatedAt.IsZero() {
		t.Fatalf("after create: operator %+v, token %+v", o, tok)
	}
	if ch := lastChange(t, s); ch.Kind != store.KindOperator || ch.ID != "deployer" {
		t.Errorf("change = %+v, want operator deployer", ch)
	}
	if got := lastAudit(t, s); got.AuthMethod != "bootstrap" || got.Source != "127.0.0.1:1234" || got.Note != "alice" {
		t.Errorf("audit = %+v, want the identity fields round-tripped", got)
	}

	got, err := s.GetOperator(ctx, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("GetOperator (-want +got):\n%s", diff)
	}
	if got, err := s.GetOperatorByCertSAN(ctx, o.CertSAN); err != nil || got.Name != "deployer" {
		t.Errorf("GetOperatorByCertSAN = %v, %v", got, err)
	}
	gotTok, err := s.GetOperatorToken(ctx, "tok000000001")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, gotTok); diff != "" {
		t.Errorf("GetOperatorToken (-want +got):\n%s", diff)
	}
	checkTokenWithOperator(t, s, "tok000000001", tok, o)

	// Narrow: the role drops, the partners go.
	o.Role, o.Partners = partner.RoleViewer, nil
	if err := s.UpdateOperator(ctx, o, ev("operator.update", "", "")); err != nil {
		t.Fatalf("UpdateOperator: %v", err)
	}
	if got, _ := s.GetOperator(ctx, "deployer"); got.Role != partner.RoleViewer || len(got.Partners) != 0 || got.Version != 2 {
		t.Errorf("after update: %+v", got)
	}
	checkTokenWithOperator(t, s, "tok000000001", tok, o)
	stale := *o
	stale.Version = 1
	if err := s.UpdateOperator(ctx, &stale, ev("operator.update", "", "")); !errors.Is(err, partner.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}

	// Rotate: the old token ends at the overlap, the new one lives.
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	next := newOperatorToken("tok000000002")
	if err := s.RotateOperatorToken(ctx, o, until, next, ev("operator.rotate", "", "")); err != nil {
		t.Fatalf("RotateOperatorToken: %v", err)
	}
	if old, _ := s.GetOperatorToken(ctx, "tok000000001"); !old.ExpiresAt.Equal(until) {
		t.Errorf("old token expires %v, want %v", old.ExpiresAt, until)
	}
	toks, err := s.ListOperatorTokens(ctx, "deployer")
	if err != nil || len(toks) != 2 || toks[0].ID != "tok000000002" || !toks[0].ExpiresAt.IsZero() {
		t.Errorf("ListOperatorTokens = %v, %v; want the new token first, without expiry", toks, err)
	}

	o.RevokedAt = time.Now()
	if err := s.UpdateOperator(ctx, o, ev("operator.revoke", "", "")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetOperator(ctx, "deployer"); !got.Revoked() {
		t.Error("revocation not stored")
	}
	// Authentication reads the revocation with the token, at once.
	checkTokenWithOperator(t, s, "tok000000002", next, o)
	list, err := s.ListOperators(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "deployer" {
		t.Errorf("ListOperators = %v, %v", list, err)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{Actor: "admin@127.0.0.1", Limit: 1000})
	if err != nil || len(evs) != auditCount(t, s) {
		t.Errorf("actor filter kept %d of %d events (%v)", len(evs), auditCount(t, s), err)
	}
	if evs, err := s.ListAudit(ctx, store.AuditFilter{Actor: "nobody"}); err != nil || len(evs) != 0 {
		t.Errorf("actor filter for nobody = %v, %v", evs, err)
	}
}

// testOperatorErrors checks the sentinels and that a failed write leaves
// no operator, token, audit event or change behind.
func testOperatorErrors(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := newOperator("alice", partner.RoleAdmin)
	a.CertSAN = "alice.ops.example.com"
	if err := s.CreateOperator(ctx, a, newOperatorToken("tokalice0001"), ev("operator.create", "", "")); err != nil {
		t.Fatal(err)
	}
	audits, version := auditCount(t, s), lastVersion(t, s)
	tests := []struct {
		name string
		op   *partner.Operator
		tok  *partner.OperatorToken
		want error
	}{
		{"name-taken", newOperator("alice", partner.RoleViewer), newOperatorToken("tokother0001"), partner.ErrExists},
		{"cert-san-taken", func() *partner.Operator {
			o := newOperator("bob", partner.RoleViewer)
			o.CertSAN = "alice.ops.example.com"
			return o
		}(), nil, partner.ErrExists},
		{"token-id-taken", newOperator("carol", partner.RoleViewer), newOperatorToken("tokalice0001"), partner.ErrExists},
		{"bootstrap-name-reserved", newOperator("bootstrap", partner.RoleAdmin), nil, nil},
		{"scoped-admin", newOperator("dave", partner.RoleAdmin, "acme"), nil, nil},
		{"no-expiry", &partner.Operator{Name: "erin", Role: partner.RoleViewer}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateOperator(ctx, tt.op, tt.tok, ev("operator.create", "", ""))
			var fe *partner.FieldError
			switch {
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("CreateOperator = %v, want %v", err, tt.want)
			case tt.want == nil && !errors.As(err, &fe):
				t.Fatalf("CreateOperator = %v, want a field error", err)
			}
			if auditCount(t, s) != audits || lastVersion(t, s) != version {
				t.Fatal("a failed create left an audit event or a change")
			}
		})
	}
	if _, err := s.GetOperatorToken(ctx, "tokother0001"); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("token of a failed create: %v, want ErrNotFound", err)
	}
	if _, _, err := s.GetOperatorTokenWithOperator(ctx, "tokother0001"); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("token of a failed create, with its operator: %v, want ErrNotFound", err)
	}
	for _, name := range []string{"bob", "carol", "nobody"} {
		if _, err := s.GetOperator(ctx, name); !errors.Is(err, partner.ErrNotFound) {
			t.Errorf("GetOperator(%s) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.GetOperatorByCertSAN(ctx, ""); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("GetOperatorByCertSAN(\"\") = %v, want ErrNotFound", err)
	}
	ghost := newOperator("ghost", partner.RoleViewer)
	ghost.Version = 1
	if err := s.UpdateOperator(ctx, ghost, ev("operator.update", "", "")); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("UpdateOperator(ghost) = %v, want ErrNotFound", err)
	}
}

// testRecordAudit checks that an audit-only event is stored with its
// identity and leaves the change feed alone.
func testRecordAudit(t *testing.T, s store.Store) {
	version := lastVersion(t, s)
	e := partner.AuditEvent{Actor: "deployer", AuthMethod: "operator_token", Source: "10.0.0.7:5000", Action: "access.deny",
		PartnerID: "globex", Detail: map[string]string{"rpc": "/partnergate.admin.v1.Admin/IssueKey"}}
	if err := s.RecordAudit(ctxFor(t), e); err != nil {
		t.Fatal(err)
	}
	got := lastAudit(t, s)
	if got.Actor != "deployer" || got.AuthMethod != "operator_token" || got.Action != "access.deny" || got.Detail["rpc"] == "" {
		t.Errorf("audit = %+v", got)
	}
	if lastVersion(t, s) != version {
		t.Error("an audit-only event reached the change feed")
	}
}

// checkTokenWithOperator checks that GetOperatorTokenWithOperator returns
// the token with public id id as wantTok and its operator as wantOp.
func checkTokenWithOperator(t *testing.T, s store.Store, id string, wantTok *partner.OperatorToken, wantOp *partner.Operator) {
	t.Helper()
	tok, op, err := s.GetOperatorTokenWithOperator(ctxFor(t), id)
	if err != nil {
		t.Fatalf("GetOperatorTokenWithOperator(%s): %v", id, err)
	}
	if diff := cmp.Diff(wantTok, tok); diff != "" {
		t.Errorf("GetOperatorTokenWithOperator(%s) token (-want +got):\n%s", id, diff)
	}
	if diff := cmp.Diff(wantOp, op); diff != "" {
		t.Errorf("GetOperatorTokenWithOperator(%s) operator (-want +got):\n%s", id, diff)
	}
}
