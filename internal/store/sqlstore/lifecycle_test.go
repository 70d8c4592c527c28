package sqlstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// TestAuditStaysAppendOnly: past the retention horizon the database
// allows deletes; within it, a delete or an update is refused by the
// database itself, on both backends.
func TestAuditStaysAppendOnly(t *testing.T) {
	backends := map[string]func(t *testing.T) *Store{
		"sqlite": func(t *testing.T) *Store { return openSQLiteT(t, filepath.Join(t.TempDir(), "s.db"), Options{}) },
	}
	if pgURL != "" {
		backends["postgres"] = func(t *testing.T) *Store { return openPGT(t, pgSchemaURL(t), Options{}) }
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := testCtx(t)
			old := partner.AuditEvent{Actor: "a", Action: "x", At: time.Now().Add(-48 * time.Hour)}
			recent := partner.AuditEvent{Actor: "a", Action: "y"}
			for _, e := range []partner.AuditEvent{old, recent} {
				if err := s.RecordAudit(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_events`); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("a delete before any retention = %v, want refused", err)
			}
			if n, err := s.PruneAudit(ctx, time.Now().Add(-24*time.Hour)); err != nil || n != 1 {
				t.Fatalf("PruneAudit = %d, %v", n, err)
			}
			if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_events WHERE action = 'y'`); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("a delete inside the retention = %v, want refused", err)
			}
			if _, err := s.w.ExecContext(ctx, `UPDATE audit_events SET actor = 'b'`); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("an update = %v, want refused", err)
			}
		})
	}
}

// TestDamagedAllowListIsCorruption: an allow-list the store cannot parse
// is reported as damage, never read as the empty list that allows every
// address.
func TestDamagedAllowListIsCorruption(t *testing.T) {
	s := openSQLiteT(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	ctx := testCtx(t)
	ev := partner.AuditEvent{Actor: "a", Action: "x"}
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "gold", State: partner.Active}, ev); err != nil {
		t.Fatal(err)
	}
	c := &partner.Credential{ID: "aaaaaaaaaaaa", PartnerID: "acme", Digest: []byte{1}, PepperVersion: 1}
	if err := s.CreateCredential(ctx, c, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE credentials SET allow_cidrs = 'everywhere'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCredential(ctx, c.ID); !errors.Is(err, partner.ErrCorrupt) {
		t.Errorf("GetCredential with a damaged allow-list = %v, want ErrCorrupt", err)
	}
}
