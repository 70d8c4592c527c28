package expiry_test

// Test strategy: the watcher runs over a real SQLite store with the
// store's and the watcher's clocks injected, so each rule is driven across
// its boundary in time: the 7- and 30-day counts by partner, one warning a
// day per key inside the window (not two in the same day, again the next),
// and one audit event when a key expires unrotated.

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/clocktest"
	"github.com/partnergate/partnergate/internal/expiry"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

func TestWatcher(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "pg.db"), sqlstore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev := partner.AuditEvent{Actor: "test", Action: "x"}
	for _, id := range []string{"acme", "globex"} {
		if err := st.CreatePartner(ctx, &partner.Partner{ID: id, Tier: "gold", State: partner.Active}, ev); err != nil {
			t.Fatal(err)
		}
	}
	key := func(id, pid string, life time.Duration) {
		d := make([]byte, 32)
		rand.Read(d)
		c := &partner.Credential{ID: id, PartnerID: pid, Digest: d, PepperVersion: 1, ExpiresAt: clk.Now().Add(life)}
		if err := st.CreateCredential(ctx, c, ev); err != nil {
			t.Fatal(err)
		}
	}
	key("aaaaaaaaaaa1", "acme", 3*24*time.Hour)    // inside the week
	key("aaaaaaaaaaa2", "acme", 20*24*time.Hour)   // inside the month
	key("bbbbbbbbbbb1", "globex", 25*24*time.Hour) // inside the month
	key("bbbbbbbbbbb2", "globex", 90*24*time.Hour) // outside both

	logs := &logtest.Buffer{}
	w := &expiry.Watcher{Store: st, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if err := w.Look(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]expiry.Counts{"acme": {Week: 1, Month: 2}, "globex": {Week: 0, Month: 1}}
	if got := w.Counts(); len(got) != 2 || got["acme"] != want["acme"] || got["globex"] != want["globex"] {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if n := strings.Count(logs.String(), "expires soon"); n != 1 || !strings.Contains(logs.String(), "key_id=aaaaaaaaaaa1") {
		t.Errorf("%d warnings, want one for aaaaaaaaaaa1:\n%s", n, logs.String())
	}

	clk.Advance(time.Hour)
	if err := w.Look(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "expires soon"); n != 1 {
		t.Errorf("an hour later: %d warnings, want still one (once a day)", n)
	}
	clk.Advance(24 * time.Hour)
	if err := w.Look(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "expires soon"); n != 2 {
		t.Errorf("a day later: %d warnings, want two", n)
	}

	clk.Advance(3 * 24 * time.Hour) // aaaaaaaaaaa1 has expired, unrotated
	if err := w.Look(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Look(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var expired []string
	for _, e := range evs {
		if e.Action == "key.expire" {
			expired = append(expired, e.CredentialID+"/"+e.Actor)
		}
	}
	if len(expired) != 1 || expired[0] != "aaaaaaaaaaa1/"+expiry.Actor {
		t.Errorf("expiry audit events = %v, want one for aaaaaaaaaaa1 by %s", expired, expiry.Actor)
	}
	if got := w.Counts()["acme"]; got != (expiry.Counts{Week: 0, Month: 1}) {
		t.Errorf("acme after the expiry = %+v", got)
	}
}
