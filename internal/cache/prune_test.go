package cache_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// TestLaggingReplicaReloads: a replica whose feed version is older than
// what the store pruned cannot replay, so its next sync reloads a full
// snapshot, picking up a revocation and a narrowed grant it never saw on
// the feed, and follows the feed normally after. On SQLite and, when
// configured, PostgreSQL.
func TestLaggingReplicaReloads(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "pg.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, b.url(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ev := func(a string) partner.AuditEvent {
				return partner.AuditEvent{Actor: "test", Action: a, PartnerID: "acme"}
			}
			p := &partner.Partner{ID: "acme", Tier: "gold", State: partner.Active, Scopes: partner.Scopes{"orders:read", "orders:write"}}
			if err := st.CreatePartner(ctx, p, ev("partner.create")); err != nil {
				t.Fatal(err)
			}
			k := &partner.Credential{ID: "aaaaaaaaaaaa", PartnerID: "acme", Scopes: partner.Scopes{"orders:read"}, Digest: digest(), PepperVersion: 1,
				ExpiresAt: time.Now().Add(time.Hour)}
			if err := st.CreateCredential(ctx, k, ev("key.issue")); err != nil {
				t.Fatal(err)
			}
			logs := &logtest.Buffer{}
			c, err := cache.New(st, cache.Options{MissLookups: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := c.Load(ctx); err != nil {
				t.Fatal(err)
			}

			// Behind this replica's back: a revocation, a narrowed grant,
			// then the feed pruned past it.
			k.RevokedAt = time.Now()
			if err := st.UpdateCredential(ctx, k, ev("key.revoke")); err != nil {
				t.Fatal(err)
			}
			p.Scopes = partner.Scopes{"orders:read"}
			if err := st.UpdatePartner(ctx, p, ev("partner.update")); err != nil {
				t.Fatal(err)
			}
			if n, err := st.PruneChanges(ctx, time.Now().Add(time.Hour)); err != nil || n == 0 {
				t.Fatalf("PruneChanges = %d, %v", n, err)
			}

			if err := c.Sync(ctx); err != nil {
				t.Fatalf("Sync of a replica behind the pruned feed: %v", err)
			}
			if c.FeedReloads() != 1 || !strings.Contains(logs.String(), "reloading a full snapshot") {
				t.Errorf("reloads = %d, log:\n%s", c.FeedReloads(), logs.String())
			}
			if rec, ok := c.Key(ctx, k.ID); ok && !rec.Revoked {
				t.Error("the revocation made while the feed was pruned is not in the cache")
			}
			if got, _ := c.Partner("acme"); got == nil || got.Scopes.String() != "orders:read" {
				t.Errorf("partner = %+v, want the narrowed grant", got)
			}

			p.Tier = "silver"
			if err := st.UpdatePartner(ctx, p, ev("partner.update")); err != nil {
				t.Fatal(err)
			}
			if err := c.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := c.Partner("acme"); got.Tier != "silver" || c.FeedReloads() != 1 {
				t.Errorf("after the reload the feed is not followed: tier %s, reloads %d", got.Tier, c.FeedReloads())
			}
		})
	}
}

func digest() []byte {
	d := make([]byte, 32)
	rand.Read(d)
	return d
}
