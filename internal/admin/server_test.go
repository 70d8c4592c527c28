// Test strategy: the admin API is where credentials are born, narrowed,
// rotated and killed, so every test drives it over real gRPC on loopback
// against a real SQLite store and the real hot cache — no mocks. They check
// what an attacker or a careless operator would lean on: a key never
// outgrows its partner's grants; a secret is returned once, parses and
// verifies, and is never stored or audited (only its keyed digest is kept);
// every malformed field is refused with its name; revocation and rotation
// reach the cache before the call returns; and every write leaves an audit
// event naming who, what and why. The one fault injector wraps the real
// store to force a key-id collision.
package admin_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestPartnerLifecycle(t *testing.T) {
	e := newEnv(t)
	created := e.createPartner(t, "acme", "orders:write", "orders:read", "orders:read")
	if diff := cmp.Diff(&adminv1.Partner{Id: "acme", Tier: "gold", Scopes: []string{"orders:read", "orders:write"}, State: "active"},
		created, protocmp.Transform(), protocmp.IgnoreFields(&adminv1.Partner{}, "created_at", "updated_at")); diff != "" {
		t.Fatalf("created partner (-want +got):\n%s", diff)
	}
	if created.GetCreatedAt() == nil {
		t.Fatal("created_at unset")
	}

	_, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: "acme"})
	if st := wantCode(t, err, codes.AlreadyExists); !strings.Contains(st.Message(), `"acme"`) {
		t.Errorf("AlreadyExists message %q does not name the partner", st.Message())
	}

	def, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	if def.GetPartner().GetTier() != partner.DefaultTier || len(def.GetPartner().GetScopes()) != 0 {
		t.Errorf("default partner = %v, want tier %q and no grants", def.GetPartner(), partner.DefaultTier)
	}

	got, err := e.client.GetPartner(e.ctx(t), &adminv1.GetPartnerRequest{Id: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got.GetPartner(), protocmp.Transform()); diff != "" {
		t.Errorf("get (-created +got):\n%s", diff)
	}
	_, err = e.client.GetPartner(e.ctx(t), &adminv1.GetPartnerRequest{Id: "nobody"})
	wantCode(t, err, codes.NotFound)

	list, err := e.client.ListPartners(e.ctx(t), &adminv1.ListPartnersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list.GetPartners() {
		ids = append(ids, p.GetId())
	}
	if diff := cmp.Diff([]string{"acme", "globex"}, ids); diff != "" {
		t.Errorf("list ids (-want +got):\n%s", diff)
	}

	steps := []struct {
		name  string
		call  func() (*adminv1.Partner, error)
		state string
	}{
		{"suspend", func() (*adminv1.Partner, error) {
			r, err := e.client.SuspendPartner(e.ctx(t), &adminv1.SuspendPartnerRequest{Id: "acme", Reason: "leaked key"})
			return r.GetPartner(), err
		}, "suspended"},
		{"suspend-again", func() (*adminv1.Partner, error) {
			r, err := e.client.SuspendPartner(e.ctx(t), &adminv1.SuspendPartnerRequest{Id: "acme"})
			return r.GetPartner(), err
		}, "suspended"},
		{"resume", func() (*adminv1.Partner, error) {
			r, err := e.client.ResumePartner(e.ctx(t), &adminv1.ResumePartnerRequest{Id: "acme", Reason: "rotated"})
			return r.GetPartner(), err
		}, "active"},
		{"resume-again", func() (*adminv1.Partner, error) {
			r, err := e.client.ResumePartner(e.ctx(t), &adminv1.ResumePartnerRequest{Id: "acme"})
			return r.GetPartner(), err
		}, "active"},
	}
	for _, s := range steps {
		p, err := s.call()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if p.GetState() != s.state {
			t.Fatalf("%s: state = %q, want %q", s.name, p.GetState(), s.state)
		}
		// The cache applied the change before the call returned.
		if cp, ok := e.cache.Partner("acme"); !ok || string(cp.State) != s.state {
			t.Fatalf("%s: cache state = %v, want %q", s.name, cp, s.state)
		}
	}
	_, err = e.client.SuspendPartner(e.ctx(t), &adminv1.SuspendPartnerRequest{Id: "nobody"})
	wantCode(t, err, codes.NotFound)

	evs := audit(t, e, "acme")
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	want := []string{"partner.create", "partner.suspend", "partner.suspend", "partner.resume", "partner.resume"}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	if evs[1].Reason != "leaked key" || evs[1].Detail["previous_state"] != "active" || evs[1].Detail["state"] != "suspended" {
		t.Errorf("suspend event = %+v", evs[1])
	}
}

func TestIssueKey(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read", "orders:write", "billing:read")

	tests := []struct {
		name       string
		req        *adminv1.IssueKeyRequest
		wantScopes []string
		wantLife   time.Duration
	}{
		{"default-scopes-and-lifetime",
			&adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true},
			[]string{"billing:read", "orders:read", "orders:write"}, admin.DefaultKeyLifetime},
		{"narrow-scopes-and-name",
			&adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, Name: "billing-prod", ExpiresIn: durationpb.New(2160 * time.Hour)},
			[]string{"orders:read"}, 2160 * time.Hour},
		{"maximum-lifetime",
			&adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: durationpb.New(admin.DefaultMaxKeyLifetime), AllGrantedScopes: true},
			[]string{"billing:read", "orders:read", "orders:write"}, admin.DefaultMaxKeyLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.issue(t, tt.req)
			k := resp.GetKey()

			// The secret is a well-formed key of the server's format whose
			// id is the key's id.
			parsed, err := e.format.Parse(resp.GetSecret())
			if err != nil {
				t.Fatalf("secret does not parse: %v", err)
			}
			if parsed.ID() != k.GetId() {
				t.Fatalf("secret id %q, key id %q", parsed.ID(), k.GetId())
			}

			// The store holds its keyed digest, never the secret.
			c, err := e.store.GetCredential(context.Background(), k.GetId())
			if err != nil {
				t.Fatal(err)
			}
			ok, err := e.hasher.Verify(parsed, c.Digest, c.PepperVersion)
			if err != nil || !ok {
				t.Fatalf("stored digest does not verify the secret: %v, %v", ok, err)
			}
			if bytes.Contains(c.Digest, []byte(resp.GetSecret())) {
				t.Fatal("store holds the secret")
			}

			if diff := cmp.Diff(tt.wantScopes, k.GetScopes()); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if got := k.GetExpiresAt().AsTime().Sub(k.GetCreatedAt().AsTime()); got != tt.wantLife {
				t.Errorf("lifetime = %s, want %s", got, tt.wantLife)
			}
			if k.GetState() != admin.KeyActive || k.GetName() != tt.req.GetName() || k.GetPartnerId() != "acme" {
				t.Errorf("key = %v", k)
			}

			// The key message never carries the secret or any part of it.
			js, err := protojson.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(js), resp.GetSecret()[len(e.format.Prefix())+13:]) {
				t.Fatalf("key message carries the secret: %s", js)
			}

			// The serving cache knows the key before IssueKey returned.
			if rec, ok := e.cache.Key(context.Background(), k.GetId()); !ok || rec.Revoked {
				t.Fatalf("cache record = %+v, %v; want live", rec, ok)
			}
		})
	}
}

func TestIssueKeyRefusesScopesBeyondGrants(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	_, err := e.client.IssueKey(e.ctx(t), &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read", "orders:write", "admin"}})
	st := wantField(t, err, "scopes")
	if !strings.Contains(st.Message(), "admin orders:write") {
		t.Errorf("message %q does not name the extra scopes", st.Message())
	}
	keys, err := e.store.ListCredentials(context.Background(), "acme")
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys = %v, %v; want none", keys, err)
	}
}

func TestIssueKeyUnknownPartner(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.IssueKey(e.ctx(t), &adminv1.IssueKeyRequest{PartnerId: "nobody", AllGrantedScopes: true})
	if st := wantCode(t, err, codes.NotFound); st.Message() != `partner "nobody" not found` {
		t.Errorf("message = %q", st.Message())
	}
}

// collidingStore makes the first n credential creates fail as a key-id
// collision would.
type collidingStore struct {
	admin.Store
	left int
}

func (s *collidingStore) CreateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error {
	if s.left > 0 {
		s.left--
		return fmt.Errorf("credential %q: %w", c.ID, partner.ErrExists)
	}
	return s.Store.CreateCredential(ctx, c, ev)
}

func TestIssueKeyRetriesIDCollision(t *testing.T) {
	tests := []struct {
		name       string
		collisions int
		want       codes.Code
	}{
		{"one-collision", 1, codes.OK},
		{"two-collisions", 2, codes.OK},
		{"collisions-every-time", 100, codes.AlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(s *admin.Server) { s.Store = &collidingStore{Store: s.Store, left: tt.collisions} })
			e.createPartner(t, "acme", "orders:read")
			_, err := e.client.IssueKey(e.ctx(t), &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
			wantCode(t, err, tt.want)
		})
	}
}

func TestMalformedInput(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	key := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey().GetId()
	long := strings.Repeat("x", admin.MaxReasonLen+1)
	tests := []struct {
		name  string
		call  func(ctx context.Context) error
		field string
	}{
		{"create-empty-id", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{})
			return err
		}, "id"},
		{"create-upper-case-id", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "ACME"})
			return err
		}, "id"},
		{"create-id-with-newline", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme\nx"})
			return err
		}, "id"},
		{"create-bad-tier", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "ok", Tier: "Gold!"})
			return err
		}, "tier"},
		{"create-bad-scope", func(ctx context.Context) error {
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "ok", Scopes: []string{"orders read"}})
			return err
		}, "scopes"},
		{"create-too-many-scopes", func(ctx context.Context) error {
			many := make([]string, partner.MaxScopes+1)
			for i := range many {
				many[i] = fmt.Sprintf("s%d", i)
			}
			_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "ok", Scopes: many})
			return err
		}, "scopes"},
		{"get-bad-id", func(ctx context.Context) error {
			_, err := e.client.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: "../etc"})
			return err
		}, "id"},
		{"suspend-bad-id", func(ctx context.Context) error {
			_, err := e.client.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: ""})
			return err
		}, "id"},
		{"suspend-reason-too-long", func(ctx context.Context) error {
			_, err := e.client.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: "acme", Reason: long})
			return err
		}, "reason"},
		{"resume-reason-control-character", func(ctx context.Context) error {
			_, err := e.client.ResumePartner(ctx, &adminv1.ResumePartnerRequest{Id: "acme", Reason: "ok\x1b[31m"})
			return err
		}, "reason"},
		{"issue-bad-partner-id", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "Acme", AllGrantedScopes: true})
			return err
		}, "partner_id"},
		{"issue-bad-scope", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"*"}})
			return err
		}, "scopes"},
		{"issue-negative-expiry", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: durationpb.New(-time.Hour), AllGrantedScopes: true})
			return err
		}, "expires_in"},
		{"issue-zero-lifetime", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: durationpb.New(0), AllGrantedScopes: true})
			return err
		}, "expires_in"},
		{"issue-expiry-above-maximum", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: durationpb.New(admin.DefaultMaxKeyLifetime + time.Second), AllGrantedScopes: true})
			return err
		}, "expires_in"},
		{"issue-invalid-duration", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: &durationpb.Duration{Seconds: 1, Nanos: -1}, AllGrantedScopes: true})
			return err
		}, "expires_in"},
		{"issue-name-with-space", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Name: "billing prod", AllGrantedScopes: true})
			return err
		}, "name"},
		{"issue-name-too-long", func(ctx context.Context) error {
			_, err := e.client.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Name: strings.Repeat("n", admin.MaxNameLen+1), AllGrantedScopes: true})
			return err
		}, "name"},
		{"list-keys-bad-partner-id", func(ctx context.Context) error {
			_, err := e.client.ListKeys(ctx, &adminv1.ListKeysRequest{})
			return err
		}, "partner_id"},
		{"revoke-empty-key-id", func(ctx context.Context) error {
			_, err := e.client.RevokeKey(ctx, &adminv1.RevokeKeyRequest{})
			return err
		}, "key_id"},
		{"revoke-whole-secret-as-key-id", func(ctx context.Context) error {
			_, err := e.client.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: "pgtest_" + key + "_x"})
			return err
		}, "key_id"},
		{"revoke-reason-too-long", func(ctx context.Context) error {
			_, err := e.client.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: key, Reason: long})
			return err
		}, "reason"},
		{"rotate-short-key-id", func(ctx context.Context) error {
			_, err := e.client.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: "abc"})
			return err
		}, "key_id"},
		{"rotate-negative-overlap", func(ctx context.Context) error {
			_, err := e.client.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: key, Overlap: durationpb.New(-time.Second)})
			return err
		}, "overlap"},
		{"rotate-overlap-above-maximum", func(ctx context.Context) error {
			_, err := e.client.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: key, Overlap: durationpb.New(admin.DefaultMaxOverlap + time.Hour)})
			return err
		}, "overlap"},
		{"audit-bad-partner-id", func(ctx context.Context) error {
			_, err := e.client.ListAudit(ctx, &adminv1.ListAuditRequest{PartnerId: "A B"})
			return err
		}, "partner_id"},
		{"audit-negative-after-id", func(ctx context.Context) error {
			_, err := e.client.ListAudit(ctx, &adminv1.ListAuditRequest{AfterId: -1})
			return err
		}, "after_id"},
		{"audit-limit-too-large", func(ctx context.Context) error {
			_, err := e.client.ListAudit(ctx, &adminv1.ListAuditRequest{Limit: admin.MaxAuditLimit + 1})
			return err
		}, "limit"},
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
	if c, err := e.store.GetCredential(context.Background(), key); err != nil || !c.Usable(e.clock.Now()) {
		t.Fatalf("key changed by refused requests: %+v, %v", c, err)
	}
}

func TestRevokeKey(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	k := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}).GetKey()
	if rec, ok := e.cache.Key(context.Background(), k.GetId()); !ok || rec.Revoked {
		t.Fatalf("cache before the revocation: %+v, %v; want a live record, or the check below proves nothing", rec, ok)
	}

	resp, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: k.GetId(), Reason: "leaked in CI log"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetKey().GetState() != admin.KeyRevoked || !resp.GetKey().GetRevokedAt().AsTime().Equal(start) {
		t.Fatalf("revoked key = %v", resp.GetKey())
	}
	// The next Check on this replica refuses the key: the cache has it
	// revoked (or gone) before RevokeKey returned.
	if rec, ok := e.cache.Key(context.Background(), k.GetId()); ok && !rec.Revoked {
		t.Fatalf("cache still has a live record: %+v", rec)
	}

	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"revoke-again", func() error {
			_, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: k.GetId()})
			return err
		}, codes.FailedPrecondition},
		{"rotate-revoked", func() error {
			_, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: k.GetId()})
			return err
		}, codes.FailedPrecondition},
		{"revoke-unknown", func() error {
			_, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: "AAAAAAAAAAAA"})
			return err
		}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.want) })
	}

	list, err := e.client.ListKeys(e.ctx(t), &adminv1.ListKeysRequest{PartnerId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetKeys()) != 1 || list.GetKeys()[0].GetState() != admin.KeyRevoked {
		t.Fatalf("ListKeys = %v, want the one revoked key", list.GetKeys())
	}
	evs := audit(t, e, "acme")
	last := evs[len(evs)-1]
	if last.Action != "key.revoke" || last.CredentialID != k.GetId() || last.Reason != "leaked in CI log" {
		t.Fatalf("last audit event = %+v", last)
	}
}

func TestRotateKey(t *testing.T) {
	tests := []struct {
		name string
		// issueLife is the old key's lifetime; overlap is the request's.
		issueLife time.Duration
		overlap   *durationpb.Duration
		// wantOldLeft is how long the old key lives after the rotation.
		wantOldLeft time.Duration
		wantOldUp   bool
	}{
		{"overlap-sets-expiry", 2160 * time.Hour, durationpb.New(24 * time.Hour), 24 * time.Hour, true},
		{"unset-overlap-is-default", 2160 * time.Hour, nil, admin.DefaultOverlap, true},
		{"zero-overlap-is-immediate", 2160 * time.Hour, durationpb.New(0), 0, false},
		// Issued for 2h, rotated a minute later: 1h59m left, not 24h.
		{"overlap-never-extends-expiry", 2 * time.Hour, durationpb.New(24 * time.Hour), 2*time.Hour - time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createPartner(t, "acme", "orders:read", "orders:write", "billing:read")
			old := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read", "billing:read"},
				Name: "billing-prod", ExpiresIn: durationpb.New(tt.issueLife)})
			e.clock.Advance(time.Minute)
			now := e.clock.Now()

			resp, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: old.GetKey().GetId(), Overlap: tt.overlap, Reason: "quarterly"})
			if err != nil {
				t.Fatal(err)
			}
			next, prev := resp.GetKey(), resp.GetPrevious()
			if diff := cmp.Diff(old.GetKey().GetScopes(), next.GetScopes()); diff != "" {
				t.Errorf("new key scopes (-old +new):\n%s", diff)
			}
			if next.GetName() != "billing-prod" || next.GetPartnerId() != "acme" || next.GetRotatedFrom() != old.GetKey().GetId() {
				t.Errorf("new key = %v", next)
			}
			if got := next.GetExpiresAt().AsTime().Sub(now); got != tt.issueLife {
				t.Errorf("new key lifetime = %s, want the old key's %s", got, tt.issueLife)
			}
			parsed, err := e.format.Parse(resp.GetSecret())
			if err != nil || parsed.ID() != next.GetId() {
				t.Fatalf("new secret: %v, id %q", err, parsed.ID())
			}
			if resp.GetSecret() == old.GetSecret() {
				t.Fatal("rotation returned the old secret")
			}

			stored, err := e.store.GetCredential(context.Background(), old.GetKey().GetId())
			if err != nil {
				t.Fatal(err)
			}
			if got := stored.ExpiresAt.Sub(now); got != tt.wantOldLeft {
				t.Errorf("old key lives %s after rotation, want %s", got, tt.wantOldLeft)
			}
			if !stored.LastRotatedAt.Equal(now) || !prev.GetLastRotatedAt().AsTime().Equal(now) {
				t.Errorf("last_rotated_at = %s / %v, want %s", stored.LastRotatedAt, prev.GetLastRotatedAt(), now)
			}
			if stored.Usable(now) != tt.wantOldUp {
				t.Errorf("old key usable = %v, want %v", stored.Usable(now), tt.wantOldUp)
			}
			// The cache has both keys' new state before RotateKey returned.
			rec, ok := e.cache.Key(context.Background(), old.GetKey().GetId())
			if ok && rec.ExpiresAt != stored.ExpiresAt.UnixNano() {
				t.Errorf("cache old expiry = %d, want %d", rec.ExpiresAt, stored.ExpiresAt.UnixNano())
			}
			if _, ok := e.cache.Key(context.Background(), next.GetId()); !ok {
				t.Error("cache lacks the new key")
			}

			evs := audit(t, e, "acme")
			ev := evs[len(evs)-1]
			if ev.Action != "key.rotate" || ev.CredentialID != old.GetKey().GetId() || ev.Detail["new_key_id"] != next.GetId() || ev.Reason != "quarterly" {
				t.Errorf("rotate event = %+v", ev)
			}
		})
	}
}

func TestRotateExpiredKeyRefused(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	k := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", ExpiresIn: durationpb.New(time.Hour), AllGrantedScopes: true}).GetKey()
	e.clock.Advance(2 * time.Hour)
	_, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: k.GetId()})
	wantCode(t, err, codes.FailedPrecondition)
	list, err := e.client.ListKeys(e.ctx(t), &adminv1.ListKeysRequest{PartnerId: "acme"})
	if err != nil || len(list.GetKeys()) != 1 || list.GetKeys()[0].GetState() != admin.KeyExpired {
		t.Fatalf("ListKeys = %v, %v; want one expired key", list.GetKeys(), err)
	}
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "globex", "orders:read")
	issued := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", Name: "ci", AllGrantedScopes: true})
	rotated, err := e.client.RotateKey(e.ctx(t), &adminv1.RotateKeyRequest{KeyId: issued.GetKey().GetId(), Overlap: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.RevokeKey(e.ctx(t), &adminv1.RevokeKeyRequest{KeyId: rotated.GetKey().GetId(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SuspendPartner(e.ctx(t), &adminv1.SuspendPartnerRequest{Id: "acme", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ResumePartner(e.ctx(t), &adminv1.ResumePartnerRequest{Id: "acme"}); err != nil {
		t.Fatal(err)
	}

	resp, err := e.client.ListAudit(e.ctx(t), &adminv1.ListAuditRequest{PartnerId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range resp.GetEvents() {
		actions = append(actions, ev.GetAction())
		if ev.GetPartnerId() != "acme" {
			t.Errorf("partner filter let through %v", ev)
		}
		// The verified identity is the actor; the self-declared name is
		// only a note.
		if ev.GetActor() != "bootstrap" || ev.GetAuthMethod() != "bootstrap" || ev.GetNote() != "alice" ||
			!strings.HasPrefix(ev.GetSource(), "127.0.0.1:") {
			t.Errorf("actor = %q, auth_method = %q, note = %q, source = %q", ev.GetActor(), ev.GetAuthMethod(), ev.GetNote(), ev.GetSource())
		}
	}
	want := []string{"partner.create", "key.issue", "key.rotate", "key.revoke", "partner.suspend", "partner.resume"}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}

	// No secret, nor any digest, appears anywhere in the trail.
	js, err := protojson.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{issued.GetSecret(), rotated.GetSecret()} {
		k, _ := e.format.Parse(secret)
		body := secret[len(e.format.Prefix())+13:]
		digest, _ := e.hasher.Digest(k)
		for _, leak := range []string{body, body[:16], hex.EncodeToString(digest)} {
			if strings.Contains(string(js), leak) {
				t.Fatalf("audit trail contains secret material %q", leak)
			}
		}
	}

	if e.sync.Calls() != len(want)+1 {
		t.Errorf("Sync called %d times for %d writes", e.sync.Calls(), len(want)+1)
	}

	page, err := e.client.ListAudit(e.ctx(t), &adminv1.ListAuditRequest{AfterId: resp.GetEvents()[0].GetId(), Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.GetEvents()) != 2 || page.GetEvents()[0].GetPartnerId() != "globex" {
		t.Errorf("page = %v", page.GetEvents())
	}
}

// TestActorIsSanitised checks that a self-declared name is kept, cleaned,
// as a note only: the actor is always the verified identity.
func TestActorIsSanitised(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		sent string
		want string
	}{
		{"spoofed-suffix-stripped", "mallory (verified) from 10.0.0.1", "malloryverifiedfrom10.0.0.1"},
		{"markup-stripped", "<b>bob</b>", "bbobb"},
		{"length-capped", strings.Repeat("a", 200), strings.Repeat("a", 64)},
		{"nothing-left", " !$%& ", ""},
		{"email-kept", "alice@example.com", "alice@example.com"},
		{"operator-name-spoofed", "root", "root"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("p%d", i)
			c := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.token, admin.ActorHeader, tt.sent)
			if _, err := e.client.CreatePartner(c, &adminv1.CreatePartnerRequest{Id: id}); err != nil {
				t.Fatal(err)
			}
			evs := audit(t, e, id)
			if evs[0].Actor != "bootstrap" || evs[0].AuthMethod != "bootstrap" {
				t.Fatalf("actor = %q (%s), want the verified bootstrap operator", evs[0].Actor, evs[0].AuthMethod)
			}
			if evs[0].Note != tt.want {
				t.Fatalf("note = %q, want %q", evs[0].Note, tt.want)
			}
			if !regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`).MatchString(evs[0].Source) {
				t.Fatalf("source = %q, want the peer address", evs[0].Source)
			}
		})
	}
}

func TestSyncFailureStillSucceeds(t *testing.T) {
	e := newEnv(t)
	e.sync.err = errInjected
	e.createPartner(t, "acme", "orders:read")
	if _, err := e.store.GetPartner(context.Background(), "acme"); err != nil {
		t.Fatalf("write did not commit: %v", err)
	}
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		adjust func(s *admin.Server)
		ok     bool
	}{
		{"complete", func(*admin.Server) {}, true},
		{"no-store", func(s *admin.Server) { s.Store = nil }, false},
		{"no-hasher", func(s *admin.Server) { s.Hasher = nil }, false},
		{"no-format", func(s *admin.Server) { s.Format = apikey.Format{} }, false},
		{"default-above-max", func(s *admin.Server) { s.DefaultKeyLifetime = 2 * admin.DefaultMaxKeyLifetime }, false},
		{"negative-max", func(s *admin.Server) { s.MaxOverlap = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &admin.Server{Store: e.server.Store, Format: e.server.Format, Hasher: e.server.Hasher}
			tt.adjust(s)
			if err := s.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// audit returns the store's audit trail for partnerID ("" for all).
func audit(t *testing.T, e *env, partnerID string) []partner.AuditEvent {
	t.Helper()
	evs, err := e.store.ListAudit(context.Background(), store.AuditFilter{PartnerID: partnerID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
