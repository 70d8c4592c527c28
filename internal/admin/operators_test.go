// Test strategy: operators are the admin plane's principals, so what they
// may do is tested over real gRPC on loopback, through the interceptors a
// server installs, against a real SQLite store. The permission table is
// checked two ways: every RPC of the service has an entry (deny by
// default), and a literal table of every RPC × every role, written out here
// rather than derived from the code, says which calls pass authorization.
// A scoped issuer is refused, and audited, on another partner by every
// route a partner can be named (partner id, key id, unknown key, lists).
// Revocation, expiry, narrowing and rotation take effect on the very next
// call. Tokens are stored only as digests and logged only by public id.
// Failed authentications are logged without the secret, counted, and
// slowed per source on an injected clock, so the slowdown is measured, not
// timed.
package admin_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// as returns a context that authenticates with token.
func as(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// operator creates an operator with the bootstrap token and returns its
// token.
func (e *env) operator(t *testing.T, name string, role partner.Role, partners ...string) string {
	t.Helper()
	resp, err := e.client.CreateOperator(e.ctx(t), &adminv1.CreateOperatorRequest{Name: name, Role: string(role), Partners: partners})
	if err != nil {
		t.Fatalf("CreateOperator(%s): %v", name, err)
	}
	return resp.GetSecret()
}

func TestEveryRPCHasAPermission(t *testing.T) {
	for _, m := range adminv1.Admin_ServiceDesc.Methods {
		full := "/" + adminv1.Admin_ServiceDesc.ServiceName + "/" + m.MethodName
		if _, ok := admin.Rule(full); !ok {
			t.Errorf("%s has no entry in the permission table", full)
		}
	}
	if _, ok := admin.Rule("/partnergate.admin.v1.Admin/NoSuchMethod"); ok {
		t.Error("a method that does not exist has a permission")
	}
}

func TestUndeclaredMethodIsRefused(t *testing.T) {
	e := newEnv(t)
	unary, _ := e.auth.Interceptors()
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+e.token))
	called := false
	_, err := unary(ctx, nil, grpcInfo{"/partnergate.admin.v1.Admin/Undeclared"}.info(), func(context.Context, any) (any, error) {
		called = true
		return nil, nil
	})
	wantCode(t, err, codes.PermissionDenied)
	if called {
		t.Fatal("a method without a permission entry ran, even for the bootstrap admin")
	}
}

func TestEveryRPCByRole(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "doomed", "orders:read")
	keys := make([]string, 3)
	for i := range keys {
		keys[i] = e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	}
	e.operator(t, "target", partner.RoleViewer)
	tokens := map[partner.Role]string{}
	for _, r := range partner.Roles {
		tokens[r] = e.operator(t, string(r)+"-op", r)
	}
	c := e.client
	const (
		v = 1 << iota // viewer
		a             // auditor
		i             // issuer
		A             // admin
	)
	readers := v | a | i | A
	calls := map[string]struct {
		allowed int
		call    func(ctx context.Context, r partner.Role) error
	}{
		"WhoAmI": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.WhoAmI(ctx, &adminv1.WhoAmIRequest{})
			return err
		}},
		"GetPartner": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: "acme"})
			return err
		}},
		"ListPartners": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListPartners(ctx, &adminv1.ListPartnersRequest{})
			return err
		}},
		"ListKeys": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListKeys(ctx, &adminv1.ListKeysRequest{PartnerId: "acme"})
			return err
		}},
		"ListClients": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListClients(ctx, &adminv1.ListClientsRequest{PartnerId: "acme"})
			return err
		}},
		"ListUnusedKeys": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListUnusedKeys(ctx, &adminv1.ListUnusedKeysRequest{UnusedFor: durationpb.New(time.Hour)})
			return err
		}},
		"FindKeys": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.FindKeys(ctx, &adminv1.FindKeysRequest{PepperVersion: proto.Int32(1)})
			return err
		}},
		"ListAudit": {a | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListAudit(ctx, &adminv1.ListAuditRequest{PartnerId: "acme"})
			return err
		}},
		"IssueKey": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
			return err
		}},
		"RevokeKey": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: keys[0]})
			return err
		}},
		"RotateKey": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: keys[1]})
			return err
		}},
		"UpdateKey": {i | A, func(ctx context.Context, r partner.Role) error {
			_, err := c.UpdateKey(ctx, &adminv1.UpdateKeyRequest{KeyId: keys[2], Name: proto.String("by-" + string(r))})
			return err
		}},
		"ReportLeakedKeys": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ReportLeakedKeys(ctx, &adminv1.ReportLeakedKeysRequest{Tokens: []string{"not-a-key"}})
			return err
		}},
		"AddClient": {i | A, func(ctx context.Context, r partner.Role) error {
			_, err := c.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "acme", Issuer: "https://idp.example.com", ClientId: "c-" + string(r)})
			return err
		}},
		"RemoveClient": {i | A, func(ctx context.Context, r partner.Role) error {
			_, err := c.RemoveClient(ctx, &adminv1.RemoveClientRequest{PartnerId: "acme", Issuer: "https://idp.example.com", ClientId: "c-" + string(r)})
			return err
		}},
		"ListCertificates": {readers, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListCertificates(ctx, &adminv1.ListCertificatesRequest{PartnerId: "acme"})
			return err
		}},
		"AddCertificate": {i | A, func(ctx context.Context, r partner.Role) error {
			_, err := c.AddCertificate(ctx, &adminv1.AddCertificateRequest{PartnerId: "acme", Match: &adminv1.AddCertificateRequest_DnsSan{DnsSan: "c-" + string(r) + ".example"}})
			return err
		}},
		"RemoveCertificate": {i | A, func(ctx context.Context, r partner.Role) error {
			_, err := c.RemoveCertificate(ctx, &adminv1.RemoveCertificateRequest{PartnerId: "acme", CertificateId: partner.CertificateID(partner.CertDNSSAN, "c-"+string(r)+".example")})
			return err
		}},
		"RequireCertificate": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RequireCertificate(ctx, &adminv1.RequireCertificateRequest{PartnerId: "acme", Require: false})
			return err
		}},
		"RevokeToken": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: "https://idp.example.com", Jti: "jti-1"})
			return err
		}},
		"RevokePartnerTokens": {i | A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "acme", Before: timestamppb.New(start)})
			return err
		}},
		"CreatePartner": {A, func(ctx context.Context, r partner.Role) error {
			_, err := c.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "new-" + string(r)})
			return err
		}},
		"SuspendPartner": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: "acme"})
			return err
		}},
		"ResumePartner": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ResumePartner(ctx, &adminv1.ResumePartnerRequest{Id: "acme"})
			return err
		}},
		"SetPartnerLimits": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.SetPartnerLimits(ctx, &adminv1.SetPartnerLimitsRequest{Id: "acme", Clear: true})
			return err
		}},
		"UpdatePartner": {A, func(ctx context.Context, r partner.Role) error {
			_, err := c.UpdatePartner(ctx, &adminv1.UpdatePartnerRequest{Id: "acme", SetAllowCidrs: true, AllowCidrs: []string{"192.0.2.0/24"}})
			return err
		}},
		"ApplyPartner": {A, func(ctx context.Context, r partner.Role) error {
			_, err := c.ApplyPartner(ctx, &adminv1.ApplyPartnerRequest{Spec: &adminv1.PartnerSpec{Id: "applied-" + string(r)}})
			return err
		}},
		"DeletePartner": {A, func(ctx context.Context, r partner.Role) error {
			_, err := c.DeletePartner(ctx, &adminv1.DeletePartnerRequest{Id: "doomed", RevokeAll: true})
			return err
		}},
		"CreateOperator": {A, func(ctx context.Context, r partner.Role) error {
			_, err := c.CreateOperator(ctx, &adminv1.CreateOperatorRequest{Name: "made-by-" + string(r), Role: "viewer"})
			return err
		}},
		"GetOperator": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.GetOperator(ctx, &adminv1.GetOperatorRequest{Name: "target"})
			return err
		}},
		"ListOperators": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.ListOperators(ctx, &adminv1.ListOperatorsRequest{})
			return err
		}},
		"UpdateOperator": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.UpdateOperator(ctx, &adminv1.UpdateOperatorRequest{Name: "target", Role: "auditor"})
			return err
		}},
		"RevokeOperator": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RevokeOperator(ctx, &adminv1.RevokeOperatorRequest{Name: "nobody"})
			return err
		}},
		"RotateOperator": {A, func(ctx context.Context, _ partner.Role) error {
			_, err := c.RotateOperator(ctx, &adminv1.RotateOperatorRequest{Name: "target"})
			return err
		}},
	}
	for _, m := range adminv1.Admin_ServiceDesc.Methods {
		if _, ok := calls[m.MethodName]; !ok {
			t.Errorf("RPC %s is missing from this test's role table", m.MethodName)
		}
	}
	for name, tc := range calls {
		for bit, r := range partner.Roles {
			want := tc.allowed&(1<<bit) != 0
			t.Run(kebab(name)+"-as-"+string(r), func(t *testing.T) {
				err := tc.call(as(t, tokens[r]), r)
				code := codes.OK
				if err != nil {
					code = statusCode(err)
				}
				switch {
				case code == codes.Unauthenticated:
					t.Fatalf("%s as %s: %v (the token should authenticate)", name, r, err)
				case want && code == codes.PermissionDenied:
					t.Fatalf("%s as %s refused: %v", name, r, err)
				case !want && code != codes.PermissionDenied:
					t.Fatalf("%s as %s = %v, want PERMISSION_DENIED", name, r, err)
				}
			})
		}
	}
}

type grpcInfo struct{ method string }

func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestScopedIssuer runs with the key's partner told by the cache, as a
// replica serves, and read from the store, as for a key the cache lacks.
func TestScopedIssuer(t *testing.T) {
	t.Run("key-partner-from-cache", func(t *testing.T) { testScopedIssuer(t, newEnv(t)) })
	t.Run("key-partner-from-store", func(t *testing.T) {
		testScopedIssuer(t, newEnvAuth(t, nil, func(a *admin.Authenticator) { a.Keys = nil }))
	})
}

func testScopedIssuer(t *testing.T, e *env) {
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "globex", "orders:read")
	acmeKey := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	globexKey := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "globex", AllGrantedScopes: true}).GetKey().GetId()
	tok := e.operator(t, "acme-issuer", partner.RoleIssuer, "acme")
	c := e.client

	allowed := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"issue-own-partner", func(ctx context.Context) error {
			_, err := c.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
			return err
		}},
		{"rotate-own-key", func(ctx context.Context) error {
			_, err := c.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: acmeKey})
			return err
		}},
		{"update-own-key", func(ctx context.Context) error {
			_, err := c.UpdateKey(ctx, &adminv1.UpdateKeyRequest{KeyId: acmeKey, Name: proto.String("renamed")})
			return err
		}},
		{"revoke-own-partner-tokens", func(ctx context.Context) error {
			_, err := c.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "acme", Before: timestamppb.New(start)})
			return err
		}},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(as(t, tok)); err != nil {
				t.Fatal(err)
			}
		})
	}

	refused := []struct {
		name    string
		partner string
		call    func(ctx context.Context) error
	}{
		{"issue-other-partner", "globex", func(ctx context.Context) error {
			_, err := c.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "globex", AllGrantedScopes: true})
			return err
		}},
		{"get-other-partner", "globex", func(ctx context.Context) error {
			_, err := c.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: "globex"})
			return err
		}},
		{"revoke-other-partners-key", "globex", func(ctx context.Context) error {
			_, err := c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: globexKey})
			return err
		}},
		{"update-other-partners-key", "globex", func(ctx context.Context) error {
			_, err := c.UpdateKey(ctx, &adminv1.UpdateKeyRequest{KeyId: globexKey, Name: proto.String("mine")})
			return err
		}},
		{"rotate-unknown-key", "", func(ctx context.Context) error {
			_, err := c.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: "000000000000"})
			return err
		}},
		{"add-client-to-other-partner", "globex", func(ctx context.Context) error {
			_, err := c.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: "globex", Issuer: "https://idp.example.com", ClientId: "x"})
			return err
		}},
		{"add-certificate-to-other-partner", "globex", func(ctx context.Context) error {
			_, err := c.AddCertificate(ctx, &adminv1.AddCertificateRequest{PartnerId: "globex", Match: &adminv1.AddCertificateRequest_SpiffeId{SpiffeId: "spiffe://x/y"}})
			return err
		}},
		{"list-other-partners-certificates", "globex", func(ctx context.Context) error {
			_, err := c.ListCertificates(ctx, &adminv1.ListCertificatesRequest{PartnerId: "globex"})
			return err
		}},
		{"revoke-token-by-jti", "", func(ctx context.Context) error {
			_, err := c.RevokeToken(ctx, &adminv1.RevokeTokenRequest{Issuer: "https://idp.example.com", Jti: "j"})
			return err
		}},
		{"report-leaked-keys", "", func(ctx context.Context) error {
			// The tokens name no partner until parsed: unscoped.
			_, err := c.ReportLeakedKeys(ctx, &adminv1.ReportLeakedKeysRequest{Tokens: []string{"not-a-key"}})
			return err
		}},
		{"revoke-other-partner-tokens", "globex", func(ctx context.Context) error {
			_, err := c.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: "globex", Before: timestamppb.New(start)})
			return err
		}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			wantCode(t, tt.call(as(t, tok)), codes.PermissionDenied)
			evs := audit(t, e, "")
			if len(evs) != before+1 {
				t.Fatalf("%d audit events after a refusal, want one more than %d", len(evs), before)
			}
			ev := evs[len(evs)-1]
			if ev.Action != "access.deny" || ev.Actor != "acme-issuer" || ev.AuthMethod != "operator_token" || ev.PartnerID != tt.partner {
				t.Fatalf("refusal audited as %+v, want access.deny by acme-issuer about %q", ev, tt.partner)
			}
		})
	}
	if k, err := e.store.GetCredential(context.Background(), globexKey); err != nil || k.Revoked() {
		t.Fatalf("globex key = %+v, %v: a refused revoke changed it", k, err)
	}

	t.Run("lists-show-only-own-partners", func(t *testing.T) {
		ps, err := c.ListPartners(as(t, tok), &adminv1.ListPartnersRequest{})
		if err != nil || len(ps.GetPartners()) != 1 || ps.GetPartners()[0].GetId() != "acme" {
			t.Fatalf("ListPartners = %v, %v; want acme alone", ps.GetPartners(), err)
		}
		e.clock.Advance(2 * time.Hour)
		ks, err := c.ListUnusedKeys(as(t, tok), &adminv1.ListUnusedKeysRequest{UnusedFor: durationpb.New(time.Hour)})
		if err != nil || len(ks.GetKeys()) == 0 {
			t.Fatalf("ListUnusedKeys = %v, %v", ks.GetKeys(), err)
		}
		for _, k := range ks.GetKeys() {
			if k.GetPartnerId() != "acme" {
				t.Errorf("ListUnusedKeys showed %s of %s", k.GetId(), k.GetPartnerId())
			}
		}
	})
}

func TestOperatorLifecycleTakesEffectOnNextCall(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	tok := e.operator(t, "deployer", partner.RoleIssuer)
	issue := func(ctx context.Context) error {
		_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
		return err
	}
	if err := issue(as(t, tok)); err != nil {
		t.Fatal(err)
	}

	// Narrowing: to a viewer, then to a partner it does not hold.
	if _, err := e.client.UpdateOperator(e.ctx(t), &adminv1.UpdateOperatorRequest{Name: "deployer", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, issue(as(t, tok)), codes.PermissionDenied)
	if _, err := e.client.UpdateOperator(e.ctx(t), &adminv1.UpdateOperatorRequest{Name: "deployer", Role: "issuer"}); err != nil {
		t.Fatal(err)
	}

	// Rotation: the old token lives through the overlap, then stops.
	rot, err := e.client.RotateOperator(e.ctx(t), &adminv1.RotateOperatorRequest{Name: "deployer", Overlap: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	newTok := rot.GetSecret()
	if err := issue(as(t, tok)); err != nil {
		t.Fatalf("old token inside the overlap: %v", err)
	}
	e.clock.Advance(time.Hour)
	wantCode(t, issue(as(t, tok)), codes.Unauthenticated)
	if err := issue(as(t, newTok)); err != nil {
		t.Fatalf("new token: %v", err)
	}

	// Revocation.
	if _, err := e.client.RevokeOperator(e.ctx(t), &adminv1.RevokeOperatorRequest{Name: "deployer", Reason: "left the team"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, issue(as(t, newTok)), codes.Unauthenticated)
	_, err = e.client.RevokeOperator(e.ctx(t), &adminv1.RevokeOperatorRequest{Name: "deployer"})
	wantCode(t, err, codes.FailedPrecondition)

	// Expiry.
	short, err := e.client.CreateOperator(e.ctx(t), &adminv1.CreateOperatorRequest{Name: "temp", Role: "viewer", ExpiresIn: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.WhoAmI(as(t, short.GetSecret()), &adminv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	_, err = e.client.WhoAmI(as(t, short.GetSecret()), &adminv1.WhoAmIRequest{})
	wantCode(t, err, codes.Unauthenticated)

	var actions []string
	for _, ev := range audit(t, e, "") {
		if strings.HasPrefix(ev.Action, "operator.") {
			actions = append(actions, ev.Action)
			if ev.Actor != "bootstrap" || ev.AuthMethod != "bootstrap" {
				t.Errorf("%s audited as %q (%s)", ev.Action, ev.Actor, ev.AuthMethod)
			}
		}
	}
	want := "operator.create,operator.update,operator.update,operator.rotate,operator.revoke,operator.create"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("operator audit = %s, want %s", got, want)
	}
}

func TestOperatorTokenShapeAndStorage(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.CreateOperator(e.ctx(t), &adminv1.CreateOperatorRequest{Name: "ci-bot", Role: "issuer"})
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.GetSecret()
	// pgop_ + 12 id + '_' + 43 base62 (256 bits) + 6 checksum.
	if !strings.HasPrefix(tok, admin.OperatorTokenPrefix) || len(tok) != len(admin.OperatorTokenPrefix)+12+1+43+6 {
		t.Fatalf("token %q is not pgop_ with a 256-bit body and checksum", tok)
	}
	ids := resp.GetOperator().GetCredentialIds()
	if len(ids) != 1 || !strings.HasPrefix(tok, ids[0]) {
		t.Fatalf("credential ids = %v, want the token's public id", ids)
	}
	stored, err := e.store.GetOperatorToken(context.Background(), strings.TrimPrefix(ids[0], admin.OperatorTokenPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Digest), tok) || len(stored.Digest) != 32 {
		t.Fatal("the store holds the token, not a 32-byte digest")
	}
	for _, ev := range audit(t, e, "") {
		if strings.Contains(fmt.Sprint(ev), tok[len(ids[0]):]) {
			t.Fatalf("audit event %+v holds the token's secret", ev)
		}
	}
	who, err := e.client.WhoAmI(as(t, tok), &adminv1.WhoAmIRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if who.GetName() != "ci-bot" || who.GetRole() != "issuer" || who.GetAuthMethod() != "operator_token" || who.GetCredentialId() != ids[0] {
		t.Fatalf("WhoAmI = %v", who)
	}
	// A flipped character fails the checksum; a well-formed token with
	// another secret fails the digest.
	for name, bad := range map[string]string{
		"checksum":     tok[:len(tok)-1] + string(tok[len(tok)-1]^1),
		"other-secret": e.otherSecret(t, tok),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.WhoAmI(as(t, bad), &adminv1.WhoAmIRequest{})
			wantCode(t, err, codes.Unauthenticated)
		})
	}
}

// otherSecret returns a well-formed operator token (valid checksum) with
// tok's id and a different secret.
func (e *env) otherSecret(t testing.TB, tok string) string {
	t.Helper()
	f, err := apikey.NewFormat(admin.OperatorTokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := f.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	head := len(admin.OperatorTokenPrefix) + 12
	body := tok[:head] + fresh.Reveal()[head:len(tok)-6]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := crc32.ChecksumIEEE([]byte(body))
	var out [6]byte
	for i := 5; i >= 0; i-- {
		out[i] = alphabet[sum%62]
		sum /= 62
	}
	raw := body + string(out[:])
	if _, err := f.Parse(raw); err != nil {
		t.Fatalf("built token does not parse: %v", err)
	}
	return raw
}

func (g grpcInfo) info() *grpc.UnaryServerInfo { return &grpc.UnaryServerInfo{FullMethod: g.method} }

func statusCode(err error) codes.Code { return status.Code(err) }

func TestOperatorRequestsNameTheWrongField(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme")
	tests := []struct {
		name  string
		req   *adminv1.CreateOperatorRequest
		field string
	}{
		{"bad-name", &adminv1.CreateOperatorRequest{Name: "Alice!", Role: "viewer"}, "name"},
		{"reserved-name", &adminv1.CreateOperatorRequest{Name: "bootstrap", Role: "admin"}, "name"},
		{"unknown-role", &adminv1.CreateOperatorRequest{Name: "a", Role: "root"}, "role"},
		{"scoped-admin", &adminv1.CreateOperatorRequest{Name: "a", Role: "admin", Partners: []string{"acme"}}, "partners"},
		{"unknown-partner", &adminv1.CreateOperatorRequest{Name: "a", Role: "issuer", Partners: []string{"nobody"}}, "partners"},
		{"too-long", &adminv1.CreateOperatorRequest{Name: "a", Role: "viewer", ExpiresIn: durationpb.New(400 * 24 * time.Hour)}, "expires_in"},
		{"bad-san", &adminv1.CreateOperatorRequest{Name: "a", Role: "viewer", CertSan: "spiffe://user@x/y"}, "cert_san"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.CreateOperator(e.ctx(t), tt.req)
			wantField(t, err, tt.field)
		})
	}
	if ops, _ := e.store.ListOperators(context.Background()); len(ops) != 0 {
		t.Fatalf("refused requests created %v", ops)
	}
	_, err := e.client.UpdateOperator(e.ctx(t), &adminv1.UpdateOperatorRequest{Name: "a"})
	wantField(t, err, "role") // an update that asks for nothing is refused
	e.operator(t, "viewer-op", partner.RoleViewer)
	before := len(audit(t, e, ""))
	_, err = e.client.UpdateOperator(e.ctx(t), &adminv1.UpdateOperatorRequest{Name: "viewer-op", Role: "viewer"})
	wantCode(t, err, codes.FailedPrecondition) // and one that would change nothing
	if len(audit(t, e, "")) != before {
		t.Fatal("an update that changed nothing was audited")
	}
}

func TestFailedAuthenticationIsLoggedWithoutTheSecret(t *testing.T) {
	e := newEnv(t)
	good := e.operator(t, "ci-bot", partner.RoleViewer)
	failed := map[admin.AuthMethod]int{}
	e.auth.Failed = func(_ context.Context, m admin.AuthMethod) { failed[m]++ }
	wrong := e.otherSecret(t, good)
	tests := []struct {
		name   string
		token  string
		method admin.AuthMethod
		id     string
	}{
		{"wrong-operator-secret", wrong, admin.MethodOperatorToken, good[:len(admin.OperatorTokenPrefix)+12]},
		{"wrong-bootstrap", admin.NewToken(), admin.MethodBootstrap, ""},
		{"garbage", "not-a-token", admin.MethodBootstrap, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := failed[tt.method]
			_, err := e.client.ListPartners(as(t, tt.token), &adminv1.ListPartnersRequest{})
			wantCode(t, err, codes.Unauthenticated)
			if failed[tt.method] != before+1 {
				t.Errorf("failures counted for %s = %d, want %d", tt.method, failed[tt.method], before+1)
			}
			logs := e.authLog.String()
			line := lastLine(logs)
			if !strings.Contains(line, "admin authentication failed") || !strings.Contains(line, "source=127.0.0.1:") ||
				!strings.Contains(line, "method="+string(tt.method)) {
				t.Fatalf("log line %q lacks the failure, source or method", line)
			}
			if tt.id != "" && !strings.Contains(line, "credential_id="+tt.id) {
				t.Errorf("log line %q lacks the public id %s", line, tt.id)
			}
			secret := tt.token
			if tt.id != "" {
				secret = tt.token[len(tt.id)+1:]
			}
			if strings.Contains(logs, secret) || strings.Contains(logs, good[len(admin.OperatorTokenPrefix)+13:]) {
				t.Fatal("the log holds a secret")
			}
		})
	}
	_, err := e.client.ListPartners(context.Background(), &adminv1.ListPartnersRequest{})
	wantCode(t, err, codes.Unauthenticated)
	if failed[admin.MethodNone] != 1 {
		t.Errorf("a call without a credential counted %d times as none", failed[admin.MethodNone])
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestGuessingIsSlowed sends 1,000 wrong and 1,000 right tokens from one
// source and compares the time the throttle made each wait, on its own
// clock: right ones wait not at all, wrong ones at least the bucket's
// refill time for every failure past the burst.
func TestGuessingIsSlowed(t *testing.T) {
	e := newEnv(t)
	good := e.operator(t, "ci-bot", partner.RoleViewer)
	const n = 1000
	for range n {
		if _, err := e.client.WhoAmI(as(t, good), &adminv1.WhoAmIRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := e.slowed.Total(); d != 0 {
		t.Fatalf("right tokens were slowed by %s", d)
	}
	wrong := e.otherSecret(t, good)
	for range n {
		_, err := e.client.WhoAmI(as(t, wrong), &adminv1.WhoAmIRequest{})
		wantCode(t, err, codes.Unauthenticated)
	}
	min := time.Duration(float64(n-admin.DefaultFailureBurst) / admin.DefaultFailureRate * float64(time.Second))
	if d := e.slowed.Total(); d < min-time.Second {
		t.Fatalf("1,000 wrong tokens were slowed by %s in all, want at least %s", d, min)
	}
	// The right token still works once the bucket has refilled.
	e.slowed.clock.Advance(time.Minute)
	if _, err := e.client.WhoAmI(as(t, good), &adminv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestFailuresInParallelAreRefusedUnchecked(t *testing.T) {
	th := &admin.Throttle{Rate: 1, Burst: 2, MaxDelay: 3 * time.Second, Now: func() time.Time { return start }, Sleep: func(context.Context, time.Duration) {}}
	for range 5 { // burst 2, then 3 seconds of debt
		th.Failed(context.Background(), "10.0.0.1")
	}
	if blocked, _ := th.Blocked("10.0.0.1"); blocked {
		t.Fatal("blocked at exactly the maximum delay")
	}
	th.Failed(context.Background(), "10.0.0.1")
	if blocked, _ := th.Blocked("10.0.0.1"); !blocked {
		t.Fatal("a source past the maximum delay is not blocked")
	}
	if blocked, _ := th.Blocked("10.0.0.2"); blocked {
		t.Fatal("another source is blocked too")
	}
}

func TestAuditListByActor(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme")
	tok := e.operator(t, "ci-bot", partner.RoleIssuer)
	if _, err := e.client.IssueKey(as(t, tok), &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.ListAudit(e.ctx(t), &adminv1.ListAuditRequest{Actor: "ci-bot"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetAction() != "key.issue" || resp.GetEvents()[0].GetAuthMethod() != "operator_token" {
		t.Fatalf("events of ci-bot = %v", resp.GetEvents())
	}
	_, err = e.client.ListAudit(e.ctx(t), &adminv1.ListAuditRequest{Actor: "a b"})
	wantField(t, err, "actor")
	if evs, _ := e.store.ListAudit(context.Background(), store.AuditFilter{Actor: "bootstrap"}); len(evs) != 2 {
		t.Errorf("bootstrap's events = %d, want 2 (partner, operator)", len(evs))
	}
}
