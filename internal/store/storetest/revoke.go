package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// testRevokeCredential revokes a live key and an expired one: each is
// revoked at the event's time with its version bumped, returned as
// stored (its last use included), audited with its partner and whether it had expired, and on the
// change feed; revoking it again, or an unknown id, writes nothing.
func testRevokeCredential(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	live := newCredential(t, "live00000001", "acme")
	live.ExpiresAt = time.Now().Add(time.Hour)
	mustCreateCredential(t, s, live)
	expired := newCredential(t, "expired00001", "acme")
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	mustCreateCredential(t, s, expired)
	// The live key has been used: what RevokeCredential returns carries
	// its last use, as a read does.
	used := time.Now().Add(-time.Minute)
	if err := s.TouchCredentials(ctx, []store.Touch{{ID: live.ID, At: used, From: "192.0.2.9"}}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		id, expired string
	}{{"live00000001", "false"}, {"expired00001", "true"}} {
		at := time.Now().UTC().Truncate(time.Microsecond)
		e := ev("key.revoke", "", "")
		e.At, e.Reason, e.AuthMethod, e.Source, e.Note = at, "leaked", "operator_token", "127.0.0.1:1", "ticket 7"
		e.Detail = map[string]string{"kept": "yes"}
		audits, version := auditCount(t, s), lastVersion(t, s)
		got, err := s.RevokeCredential(ctx, tt.id, e)
		if err != nil {
			t.Fatalf("RevokeCredential(%s): %v", tt.id, err)
		}
		if !got.RevokedAt.Equal(at) || got.Version != 2 || got.PartnerID != "acme" {
			t.Errorf("RevokeCredential(%s) = %+v; want revoked at %v, version 2", tt.id, got, at)
		}
		stored, err := s.GetCredential(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(stored, got, equate); diff != "" {
			t.Errorf("RevokeCredential(%s) returned other than the stored row (-stored +returned):\n%s", tt.id, diff)
		}
		if n := auditCount(t, s); n != audits+1 {
			t.Errorf("revocation wrote %d audit events, want 1", n-audits)
		}
		a := lastAudit(t, s)
		want := partner.AuditEvent{ID: a.ID, At: at, Actor: e.Actor, Action: "key.revoke", PartnerID: "acme", CredentialID: tt.id,
			Reason: "leaked", AuthMethod: "operator_token", Source: "127.0.0.1:1", Note: "ticket 7",
			Detail: map[string]string{"kept": "yes", "expired": tt.expired}}
		if diff := cmp.Diff(want, a, equate); diff != "" {
			t.Errorf("audit of revoking %s (-want +got):\n%s", tt.id, diff)
		}
		if ch := lastChange(t, s); ch.Kind != store.KindCredential || ch.ID != tt.id || ch.Version != version+1 {
			t.Errorf("change = %+v, want credential %s at version %d", ch, tt.id, version+1)
		}

		audits, version = auditCount(t, s), lastVersion(t, s)
		if _, err := s.RevokeCredential(ctx, tt.id, e); !errors.Is(err, store.ErrRevoked) {
			t.Errorf("revoking %s again: %v, want ErrRevoked", tt.id, err)
		}
		if auditCount(t, s) != audits || lastVersion(t, s) != version {
			t.Errorf("revoking %s again wrote an audit event or a change", tt.id)
		}
		if again, _ := s.GetCredential(ctx, tt.id); !again.RevokedAt.Equal(at) || again.Version != 2 {
			t.Errorf("revoking %s again changed it: %+v", tt.id, again)
		}
	}

	audits, version := auditCount(t, s), lastVersion(t, s)
	if _, err := s.RevokeCredential(ctx, "nosuchkey001", ev("key.revoke", "", "")); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("revoking an unknown key: %v, want ErrNotFound", err)
	}
	if auditCount(t, s) != audits || lastVersion(t, s) != version {
		t.Error("revoking an unknown key wrote an audit event or a change")
	}
}
