package sqlstore

import (
	"context"
	"database/sql"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// TestPostgresWriteDrawsNoVersionBeforeTheFeedLock holds the change
// feed's advisory lock from another session while a write runs: the write
// must wait for it without having drawn a change version, since a version
// drawn before the lock could become visible after a higher one, and a
// reader following the feed would skip it forever.
func TestPostgresWriteDrawsNoVersionBeforeTheFeedLock(t *testing.T) {
	requirePG(t)
	for _, tt := range []struct {
		name  string
		write func(ctx context.Context, s *Store) (string, error)
	}{
		{"create-partner", func(ctx context.Context, s *Store) (string, error) {
			return "globex", s.CreatePartner(ctx, &partner.Partner{ID: "globex", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"})
		}},
		{"revoke-credential", func(ctx context.Context, s *Store) (string, error) {
			_, err := s.RevokeCredential(ctx, "key000000001", partner.AuditEvent{Action: "key.revoke"})
			return "key000000001", err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { testFeedLockFirst(t, tt.write) })
	}
}

func testFeedLockFirst(t *testing.T, write func(ctx context.Context, s *Store) (string, error)) {
	db := pgtest.NewDatabase(t)
	s := openPGT(t, db, Options{})
	ctx := testCtx(t)
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCredential(ctx, &partner.Credential{ID: "key000000001", PartnerID: "acme", Digest: []byte{1}, PepperVersion: 1}, partner.AuditEvent{Action: "key.issue"}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lastVersion := func() int64 {
		t.Helper()
		var v int64
		if err := other.QueryRowContext(ctx, `SELECT pg_sequence_last_value(pg_get_serial_sequence('changes', 'version'))`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	holder, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback() //nolint:errcheck // released below
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(changesLockID)); err != nil {
		t.Fatal(err)
	}
	before := lastVersion()

	done := make(chan error, 1)
	var wrote string
	go func() {
		var err error
		wrote, err = write(ctx, s)
		done <- err
	}()
	waitFor(t, "the write to wait for the feed lock", func() bool {
		var n int
		err := other.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&n)
		return err == nil && n == 1
	})
	if got := lastVersion(); got != before {
		t.Errorf("change version drawn while the feed lock was held elsewhere: %d, was %d", got, before)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
	changes, err := s.Changes(ctx, before, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].ID != wrote || changes[0].Version <= before {
		t.Errorf("changes after %d = %+v, want %s's, above it", before, changes, wrote)
	}
}
