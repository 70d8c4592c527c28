package sqlstore

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// BenchmarkTouchCredentials writes last use as the recorder flushes it
// with 100,000 keys in use: each flush holds 8,192 of those keys, at
// random, sorted by id, and writes them 128 at a time, into the embedded
// store. Key ids are random, as issued ones are, so the credentials' rows
// are not in id order. The figures are per touch: ns/op is wall time,
// which includes waiting for the disk, and cpu-ns/op is the process's CPU
// (user and system), which is what a touch takes from Checks.
func BenchmarkTouchCredentials(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "pg.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := partner.AuditEvent{Actor: "bench", Action: "setup"}
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: partner.DefaultTier, State: partner.Active}, ev); err != nil {
		b.Fatal(err)
	}
	const keys, pending, batch = 100_000, 8192, 128
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $1)
		INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes, created_at, version)
		SELECT 'pgk_' || lower(hex(randomblob(8))), 'acme', 'a key', randomblob(32), 1, 'orders:read orders:write', 0, 1 FROM seq`, keys); err != nil {
		b.Fatal(err)
	}
	var ids []string
	rows, err := s.w.QueryContext(ctx, `SELECT id FROM credentials`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	touches := make([]store.Touch, pending)
	at := time.Now()
	var cpu int64
	b.ResetTimer()
	for n := 0; n < b.N; n += pending {
		b.StopTimer()
		at = at.Add(time.Second)
		for i := range touches {
			touches[i] = store.Touch{ID: ids[rand.IntN(len(ids))], At: at, From: "192.0.2.1"}
		}
		slices.SortFunc(touches, func(a, b store.Touch) int { return strings.Compare(a.ID, b.ID) })
		b.StartTimer()
		cpu -= cpuNanos()
		for i := 0; i < pending; i += batch {
			if err := s.TouchCredentials(ctx, touches[i:i+batch]); err != nil {
				b.Fatal(err)
			}
		}
		cpu += cpuNanos()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// cpuNanos returns the CPU the process has used, user and system.
func cpuNanos() int64 {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r) //nolint:errcheck // cannot fail with these arguments
	return r.Utime.Nano() + r.Stime.Nano()
}
