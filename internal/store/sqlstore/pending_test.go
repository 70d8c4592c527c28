package sqlstore

import (
	"errors"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
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
