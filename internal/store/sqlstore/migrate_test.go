package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
)

// TestLastUseMovesToItsOwnTable checks migration 00014 on both dialects:
// a store whose credentials carry their last use in their own row keeps
// every recorded use, and its address, once last use has a table of its
// own; a key never used still shows none; and migrating back down puts
// them into the credentials again.
func TestLastUseMovesToItsOwnTable(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "store.db")
		testLastUseMigration(t, sqlite, goose.DialectSQLite3, "migrations/sqlite", func() (*sql.DB, error) {
			return sql.Open("sqlite", sqliteDSN(path, true))
		}, "sqlite://"+path)
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgSchemaURL(t)
		testLastUseMigration(t, postgres, goose.DialectPostgres, "migrations/postgres", func() (*sql.DB, error) {
			return sql.Open("pgx", u)
		}, u)
	})
}

func testLastUseMigration(t *testing.T, d dialect, gd goose.Dialect, dir string, raw func() (*sql.DB, error), storeURL string) {
	ctx := testCtx(t)
	used := time.Date(2026, 5, 1, 9, 30, 0, 123456000, time.UTC)
	db, err := raw()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	provider := func() *goose.Provider {
		fsys, err := fs.Sub(migrations, dir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(gd, db, fsys, goose.WithDisableGlobalRegistry(true))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := provider().UpTo(ctx, 13); err != nil {
		t.Fatalf("migrating up to 13: %v", err)
	}
	created := d.arg(time.Unix(0, 0))
	exec(ctx, t, db, `INSERT INTO partners (id, tier, state, created_at, updated_at, version) VALUES ('acme', 'standard', 'active', $1, $1, 1)`, created)
	for _, id := range []string{"used", "unused"} {
		exec(ctx, t, db, `INSERT INTO credentials (id, partner_id, digest, pepper_version, created_at, version) VALUES ($1, 'acme', $2, 1, $3, 1)`, id, make([]byte, 32), created)
	}
	exec(ctx, t, db, `UPDATE credentials SET last_used_at = $1, last_used_from = '203.0.113.7' WHERE id = 'used'`, d.arg(used))

	s, err := Open(ctx, storeURL, Options{})
	if err != nil {
		t.Fatalf("Open (migrating to the latest): %v", err)
	}
	for _, want := range []struct {
		id   string
		at   time.Time
		from string
	}{{"used", used, "203.0.113.7"}, {"unused", time.Time{}, ""}} {
		c, err := s.GetCredential(ctx, want.id)
		if err != nil {
			t.Fatal(err)
		}
		if !c.LastUsedAt.Equal(want.at) || c.LastUsedFrom != want.from {
			t.Errorf("%s after the migration: last use %v from %q, want %v from %q", want.id, c.LastUsedAt, c.LastUsedFrom, want.at, want.from)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := provider().DownTo(ctx, 13); err != nil {
		t.Fatalf("migrating down to 13: %v", err)
	}
	var from sql.NullString
	at := timeCol{new(time.Time)}
	if err := db.QueryRowContext(ctx, `SELECT last_used_at, last_used_from FROM credentials WHERE id = 'used'`).Scan(at, &from); err != nil {
		t.Fatal(err)
	}
	if !at.t.Equal(used) || from.String != "203.0.113.7" {
		t.Errorf("after migrating down: last use %v from %q, want %v from 203.0.113.7", *at.t, from.String, used)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM credentials WHERE last_used_at IS NULL AND id = 'unused'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("after migrating down, the unused key: %d rows without last use (%v), want 1", n, err)
	}
}

func exec(ctx context.Context, t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
