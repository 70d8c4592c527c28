// Package storetest is the conformance suite for [store.Store]
// implementations. Every backend runs the same suite against a real
// database.
//
// Test strategy: each case opens a fresh, empty store through the caller's
// open function, so counts, orderings and the change feed are exact. The
// suite drives only the [store.Store] interface and checks what a consumer
// relies on: round trips (times at microsecond precision, digests byte for
// byte), the sentinel errors ([partner.ErrExists], [partner.ErrConflict],
// [partner.ErrNotFound]) asserted with errors.Is, that a failed write
// changes nothing (no row, no audit event, no change-feed entry), that the
// change feed is gap-free in commit order even under concurrent writers,
// that Notify signals without blocking writers, that a snapshot excludes
// revoked and expired credentials and reports the version it reflects, and
// that concurrent conflicting writers produce exactly one winner. Waits poll
// with a deadline; nothing sleeps for a condition. No case writes a secret:
// credentials carry HMAC digests only, and one case checks that a real key's
// secret appears nowhere the store can return.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Run runs the suite. open must return a new, empty store for t and
// arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"partner-lifecycle", testPartnerLifecycle},
		{"partner-errors", testPartnerErrors},
		{"credential-lifecycle", testCredentialLifecycle},
		{"credential-errors", testCredentialErrors},
		{"credential-immutable-fields", testCredentialImmutable},
		{"digest-round-trips-byte-exact", testDigestRoundTrip},
		{"rotate", testRotate},
		{"rotate-failures-change-nothing", testRotateFailures},
		{"change-feed-order-and-paging", testChangeFeed},
		{"failed-writes-leave-no-trace", testFailedWrites},
		{"change-feed-concurrent-writers-no-gaps", testChangeFeedConcurrent},
		{"notify", testNotify},
		{"snapshot", testSnapshot},
		{"get-credentials-in-one-call", testGetCredentials},
		{"snapshot-visitor-error-stops", testSnapshotStop},
		{"audit-paging-and-filtering", testAudit},
		{"meta", testMeta},
		{"meta-concurrent-init-one-winner", testMetaConcurrent},
		{"pepper-versions-of-live-keys", testPepperVersions},
		{"concurrent-conflicting-updates-one-winner", testConcurrentUpdates},
		{"no-secret-at-rest", testNoSecret},
		{"ping", testPing},
		{"oauth-clients", testClients},
		{"oauth-client-errors-change-nothing", testClientErrors},
		{"certificates", testCertificates},
		{"certificate-errors-change-nothing", testCertificateErrors},
		{"token-revocations", testTokenRevocations},
		{"revoke-tokens-before", testRevokeTokensBefore},
		{"partner-limits", testPartnerLimits},
		{"snapshot-clients-and-live-revocations", testSnapshotTokens},
		{"touch-records-last-use-without-trace", testTouch},
		{"update-keeps-a-newer-last-use", testUpdateKeepsNewerUse},
		{"unused-credentials-across-partners", testUnused},
		{"operators", testOperators},
		{"operator-errors-change-nothing", testOperatorErrors},
		{"record-audit-alone", testRecordAudit},
		{"compromised-mark-is-never-cleared", testCompromised},
		{"update-grants-narrow-and-widen", testUpdateGrants},
		{"key-update", testKeyUpdate},
		{"revoke-credential", testRevokeCredential},
		{"delete-partner-and-tombstone", testDeletePartner},
		{"delete-partner-removes-certificates", testDeleteCertificates},
		{"find-credentials-by-pepper-and-expiry", testFindCredentials},
		{"prune-changes-and-the-horizon", testPruneChanges},
		{"record-expired-unrotated-keys-once", testRecordExpiredKeys},
		{"apply-partner-in-one-transaction", testApplyPartner},
		{"prune-audit-older-than-retention", testPruneAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// waitTimeout bounds every wait for an asynchronous signal.
const waitTimeout = 10 * time.Second

var equate = cmp.Options{cmpopts.EquateEmpty()}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustScopes(t *testing.T, s string) partner.Scopes {
	t.Helper()
	sc, err := partner.ParseScopes("scopes", s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func newPartner(t *testing.T, id string) *partner.Partner {
	return &partner.Partner{ID: id, Tier: partner.DefaultTier, Scopes: mustScopes(t, "orders:read orders:write"), State: partner.Active}
}

// randomDigest returns a 32-byte stand-in for an HMAC-SHA256 digest.
func randomDigest() []byte {
	d := make([]byte, 32)
	_, _ = rand.Read(d)
	return d
}

func newCredential(t *testing.T, id, partnerID string) *partner.Credential {
	return &partner.Credential{
		ID: id, PartnerID: partnerID, Name: "label-" + id,
		Scopes: mustScopes(t, "orders:read"), Digest: randomDigest(), PepperVersion: 1,
	}
}

func ev(action, partnerID, credentialID string) partner.AuditEvent {
	return partner.AuditEvent{Actor: "admin@127.0.0.1", Action: action, PartnerID: partnerID, CredentialID: credentialID}
}

func mustCreatePartner(t *testing.T, s store.Store, id string) *partner.Partner {
	t.Helper()
	p := newPartner(t, id)
	if err := s.CreatePartner(ctxFor(t), p, ev("partner.create", id, "")); err != nil {
		t.Fatalf("CreatePartner(%s): %v", id, err)
	}
	return p
}

func mustCreateCredential(t *testing.T, s store.Store, c *partner.Credential) *partner.Credential {
	t.Helper()
	if err := s.CreateCredential(ctxFor(t), c, ev("key.issue", c.PartnerID, c.ID)); err != nil {
		t.Fatalf("CreateCredential(%s): %v", c.ID, err)
	}
	return c
}

func lastVersion(t *testing.T, s store.Store) int64 {
	t.Helper()
	var v int64
	for {
		ch, err := s.Changes(ctxFor(t), v, 1000)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		if len(ch) == 0 {
			return v
		}
		v = ch[len(ch)-1].Version
	}
}

func auditCount(t *testing.T, s store.Store) int {
	t.Helper()
	evs, err := s.ListAudit(ctxFor(t), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return len(evs)
}

func within(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	lo, hi = lo.Truncate(time.Microsecond).Add(-time.Millisecond), hi.Add(time.Millisecond)
	if got.Before(lo) || got.After(hi) {
		t.Errorf("%s = %v, want within [%v, %v]", what, got, lo, hi)
	}
}

func testPartnerLifecycle(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	before := time.Now()
	b := mustCreatePartner(t, s, "beta")
	a := mustCreatePartner(t, s, "acme")
	after := time.Now()
	if a.Version != 1 || b.Version != 1 {
		t.Errorf("versions after create = %d, %d; want 1, 1", a.Version, b.Version)
	}
	within(t, "CreatedAt", a.CreatedAt, before, after)
	if !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", a.UpdatedAt, a.CreatedAt)
	}

	got, err := s.GetPartner(ctx, "acme")
	if err != nil {
		t.Fatalf("GetPartner: %v", err)
	}
	if d := cmp.Diff(a, got, equate); d != "" {
		t.Errorf("GetPartner mismatch (-want +got):\n%s", d)
	}
	list, err := s.ListPartners(ctx)
	if err != nil {
		t.Fatalf("ListPartners: %v", err)
	}
	if d := cmp.Diff([]*partner.Partner{a, b}, list, equate); d != "" {
		t.Errorf("ListPartners mismatch (-want +got):\n%s", d)
	}

	a.Tier, a.State, a.Scopes = "gold", partner.Suspended, mustScopes(t, "orders:read")
	if err := s.UpdatePartner(ctx, a, ev("partner.suspend", "acme", "")); err != nil {
		t.Fatalf("UpdatePartner: %v", err)
	}
	if a.Version != 2 {
		t.Errorf("Version after update = %d, want 2", a.Version)
	}
	if a.UpdatedAt.Before(a.CreatedAt) {
		t.Errorf("UpdatedAt %v before CreatedAt %v", a.UpdatedAt, a.CreatedAt)
	}
	got, err = s.GetPartner(ctx, "acme")
	if err != nil {
		t.Fatalf("GetPartner: %v", err)
	}
	if d := cmp.Diff(a, got, equate); d != "" {
		t.Errorf("GetPartner after update mismatch (-want +got):\n%s", d)
	}
}

func testPartnerErrors(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreatePartner(t, s, "acme")
	stale := *a
	fresh := *a
	if err := s.UpdatePartner(ctx, &fresh, ev("partner.update", "acme", "")); err != nil {
		t.Fatalf("UpdatePartner: %v", err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create-existing-id", func() error { return s.CreatePartner(ctx, newPartner(t, "acme"), ev("partner.create", "acme", "")) }, partner.ErrExists},
		{"update-stale-version", func() error {
			p := stale
			p.Tier = "gold"
			return s.UpdatePartner(ctx, &p, ev("partner.update", "acme", ""))
		}, partner.ErrConflict},
		{"update-missing", func() error {
			p := newPartner(t, "ghost")
			p.Version = 1
			return s.UpdatePartner(ctx, p, ev("partner.update", "ghost", ""))
		}, partner.ErrNotFound},
		{"get-missing", func() error { _, err := s.GetPartner(ctx, "ghost"); return err }, partner.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	got, err := s.GetPartner(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&fresh, got, equate); d != "" {
		t.Errorf("failed writes changed the partner (-want +got):\n%s", d)
	}
}

func testCredentialLifecycle(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	now := time.Now()
	old := newCredential(t, "key-old", "acme")
	old.CreatedAt = now.Add(-2 * time.Hour)
	old.ExpiresAt = now.Add(90 * 24 * time.Hour)
	mid := newCredential(t, "key-mid", "acme")
	mid.CreatedAt = now.Add(-time.Hour)
	mid.LastUsedAt = now.Add(-time.Minute)
	newest := newCredential(t, "key-new", "acme")
	other := newCredential(t, "key-other", "beta")
	before := time.Now()
	for _, c := range []*partner.Credential{old, mid, newest, other} {
		mustCreateCredential(t, s, c)
	}
	within(t, "CreatedAt of a credential created without one", newest.CreatedAt, before, time.Now())
	if old.Version != 1 {
		t.Errorf("Version = %d, want 1", old.Version)
	}

	got, err := s.GetCredential(ctx, "key-old")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if d := cmp.Diff(old, got, equate); d != "" {
		t.Errorf("GetCredential mismatch (-want +got):\n%s", d)
	}
	list, err := s.ListCredentials(ctx, "acme")
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	if d := cmp.Diff([]*partner.Credential{newest, mid, old}, list, equate); d != "" {
		t.Errorf("ListCredentials (newest first) mismatch (-want +got):\n%s", d)
	}
	none, err := s.ListCredentials(ctx, "ghost")
	if err != nil || len(none) != 0 {
		t.Errorf("ListCredentials(unknown partner) = %v, %v; want none, nil", none, err)
	}

	mid.RevokedAt = time.Now()
	mid.Scopes = nil
	mid.Name = "revoked"
	if err := s.UpdateCredential(ctx, mid, ev("key.revoke", "acme", "key-mid")); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	if mid.Version != 2 || !mid.Revoked() {
		t.Errorf("after revoke: Version %d, Revoked %v; want 2, true", mid.Version, mid.Revoked())
	}
	got, err = s.GetCredential(ctx, "key-mid")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if d := cmp.Diff(mid, got, equate); d != "" {
		t.Errorf("GetCredential after revoke mismatch (-want +got):\n%s", d)
	}
}

func testCredentialErrors(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	c := mustCreateCredential(t, s, newCredential(t, "key-1", "acme"))
	stale := *c
	fresh := *c
	if err := s.UpdateCredential(ctx, &fresh, ev("key.update", "acme", "key-1")); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create-unknown-partner", func() error {
			return s.CreateCredential(ctx, newCredential(t, "key-2", "ghost"), ev("key.issue", "ghost", "key-2"))
		}, partner.ErrNotFound},
		{"create-existing-id", func() error {
			return s.CreateCredential(ctx, newCredential(t, "key-1", "acme"), ev("key.issue", "acme", "key-1"))
		}, partner.ErrExists},
		{"create-existing-id-other-partner", func() error {
			return s.CreateCredential(ctx, newCredential(t, "key-1", "beta"), ev("key.issue", "beta", "key-1"))
		}, partner.ErrExists},
		{"update-stale-version", func() error {
			x := stale
			x.RevokedAt = time.Now()
			return s.UpdateCredential(ctx, &x, ev("key.revoke", "acme", "key-1"))
		}, partner.ErrConflict},
		{"update-missing", func() error {
			x := newCredential(t, "key-ghost", "acme")
			x.Version = 1
			return s.UpdateCredential(ctx, x, ev("key.revoke", "acme", "key-ghost"))
		}, partner.ErrNotFound},
		{"get-missing", func() error { _, err := s.GetCredential(ctx, "key-ghost"); return err }, partner.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("create-empty-digest", func(t *testing.T) {
		x := newCredential(t, "key-3", "acme")
		x.Digest = nil
		var fe *partner.FieldError
		if err := s.CreateCredential(ctx, x, ev("key.issue", "acme", "key-3")); !errors.As(err, &fe) || fe.Field != "digest" {
			t.Fatalf("err = %v, want a FieldError for digest", err)
		}
	})
	got, err := s.GetCredential(ctx, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&fresh, got, equate); d != "" {
		t.Errorf("failed writes changed the credential (-want +got):\n%s", d)
	}
}

// testCredentialImmutable checks that an update cannot re-point a key: its
// digest, pepper version, partner and creation time stay as issued.
func testCredentialImmutable(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	c := mustCreateCredential(t, s, newCredential(t, "key-1", "acme"))
	want := *c
	x := *c
	x.Digest = randomDigest()
	x.PepperVersion = 7
	x.PartnerID = "beta"
	x.CreatedAt = time.Now().Add(-time.Hour)
	if err := s.UpdateCredential(ctx, &x, ev("key.update", "acme", "key-1")); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	got, err := s.GetCredential(ctx, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Digest, want.Digest) || got.PepperVersion != want.PepperVersion ||
		got.PartnerID != want.PartnerID || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("update changed an immutable field: got digest %x pepper %d partner %s created %v; want %x %d %s %v",
			got.Digest, got.PepperVersion, got.PartnerID, got.CreatedAt, want.Digest, want.PepperVersion, want.PartnerID, want.CreatedAt)
	}
}

func testDigestRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	tests := []struct {
		name   string
		digest []byte
	}{
		{"single-zero-byte", []byte{0}},
		{"all-zero-sha256-size", make([]byte, 32)},
		{"all-ones", bytes.Repeat([]byte{0xff}, 32)},
		{"every-byte-value", every},
		{"trailing-zeros", append(randomDigest(), 0, 0, 0)},
		{"random-sha256-size", randomDigest()},
		{"invalid-utf8", []byte{0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCredential(t, fmt.Sprintf("key-%d", i), "acme")
			c.Digest = slices.Clone(tc.digest)
			mustCreateCredential(t, s, c)
			got, err := s.GetCredential(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Digest, tc.digest) || len(got.Digest) != len(tc.digest) {
				t.Errorf("digest = %x, want %x", got.Digest, tc.digest)
			}
			var snap []byte
			if _, err := s.Snapshot(ctx, store.Visitor{Credential: func(x *partner.Credential) error {
				if x.ID == c.ID {
					snap = x.Digest
				}
				return nil
			}}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(snap, tc.digest) {
				t.Errorf("snapshot digest = %x, want %x", snap, tc.digest)
			}
		})
	}
}

func testRotate(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	old := mustCreateCredential(t, s, newCredential(t, "key-old", "acme"))
	v0 := lastVersion(t, s)
	audit0 := auditCount(t, s)

	now := time.Now()
	old.ExpiresAt = now.Add(24 * time.Hour)
	old.LastRotatedAt = now
	next := newCredential(t, "key-next", "acme")
	if err := s.RotateCredential(ctx, old, next, ev("key.rotate", "acme", "key-old")); err != nil {
		t.Fatalf("RotateCredential: %v", err)
	}
	if old.Version != 2 || next.Version != 1 || next.RotatedFrom != "key-old" {
		t.Errorf("after rotate: old.Version %d, next.Version %d, next.RotatedFrom %q; want 2, 1, key-old",
			old.Version, next.Version, next.RotatedFrom)
	}
	for _, want := range []*partner.Credential{old, next} {
		got, err := s.GetCredential(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, equate); d != "" {
			t.Errorf("GetCredential(%s) mismatch (-want +got):\n%s", want.ID, d)
		}
	}
	changes, err := s.Changes(ctx, v0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range changes {
		ids = append(ids, string(c.Kind)+"/"+c.ID)
	}
	if d := cmp.Diff([]string{"credential/key-old", "credential/key-next"}, ids); d != "" {
		t.Errorf("changes of a rotation (-want +got):\n%s", d)
	}
	if n := auditCount(t, s) - audit0; n != 1 {
		t.Errorf("rotation wrote %d audit events, want 1", n)
	}
}

func testRotateFailures(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	old := mustCreateCredential(t, s, newCredential(t, "key-old", "acme"))
	mustCreateCredential(t, s, newCredential(t, "key-taken", "acme"))
	stored := *old
	tests := []struct {
		name   string
		old    func() *partner.Credential
		nextID string
		want   error
	}{
		{"stale-old", func() *partner.Credential { x := *old; x.Version = 9; return &x }, "key-n1", partner.ErrConflict},
		{"missing-old", func() *partner.Credential { x := *newCredential(t, "key-ghost", "acme"); x.Version = 1; return &x }, "key-n2", partner.ErrNotFound},
		{"next-id-taken", func() *partner.Credential { x := *old; return &x }, "key-taken", partner.ErrExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v0, audit0 := lastVersion(t, s), auditCount(t, s)
			o := tc.old()
			o.ExpiresAt = time.Now().Add(time.Hour)
			err := s.RotateCredential(ctx, o, newCredential(t, tc.nextID, "acme"), ev("key.rotate", "acme", o.ID))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if v := lastVersion(t, s); v != v0 {
				t.Errorf("failed rotation moved the feed from %d to %d", v0, v)
			}
			if n := auditCount(t, s); n != audit0 {
				t.Errorf("failed rotation wrote %d audit events", n-audit0)
			}
			if tc.nextID != "key-taken" {
				if _, err := s.GetCredential(ctx, tc.nextID); !errors.Is(err, partner.ErrNotFound) {
					t.Errorf("next key after failed rotation: err = %v, want ErrNotFound", err)
				}
			}
			got, err := s.GetCredential(ctx, "key-old")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&stored, got, equate); d != "" {
				t.Errorf("failed rotation changed the old key (-want +got):\n%s", d)
			}
		})
	}
	t.Run("next-of-another-partner", func(t *testing.T) {
		x := *old
		var fe *partner.FieldError
		if err := s.RotateCredential(ctx, &x, newCredential(t, "key-n3", "beta"), ev("key.rotate", "acme", "key-old")); !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a FieldError", err)
		}
	})
}

func testChangeFeed(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if v := lastVersion(t, s); v != 0 {
		t.Fatalf("empty store's feed ends at %d, want 0", v)
	}
	before := time.Now()
	p := mustCreatePartner(t, s, "acme")
	c := mustCreateCredential(t, s, newCredential(t, "key-1", "acme"))
	c.RevokedAt = time.Now()
	if err := s.UpdateCredential(ctx, c, ev("key.revoke", "acme", "key-1")); err != nil {
		t.Fatal(err)
	}
	p.State = partner.Suspended
	if err := s.UpdatePartner(ctx, p, ev("partner.suspend", "acme", "")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	all, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"partner/acme", "credential/key-1", "credential/key-1", "partner/acme"}
	var got []string
	for i, ch := range all {
		got = append(got, string(ch.Kind)+"/"+ch.ID)
		if i > 0 && ch.Version <= all[i-1].Version {
			t.Errorf("versions not increasing: %d after %d", ch.Version, all[i-1].Version)
		}
		within(t, "change At", ch.At, before, after)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Changes mismatch (-want +got):\n%s", d)
	}

	// Catch up two at a time, as a reader that fell behind does.
	var paged []store.Change
	var since int64
	for range 10 {
		page, err := s.Changes(ctx, since, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("Changes(limit 2) returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		since = page[len(page)-1].Version
	}
	if d := cmp.Diff(all, paged); d != "" {
		t.Errorf("paged catch-up differs from one read (-want +got):\n%s", d)
	}
	tail, err := s.Changes(ctx, all[1].Version, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(all[2:], tail); d != "" {
		t.Errorf("Changes(since middle) mismatch (-want +got):\n%s", d)
	}
}

func testFailedWrites(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	p := mustCreatePartner(t, s, "acme")
	mustCreateCredential(t, s, newCredential(t, "key-1", "acme"))
	v0, audit0 := lastVersion(t, s), auditCount(t, s)
	stale := *p
	stale.Version = 5
	failures := []struct {
		name string
		do   func() error
	}{
		{"duplicate-partner", func() error { return s.CreatePartner(ctx, newPartner(t, "acme"), ev("partner.create", "acme", "")) }},
		{"stale-partner", func() error { return s.UpdatePartner(ctx, &stale, ev("partner.update", "acme", "")) }},
		{"duplicate-credential", func() error {
			return s.CreateCredential(ctx, newCredential(t, "key-1", "acme"), ev("key.issue", "acme", "key-1"))
		}},
		{"credential-of-unknown-partner", func() error {
			return s.CreateCredential(ctx, newCredential(t, "key-2", "ghost"), ev("key.issue", "ghost", "key-2"))
		}},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil {
				t.Fatal("write succeeded, want an error")
			}
			if v := lastVersion(t, s); v != v0 {
				t.Errorf("failed write moved the feed from %d to %d", v0, v)
			}
			if n := auditCount(t, s); n != audit0 {
				t.Errorf("failed write left %d audit events", n-audit0)
			}
		})
	}
}

// testChangeFeedConcurrent has writers commit concurrently while a reader
// follows the feed with "version > last applied". A version that became
// visible after a higher one would be skipped forever; the reader must end
// with every write.
func testChangeFeedConcurrent(t *testing.T, s store.Store) {
	const writers, perWriter = 8, 15
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("p-%d-%d", w, i)
				if err := s.CreatePartner(ctx, newPartner(t, id), ev("partner.create", id, "")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var since int64
	writersDone := false
	deadline := time.Now().Add(waitTimeout * 3)
	for time.Now().Before(deadline) {
		if !writersDone {
			select {
			case <-done:
				writersDone = true
			default:
			}
		}
		page, err := s.Changes(ctx, since, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page {
			if ch.Version <= since {
				t.Fatalf("version %d not above %d", ch.Version, since)
			}
			if seen[ch.ID] {
				t.Fatalf("%s delivered twice", ch.ID)
			}
			seen[ch.ID] = true
			since = ch.Version
		}
		if writersDone && len(page) == 0 {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("reader following the feed saw %d of %d writes: a version committed out of order was skipped", len(seen), writers*perWriter)
	}
}

func testNotify(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(ctxFor(t))
	ch := s.Notify(ctx)
	drain := func() {
		for {
			select {
			case <-ch:
			default:
				return
			}
		}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: channel closed", what)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("%s: no notification within %v", what, waitTimeout)
		}
	}

	drain() // a backend may signal once when its listener connects
	mustCreatePartner(t, s, "acme")
	wait("after a write")

	// Writers never block on a subscriber that does not read; pending
	// signals coalesce into one.
	for i := range 20 {
		mustCreatePartner(t, s, fmt.Sprintf("p-%d", i))
	}
	wait("after many unread writes")

	cancel()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				goto closed
			}
		case <-deadline:
			t.Fatal("channel not closed after its context ended")
		}
	}
closed:
	if _, ok := <-s.Notify(ctx); ok {
		t.Error("Notify with a done context returned an open channel")
	}
}

// testGetCredentials: GetCredentials returns what GetCredential does for
// every id it is given that exists, revoked and expired ones included,
// each once however often it is named, and leaves out ids it does not
// hold; no ids, or only unknown ones, is an empty answer, not an error.
func testGetCredentials(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	live := mustCreateCredential(t, s, newCredential(t, "key-live", "acme"))
	other := mustCreateCredential(t, s, newCredential(t, "key-other", "beta"))
	expired := newCredential(t, "key-expired", "acme")
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	mustCreateCredential(t, s, expired)
	revoked := mustCreateCredential(t, s, newCredential(t, "key-revoked", "acme"))
	revoked.RevokedAt = time.Now()
	if err := s.UpdateCredential(ctx, revoked, ev("key.revoke", "acme", "key-revoked")); err != nil {
		t.Fatal(err)
	}
	mustCreateCredential(t, s, newCredential(t, "key-not-asked", "acme"))

	got, err := s.GetCredentials(ctx, []string{"key-revoked", "key-live", "key-ghost", "key-live", "key-other", "key-expired", `x' OR '1'='1`})
	if err != nil {
		t.Fatalf("GetCredentials: %v", err)
	}
	var want []*partner.Credential
	for _, c := range []*partner.Credential{expired, live, other, revoked} {
		stored, err := s.GetCredential(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, stored)
	}
	slices.SortFunc(got, func(x, y *partner.Credential) int { return strings.Compare(x.ID, y.ID) })
	if d := cmp.Diff(want, got, equate); d != "" {
		t.Errorf("GetCredentials mismatch (-want +got):\n%s", d)
	}
	for _, ids := range [][]string{nil, {}, {"key-ghost"}} {
		if got, err := s.GetCredentials(ctx, ids); err != nil || len(got) != 0 {
			t.Errorf("GetCredentials(%q) = %d credentials, %v; want none, no error", ids, len(got), err)
		}
	}
}

// snapshotView is c as a snapshot visits it: the fields a cache holds
// (see [store.Visitor]).
func snapshotView(c *partner.Credential) *partner.Credential {
	return &partner.Credential{
		ID: c.ID, PartnerID: c.PartnerID, Digest: c.Digest, PepperVersion: c.PepperVersion, Scopes: c.Scopes,
		ExpiresAt: c.ExpiresAt, Version: c.Version, AllowCIDRs: c.AllowCIDRs,
	}
}

func testSnapshot(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreatePartner(t, s, "acme")
	b := mustCreatePartner(t, s, "beta")
	b.State = partner.Suspended
	if err := s.UpdatePartner(ctx, b, ev("partner.suspend", "beta", "")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	live := mustCreateCredential(t, s, newCredential(t, "key-live", "acme"))
	// Other scopes and an allow-list, between rows of other partners:
	// what one row shares with the next must not leak into it.
	allowed := newCredential(t, "key-allowed", "acme")
	allowed.Scopes = mustScopes(t, "orders:read orders:write")
	cidrs, err := partner.ParseCIDRs("allow_cidrs", "10.0.0.0/8,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	allowed.AllowCIDRs = cidrs
	mustCreateCredential(t, s, allowed)
	future := newCredential(t, "key-future", "beta")
	future.ExpiresAt = now.Add(time.Hour)
	mustCreateCredential(t, s, future)
	expired := newCredential(t, "key-expired", "acme")
	expired.ExpiresAt = now.Add(-time.Hour)
	mustCreateCredential(t, s, expired)
	revoked := mustCreateCredential(t, s, newCredential(t, "key-revoked", "acme"))
	revoked.RevokedAt = now
	if err := s.UpdateCredential(ctx, revoked, ev("key.revoke", "acme", "key-revoked")); err != nil {
		t.Fatal(err)
	}

	var partners []*partner.Partner
	var creds []*partner.Credential
	count := -1
	version, err := s.Snapshot(ctx, store.Visitor{
		Partner: func(p *partner.Partner) error {
			if len(creds) > 0 {
				t.Error("partner visited after a credential")
			}
			partners = append(partners, p)
			return nil
		},
		CredentialCount: func(n int) error {
			if len(creds) > 0 {
				t.Error("credential count given after a credential")
			}
			count = n
			return nil
		},
		Credential: func(c *partner.Credential) error { creds = append(creds, c); return nil },
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if count != len(creds) {
		t.Errorf("Snapshot's credential count = %d, want the %d credentials it visited", count, len(creds))
	}
	if want := lastVersion(t, s); version != want {
		t.Errorf("Snapshot version = %d, want the feed's last %d", version, want)
	}
	slices.SortFunc(partners, func(x, y *partner.Partner) int { return strings.Compare(x.ID, y.ID) })
	slices.SortFunc(creds, func(x, y *partner.Credential) int { return strings.Compare(x.ID, y.ID) })
	if d := cmp.Diff([]*partner.Partner{a, b}, partners, equate); d != "" {
		t.Errorf("snapshot partners (all states) mismatch (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*partner.Credential{snapshotView(allowed), snapshotView(future), snapshotView(live)}, creds, equate); d != "" {
		t.Errorf("snapshot credentials (usable only) mismatch (-want +got):\n%s", d)
	}

	t.Run("partners-only", func(t *testing.T) {
		n := 0
		if _, err := s.Snapshot(ctx, store.Visitor{Partner: func(*partner.Partner) error { n++; return nil }}); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("visited %d partners, want 2", n)
		}
	})
	t.Run("empty-visitor", func(t *testing.T) {
		v, err := s.Snapshot(ctx, store.Visitor{})
		if err != nil || v != version {
			t.Errorf("Snapshot(empty visitor) = %d, %v; want %d, nil", v, err, version)
		}
	})
}

func testSnapshotStop(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	for i := range 5 {
		mustCreateCredential(t, s, newCredential(t, fmt.Sprintf("key-%d", i), "acme"))
	}
	errStop := errors.New("stop here")
	tests := []struct {
		name string
		v    func(n *int) store.Visitor
	}{
		{"stop-in-partners", func(n *int) store.Visitor {
			return store.Visitor{
				Partner:    func(*partner.Partner) error { *n++; return errStop },
				Credential: func(*partner.Credential) error { *n++; return nil },
			}
		}},
		{"stop-in-credentials", func(n *int) store.Visitor {
			return store.Visitor{Credential: func(*partner.Credential) error { *n++; return errStop }}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			if _, err := s.Snapshot(ctx, tc.v(&n)); !errors.Is(err, errStop) {
				t.Fatalf("err = %v, want the visitor's error", err)
			}
			if n != 1 {
				t.Errorf("visitor called %d times, want 1", n)
			}
		})
	}
	// The store is still usable: the aborted read released its connection.
	if _, err := s.Snapshot(ctx, store.Visitor{}); err != nil {
		t.Fatalf("Snapshot after an aborted one: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	before := time.Now()
	first := partner.AuditEvent{
		At: at, Actor: "admin@10.0.0.1", Action: "partner.create", PartnerID: "acme",
		Reason: "onboarding ticket 42", Detail: map[string]string{"tier": "gold", "scopes": "a b", "quote": `"x"`},
	}
	if err := s.CreatePartner(ctx, newPartner(t, "acme"), first); err != nil {
		t.Fatal(err)
	}
	mustCreatePartner(t, s, "beta")
	for i := range 6 {
		pid := []string{"acme", "beta"}[i%2]
		mustCreateCredential(t, s, newCredential(t, fmt.Sprintf("key-%d", i), pid))
	}
	after := time.Now()

	all, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 8 {
		t.Fatalf("ListAudit returned %d events, want 8", len(all))
	}
	first.ID = all[0].ID
	first.At = at.Truncate(time.Microsecond)
	if d := cmp.Diff(first, all[0], equate); d != "" {
		t.Errorf("first event mismatch (-want +got):\n%s", d)
	}
	for i, e := range all {
		if i > 0 && e.ID <= all[i-1].ID {
			t.Errorf("event ids not increasing: %d after %d", e.ID, all[i-1].ID)
		}
		if i > 0 {
			within(t, "event At set by the store", e.At, before, after)
		}
	}

	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64 // indexes into all
	}{
		{"everything", store.AuditFilter{}, []int64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"partner", store.AuditFilter{PartnerID: "acme"}, []int64{0, 2, 4, 6}},
		{"partner-after", store.AuditFilter{PartnerID: "beta", AfterID: all[3].ID}, []int64{5, 7}},
		{"limit", store.AuditFilter{Limit: 3}, []int64{0, 1, 2}},
		{"after-and-limit", store.AuditFilter{AfterID: all[2].ID, Limit: 2}, []int64{3, 4}},
		{"after-the-end", store.AuditFilter{AfterID: all[7].ID}, nil},
		{"unknown-partner", store.AuditFilter{PartnerID: "ghost"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []partner.AuditEvent
			for _, i := range tc.want {
				want = append(want, all[i])
			}
			if d := cmp.Diff(want, got, equate); d != "" {
				t.Errorf("ListAudit(%+v) mismatch (-want +got):\n%s", tc.f, d)
			}
		})
	}

	t.Run("page-through", func(t *testing.T) {
		var paged []partner.AuditEvent
		var after int64
		for range 10 {
			page, err := s.ListAudit(ctx, store.AuditFilter{AfterID: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].ID
		}
		if d := cmp.Diff(all, paged, equate); d != "" {
			t.Errorf("paging differs from one read (-want +got):\n%s", d)
		}
	})
}

func testMeta(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if _, err := s.Meta(ctx, "admin-token-hash"); !errors.Is(err, partner.ErrNotFound) {
		t.Fatalf("Meta(unset) err = %v, want ErrNotFound", err)
	}
	steps := []struct {
		name  string
		value string
		want  string
	}{
		{"first-init-sets", "v1", "v1"},
		{"second-init-keeps", "v2", "v1"},
		{"empty-value-keeps", "", "v1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := s.InitMeta(ctx, "admin-token-hash", st.value)
			if err != nil || got != st.want {
				t.Fatalf("InitMeta = %q, %v; want %q", got, err, st.want)
			}
			if got, err := s.Meta(ctx, "admin-token-hash"); err != nil || got != st.want {
				t.Fatalf("Meta = %q, %v; want %q", got, err, st.want)
			}
		})
	}
	if got, err := s.InitMeta(ctx, "empty", ""); err != nil || got != "" {
		t.Errorf("InitMeta(empty) = %q, %v", got, err)
	}
}

// testPepperVersions: the versions reported are those of keys still able
// to pass a Check, each once, in order; revoked and expired keys need no
// pepper.
func testPepperVersions(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if got, err := s.PepperVersions(ctx); err != nil || len(got) != 0 {
		t.Fatalf("PepperVersions(empty store) = %v, %v; want none", got, err)
	}
	mustCreatePartner(t, s, "acme")
	steps := []struct {
		name   string
		id     string
		pepper int
		state  func(c *partner.Credential) // applied after creation; nil keeps it live
		want   []int
	}{
		{"live-key", "key000000001", 2, nil, []int{2}},
		{"same-version-once", "key000000002", 2, nil, []int{2}},
		{"older-version-sorts-first", "key000000003", 1, nil, []int{1, 2}},
		{"revoked-key-needs-no-pepper", "key000000004", 3, func(c *partner.Credential) { c.RevokedAt = time.Now() }, []int{1, 2}},
		{"expired-key-needs-no-pepper", "key000000005", 4, func(c *partner.Credential) { c.ExpiresAt = time.Now().Add(-time.Minute) }, []int{1, 2}},
		{"live-version-past-dead-ones", "key000000006", 5, nil, []int{1, 2, 5}},
		{"live-key-beside-a-dead-one", "key000000007", 3, nil, []int{1, 2, 3, 5}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c := newCredential(t, st.id, "acme")
			c.PepperVersion = st.pepper
			mustCreateCredential(t, s, c)
			if st.state != nil {
				st.state(c)
				if err := s.UpdateCredential(ctx, c, ev("key.revoke", "acme", c.ID)); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.PepperVersions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(st.want, got, equate); d != "" {
				t.Errorf("PepperVersions (-want +got):\n%s", d)
			}
		})
	}
}

func testMetaConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.InitMeta(ctx, "cluster-id", fmt.Sprintf("candidate-%d", i))
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("InitMeta #%d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("callers saw different winners: %q and %q", got[0], got[i])
		}
	}
	if v, err := s.Meta(ctx, "cluster-id"); err != nil || v != got[0] {
		t.Fatalf("Meta = %q, %v; want the winner %q", v, err, got[0])
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	p := mustCreatePartner(t, s, "acme")
	c := mustCreateCredential(t, s, newCredential(t, "key-1", "acme"))
	const n = 8
	tests := []struct {
		name   string
		update func(i int) error
		check  func(t *testing.T, winner int)
	}{
		{"partner", func(i int) error {
			x := *p
			x.Tier = fmt.Sprintf("tier%d", i)
			return s.UpdatePartner(ctx, &x, ev("partner.update", "acme", ""))
		}, func(t *testing.T, winner int) {
			got, err := s.GetPartner(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 || got.Tier != fmt.Sprintf("tier%d", winner) {
				t.Errorf("stored version %d tier %q; want 2, the winner's tier%d", got.Version, got.Tier, winner)
			}
		}},
		{"credential", func(i int) error {
			x := *c
			x.Name = fmt.Sprintf("name-%d", i)
			return s.UpdateCredential(ctx, &x, ev("key.update", "acme", "key-1"))
		}, func(t *testing.T, winner int) {
			got, err := s.GetCredential(ctx, "key-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 || got.Name != fmt.Sprintf("name-%d", winner) {
				t.Errorf("stored version %d name %q; want 2, the winner's name-%d", got.Version, got.Name, winner)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() { <-start; errs[i] = tc.update(i) })
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("two writers won: %d and %d", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, partner.ErrConflict):
					t.Errorf("writer %d: err = %v, want ErrConflict", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer won")
			}
			tc.check(t, winner)
		})
	}
}

// testNoSecret stores a credential made from a real generated key and
// checks that the key, and its secret part, appear nowhere the store
// returns: only the digest is kept.
func testNoSecret(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	f, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pepper := make([]byte, apikey.MinPepperLen)
	_, _ = rand.Read(pepper)
	h, err := apikey.NewHasher(1, map[int][]byte{1: pepper})
	if err != nil {
		t.Fatal(err)
	}
	digest, pv := h.Digest(k)
	mustCreatePartner(t, s, "acme")
	c := &partner.Credential{ID: k.ID(), PartnerID: "acme", Name: "billing-prod", Digest: digest, PepperVersion: pv}
	e := ev("key.issue", "acme", k.ID())
	e.Detail = map[string]string{"key": k.String()} // the redacted form
	if err := s.CreateCredential(ctx, c, e); err != nil {
		t.Fatal(err)
	}

	var dump strings.Builder
	got, err := s.GetCredential(ctx, k.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(k, got.Digest, got.PepperVersion); err != nil || !ok {
		t.Fatalf("stored digest does not verify the key: %v, %v", ok, err)
	}
	fmt.Fprintf(&dump, "%+v %s\n", got, got.Digest)
	creds, _ := s.ListCredentials(ctx, "acme")
	audit, _ := s.ListAudit(ctx, store.AuditFilter{})
	changes, _ := s.Changes(ctx, 0, 0)
	partners, _ := s.ListPartners(ctx)
	fmt.Fprintf(&dump, "%+v %+v %+v %+v", creds, audit, changes, partners)
	raw := k.Reveal()
	secret := raw[len(f.Prefix())+apikey.IDLen+1:]
	secret = secret[:apikey.SecretLen]
	for _, needle := range []string{raw, secret} {
		if strings.Contains(dump.String(), needle) {
			t.Fatal("the store returned the key's secret")
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
