package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// testTouch checks that recording last use stores time and source, keeps
// the latest of out-of-order touches, ignores unknown ids, and leaves no
// trace elsewhere: no audit event, no change-feed entry, no version bump.
func testTouch(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	c := mustCreateCredential(t, s, newCredential(t, "k1", "acme"))
	mustCreateCredential(t, s, newCredential(t, "k2", "acme"))
	version := lastVersion(t, s)
	audits, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}

	t1 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	t0 := t1.Add(-time.Hour)
	err = s.TouchCredentials(ctx, []store.Touch{
		{ID: "k1", At: t1, From: "203.0.113.7"},
		{ID: "no-such-key", At: t1, From: "203.0.113.8"},
	})
	if err != nil {
		t.Fatalf("TouchCredentials: %v", err)
	}
	// An older touch, say from a replica that flushed late, changes nothing.
	if err := s.TouchCredentials(ctx, []store.Touch{{ID: "k1", At: t0, From: "198.51.100.1"}}); err != nil {
		t.Fatalf("TouchCredentials(older): %v", err)
	}
	got, err := s.GetCredential(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if want := t1.Truncate(time.Microsecond); !got.LastUsedAt.Equal(want) || got.LastUsedFrom != "203.0.113.7" {
		t.Errorf("last use = %v from %q, want %v from 203.0.113.7", got.LastUsedAt, got.LastUsedFrom, want)
	}
	if got.Version != c.Version {
		t.Errorf("Version = %d after a touch, want %d unchanged", got.Version, c.Version)
	}
	other, err := s.GetCredential(ctx, "k2")
	if err != nil {
		t.Fatal(err)
	}
	if !other.LastUsedAt.IsZero() || other.LastUsedFrom != "" {
		t.Errorf("untouched key shows last use %v from %q", other.LastUsedAt, other.LastUsedFrom)
	}
	if v := lastVersion(t, s); v != version {
		t.Errorf("change feed moved from %d to %d on a touch", version, v)
	}
	after, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(audits) {
		t.Errorf("audit events: %d before a touch, %d after", len(audits), len(after))
	}
	if err := s.TouchCredentials(ctx, nil); err != nil {
		t.Errorf("TouchCredentials(nil) = %v", err)
	}

	// One batch of several keys: each gets its own time and address; an
	// empty address is stored as none, an overlong one cut, and a touch
	// with no time changes nothing.
	c3 := mustCreateCredential(t, s, newCredential(t, "k3", "acme"))
	mustCreateCredential(t, s, newCredential(t, "k4", "acme"))
	t2 := t1.Add(time.Minute)
	long := strings.Repeat("9", 100)
	err = s.TouchCredentials(ctx, []store.Touch{
		{ID: "k2", At: t2, From: "192.0.2.2"},
		{ID: "k3", At: t2.Add(time.Second), From: ""},
		{ID: "k1", At: t2.Add(2 * time.Second), From: long},
		{ID: "k4", From: "192.0.2.4"},
	})
	if err != nil {
		t.Fatalf("TouchCredentials(batch): %v", err)
	}
	for _, want := range []struct {
		id, from string
		at       time.Time
	}{
		{"k2", "192.0.2.2", t2},
		{"k3", "", t2.Add(time.Second)},
		{"k1", long[:64], t2.Add(2 * time.Second)},
		{"k4", "", time.Time{}},
	} {
		got, err := s.GetCredential(ctx, want.id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastUsedAt.Equal(want.at.Truncate(time.Microsecond)) || got.LastUsedFrom != want.from {
			t.Errorf("%s: last use %v from %q, want %v from %q", want.id, got.LastUsedAt, got.LastUsedFrom, want.at, want.from)
		}
	}
	if got, _ := s.GetCredential(ctx, "k3"); got.Version != c3.Version {
		t.Errorf("k3 version %d after a touch, want %d", got.Version, c3.Version)
	}

	// One key twice in a batch, either way round: the later use is kept.
	t3 := t2.Add(time.Hour)
	err = s.TouchCredentials(ctx, []store.Touch{
		{ID: "k2", At: t3, From: "192.0.2.30"},
		{ID: "k2", At: t3.Add(-time.Second), From: "192.0.2.29"},
		{ID: "k3", At: t3.Add(-time.Second), From: "192.0.2.29"},
		{ID: "k3", At: t3, From: "192.0.2.30"},
	})
	if err != nil {
		t.Fatalf("TouchCredentials(one key twice): %v", err)
	}
	for _, id := range []string{"k2", "k3"} {
		if got, _ := s.GetCredential(ctx, id); !got.LastUsedAt.Equal(t3.Truncate(time.Microsecond)) || got.LastUsedFrom != "192.0.2.30" {
			t.Errorf("%s touched twice in a batch: last use %v from %q, want %v from 192.0.2.30", id, got.LastUsedAt, got.LastUsedFrom, t3)
		}
	}

	// The unknown id touched above left nothing behind: a key created
	// with that id later has never been used.
	mustCreateCredential(t, s, newCredential(t, "no-such-key", "acme"))
	late, err := s.GetCredential(ctx, "no-such-key")
	if err != nil {
		t.Fatal(err)
	}
	if !late.LastUsedAt.IsZero() || late.LastUsedFrom != "" {
		t.Errorf("a key created after a touch of its unknown id shows last use %v from %q", late.LastUsedAt, late.LastUsedFrom)
	}
}

// testUpdateKeepsNewerUse checks that an update made from a credential
// read before a last-use flush does not write the older last use back: a
// key revoked or renamed by an operator keeps the use recorded meanwhile.
func testUpdateKeepsNewerUse(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	c := newCredential(t, "k1", "acme")
	c.LastUsedAt = t0
	mustCreateCredential(t, s, c)
	read, err := s.GetCredential(ctx, "k1") // an operator's view, last use t0
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TouchCredentials(ctx, []store.Touch{{ID: "k1", At: t1, From: "203.0.113.7"}}); err != nil {
		t.Fatal(err)
	}
	read.Name = "renamed"
	if err := s.UpdateCredential(ctx, read, ev("key.update", "acme", "k1")); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	got, err := s.GetCredential(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || !got.LastUsedAt.Equal(t1) || got.LastUsedFrom != "203.0.113.7" {
		t.Errorf("after the update: name %q, last use %v from %q; want renamed, %v from 203.0.113.7", got.Name, got.LastUsedAt, got.LastUsedFrom, t1)
	}
	// A later last use given to an update is stored.
	got.LastUsedAt = t1.Add(time.Minute)
	if err := s.UpdateCredential(ctx, got, ev("key.update", "acme", "k1")); err != nil {
		t.Fatal(err)
	}
	if again, err := s.GetCredential(ctx, "k1"); err != nil || !again.LastUsedAt.Equal(t1.Add(time.Minute)) {
		t.Errorf("last use after a later update = %v (%v), want %v", again.LastUsedAt, err, t1.Add(time.Minute))
	}
}

// testUnused checks the stale-keys query across partners: never-used keys
// count from creation; recently used, revoked and expired keys are left
// out; the least recently used come first.
func testUnused(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "globex")
	for _, id := range []string{"old-used", "fresh", "never", "revoked", "expired"} {
		mustCreateCredential(t, s, newCredential(t, id, "acme"))
	}
	mustCreateCredential(t, s, newCredential(t, "other-partner", "globex"))
	now := time.Now()
	err := s.TouchCredentials(ctx, []store.Touch{
		{ID: "old-used", At: now.Add(-100 * 24 * time.Hour), From: "192.0.2.1"},
		{ID: "other-partner", At: now.Add(-200 * 24 * time.Hour), From: "192.0.2.2"},
		{ID: "fresh", At: now.Add(-time.Hour), From: "192.0.2.3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, change := range map[string]func(c *partner.Credential){
		"revoked": func(c *partner.Credential) { c.RevokedAt = now },
		"expired": func(c *partner.Credential) { c.ExpiresAt = now.Add(-time.Minute) },
	} {
		c, err := s.GetCredential(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		change(c)
		if err := s.UpdateCredential(ctx, c, ev("key.update", "acme", id)); err != nil {
			t.Fatal(err)
		}
	}

	ids := func(cs []*partner.Credential) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	got, err := s.ListUnusedCredentials(ctx, now.Add(-90*24*time.Hour))
	if err != nil {
		t.Fatalf("ListUnusedCredentials: %v", err)
	}
	if want := []string{"other-partner", "old-used"}; !equalStrings(ids(got), want) {
		t.Errorf("unused for 90 days = %v, want %v", ids(got), want)
	}
	if len(got) == 2 && got[1].LastUsedFrom != "192.0.2.1" {
		t.Errorf("LastUsedFrom = %q, want 192.0.2.1", got[1].LastUsedFrom)
	}
	// A cutoff in the future makes every live key unused, the never-used
	// one by its creation time (just now, after fresh's use an hour ago).
	got, err = s.ListUnusedCredentials(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"other-partner", "old-used", "fresh", "never"}; !equalStrings(ids(got), want) {
		t.Errorf("unused since a minute from now = %v, want %v", ids(got), want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
