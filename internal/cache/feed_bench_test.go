package cache_test

import (
	"context"
	"database/sql"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// BenchmarkFeedSyncPostgres is what the change feed costs the replica
// that follows it: each op is one Sync that applies batch credential
// changes from a real PostgreSQL, through the store's own reads. The
// changes are committed, not timed, just before, in one statement that
// bumps each row's version and appends its feed entry as a store write
// does (a store write per change would make the benchmark minutes long). Besides ns/op (which
// includes the database's round trips) it reports this process's CPU per
// change applied, from getrusage around the Syncs alone: a batch of 1 is
// a notification per write, read as it comes.
func BenchmarkFeedSyncPostgres(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			dbURL := pgtest.NewDatabase(b)
			st, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			ev := partner.AuditEvent{Actor: "bench", Action: "key.update", PartnerID: "acme"}
			if err := st.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "gold", State: partner.Active, Scopes: partner.Scopes{"orders:read"}}, ev); err != nil {
				b.Fatal(err)
			}
			keys := make([]*partner.Credential, batch)
			for i := range keys {
				keys[i] = &partner.Credential{ID: fmt.Sprintf("k%011d", i), PartnerID: "acme", Scopes: partner.Scopes{"orders:read"}, Digest: digest(), PepperVersion: 1}
				if err := st.CreateCredential(ctx, keys[i], ev); err != nil {
					b.Fatal(err)
				}
			}
			c, err := cache.New(st, cache.Options{MissLookups: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			if err := c.Load(ctx); err != nil {
				b.Fatal(err)
			}
			db, err := sql.Open("pgx", dbURL)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := db.ExecContext(ctx, `WITH bumped AS (
						UPDATE credentials SET version = version + 1 RETURNING id)
					INSERT INTO changes (kind, id, at) SELECT 'credential', id, clock_timestamp() FROM bumped ORDER BY id`); err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime(b)
				b.StartTimer()
				if err := c.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - cpu0
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-µs/change")
		})
	}
}

// cpuTime returns this process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
