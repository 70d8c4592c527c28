package sqlstore

// Surviving an unreachable database at start and a connection lost in the
// middle of a write; both over a real PostgreSQL.

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// TestStartUnavailable opens a PostgreSQL store through a proxy that
// refuses every connection: with StartUnavailable, Open succeeds, every
// call fails with ErrUnavailable, and once the proxy forwards again the
// store migrates itself, wakes its readers and serves.
func TestStartUnavailable(t *testing.T) {
	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, true)
	ctx := testCtx(t)
	s, err := Open(ctx, proxy.URL(db)+"&connect_timeout=2", Options{StartUnavailable: true})
	if err != nil {
		t.Fatalf("Open with StartUnavailable: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	notify := s.Notify(ctx)
	if !s.Pending() {
		t.Fatal("store over a refusing proxy is not pending")
	}
	if _, err := s.GetPartner(ctx, "acme"); !errors.Is(err, partner.ErrUnavailable) {
		t.Fatalf("GetPartner while down: %v, want ErrUnavailable", err)
	}
	if _, err := Open(ctx, proxy.URL(db)+"&connect_timeout=2", Options{}); !errors.Is(err, partner.ErrUnavailable) {
		t.Fatalf("Open without StartUnavailable: %v, want ErrUnavailable", err)
	}

	proxy.Up()
	waitSignal(t, notify, "wake-up after the store came up")
	waitFor(t, "store migrated", func() bool { return !s.Pending() })
	p := &partner.Partner{ID: "acme", Tier: "standard", Scopes: partner.Scopes{"orders:read"}, State: partner.Active}
	if err := s.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatalf("CreatePartner after recovery: %v", err)
	}
	if _, err := s.GetPartner(ctx, "acme"); err != nil {
		t.Fatalf("GetPartner after recovery: %v", err)
	}
}

// TestWriteRetriesConnectionLostBeforeCommit kills a write's own backend
// in the middle of its transaction, as a failover does: the server rolled
// it back, so the store runs it again on a fresh connection, once, and the
// write lands exactly once.
func TestWriteRetriesConnectionLostBeforeCommit(t *testing.T) {
	s := openPGT(t, pgSchemaURL(t), Options{})
	ctx := testCtx(t)
	attempts := 0
	err := s.write(ctx, "test write", partner.AuditEvent{Action: "partner.create"}, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		attempts++
		if _, err := tx.ExecContext(ctx, `INSERT INTO partners (id, tier, scopes, state, created_at, updated_at, version)
			VALUES ('acme', 'standard', 'orders:read', 'active', $1, $1, 1)`, s.d.arg(ts)); err != nil {
			return nil, err
		}
		if attempts == 1 {
			_, err := tx.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return nil, err
		}
		return []touched{{store.KindPartner, "acme"}}, nil
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2", attempts)
	}
	if _, err := s.GetPartner(ctx, "acme"); err != nil {
		t.Fatalf("GetPartner: %v", err)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Errorf("%d audit events, want exactly 1", len(evs))
	}
}
