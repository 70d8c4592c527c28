package loadgen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// TempDatabase creates a throwaway database, pgload_<random>, on the
// PostgreSQL server of serverURL (a user that may create databases), and
// returns its URL and a function that drops it, with any connection left
// open.
func TempDatabase(ctx context.Context, serverURL string) (dbURL string, drop func() error, err error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("loadgen: PostgreSQL server URL %q: want postgres://…", sqlstore.Redact(serverURL))
	}
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pgload_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("loadgen: creating database on %s: %w", sqlstore.Redact(serverURL), err)
	}
	drop = func() error {
		defer admin.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.ExecContext(dctx, "DROP DATABASE "+name+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// SeededPG is a PostgreSQL store filled by [SeedPostgres].
type SeededPG struct {
	Seeded
	// Spare are the full keys of the seeded credentials past the hot
	// ones: keys no traffic uses, to be revoked. Secrets of a throwaway
	// store.
	Spare []apikey.Key
}

// SeedPostgres fills the migrated-on-open PostgreSQL database at dbURL as
// [Seed] fills SQLite: one active partner and n active credentials
// (inserted with SQL, 1,000 rows a statement, in one transaction), with
// a pepper file in dir. The first hot keys are returned in Hot, the rest
// in Spare.
func SeedPostgres(ctx context.Context, dir, dbURL string, format apikey.Format, n, hot int) (*SeededPG, error) {
	start := time.Now()
	pepperPath, hasher, err := seedStore(ctx, dir, dbURL)
	if err != nil {
		return nil, err
	}

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	s := &SeededPG{Seeded: Seeded{StoreURL: dbURL, PepperFile: pepperPath, Keys: n}}
	created := time.Now().UTC().Truncate(time.Microsecond)
	const perStatement = 1000
	var q strings.Builder
	args := make([]any, 0, 3*perStatement+2)
	for off := 0; off < n; off += perStatement {
		q.Reset()
		q.WriteString(`INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes, created_at, version) VALUES `)
		args = append(args[:0], SeedPartner, Scope, created)
		for i := off; i < min(off+perStatement, n); i++ {
			k, err := format.Generate(rand.Reader)
			if err != nil {
				return nil, err
			}
			digest, _ := hasher.Digest(k)
			if i > off {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $1, '', $%d, 1, $2, $3, 1)", len(args)+1, len(args)+2)
			args = append(args, k.ID(), digest)
			if i < hot {
				s.Hot = append(s.Hot, k)
			} else {
				s.Spare = append(s.Spare, k)
			}
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return nil, fmt.Errorf("seed: credentials from %d: %w", off, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s.Took = time.Since(start)
	return s, nil
}
