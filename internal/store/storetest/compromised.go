package storetest

import (
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/store"
)

// testCompromised: a key marked compromised reads back so, on the change
// feed, and an update that carries no mark (an admin write from an older
// read) never clears it — a leaked secret stays leaked.
func testCompromised(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	c := mustCreateCredential(t, s, newCredential(t, "AAAAAAAAAAAA", "acme"))
	if c.Compromised() {
		t.Fatal("a new key is compromised")
	}
	stale := *c // an admin's read from before the report
	before := lastVersion(t, s)

	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	c.RevokedAt, c.CompromisedAt = at, at
	if err := s.UpdateCredential(ctx, c, ev("key.revoke", "acme", c.ID)); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	if lastVersion(t, s) <= before {
		t.Error("marking a key compromised left no change-feed entry")
	}
	got, err := s.GetCredential(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Truncate(time.Microsecond); !got.CompromisedAt.Equal(want) || !c.CompromisedAt.Equal(want) {
		t.Errorf("CompromisedAt = %v (argument %v), want %v", got.CompromisedAt, c.CompromisedAt, want)
	}

	// The stale copy's write fails on its version; re-read and clear, as a
	// careless caller might: the mark survives.
	got.CompromisedAt = time.Time{}
	got.Name = "renamed"
	if err := s.UpdateCredential(ctx, got, ev("key.update", "acme", c.ID)); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	again, err := s.GetCredential(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Compromised() {
		t.Error("an update without the mark cleared CompromisedAt")
	}
	if stale.Compromised() {
		t.Error("the stale copy changed")
	}
	list, err := s.ListCredentials(ctx, "acme")
	if err != nil || len(list) != 1 || !list[0].Compromised() {
		t.Errorf("ListCredentials = %v, %v; want the one key, compromised", list, err)
	}
}
