package sqlstore

import (
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// TestListenerReconnectsOnceTheStoreAnswers cuts a replica off from
// PostgreSQL with its listener's backoff made an hour long, so that only
// the database answering can bring the listener back before the test
// ends: once a feed read succeeds, the listener reconnects and a write on
// another replica arrives by notification again, not by the next poll.
func TestListenerReconnectsOnceTheStoreAnswers(t *testing.T) {
	requirePG(t)
	minB, maxB := listenMinBackoff, listenMaxBackoff
	listenMinBackoff, listenMaxBackoff = time.Hour, time.Hour
	t.Cleanup(func() { listenMinBackoff, listenMaxBackoff = minB, maxB })

	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, false)
	a := openPGT(t, db, Options{})
	b := openPGT(t, proxy.URL(db)+"&connect_timeout=2", Options{})
	ctx := testCtx(t)
	waitFor(t, "b's listener", func() bool { return b.listenerPID.Load() != 0 })
	notify := b.Notify(ctx)

	proxy.Down()
	waitFor(t, "b's listener to notice the outage", func() bool { return b.listenerPID.Load() == 0 })
	if _, err := b.Changes(ctx, 0, 1); err == nil {
		t.Fatal("feed read through a proxy that is down succeeded")
	}
	proxy.Up()
	// The poll that every replica runs anyway.
	waitFor(t, "b's feed to be readable", func() bool { _, err := b.Changes(ctx, 0, 1); return err == nil })
	waitFor(t, "b's listener to reconnect without waiting out its backoff", func() bool { return b.listenerPID.Load() != 0 })
	waitSignal(t, notify, "the reconnect's catch-up signal")
	drain(notify)

	p := &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}
	if err := a.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, notify, "a write on another replica after the outage")
}
