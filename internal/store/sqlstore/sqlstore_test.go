// Test strategy: the backend-neutral behaviour is the storetest suite, run
// here against a real SQLite file in t.TempDir() and a real PostgreSQL. The
// tests below cover what only this package can see: URL parsing and
// password redaction, connection settings (WAL, foreign keys), reopening a
// migrated file, the injected clock, concurrent migrations by several
// replicas, notifications across replicas and after the listener loses its
// connection, that no secret reaches the database file, and that a snapshot
// streams a million credentials.
//
// PostgreSQL tests need PARTNERGATE_TEST_POSTGRES, a URL of a server where
// the user may create databases, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. TestMain
// creates one throwaway database per run (partnergate_test_<random>) and
// drops it at the end; each store opened in it gets its own schema, so runs
// and tests never collide. Without the variable those tests skip.
package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/storetest"
)

const pgEnv = "PARTNERGATE_TEST_POSTGRES"

// pgURL is the URL of this run's throwaway database, or "" if PostgreSQL
// tests are off.
var pgURL string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	base := os.Getenv(pgEnv)
	if base == "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", pgEnv, secretFree(err, base))
		return 1
	}
	defer admin.Close()
	name := "partnergate_test_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintf(os.Stderr, "creating test database on %s: %v\n", Redact(base), secretFree(err, base))
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "dropping test database %s: %v\n", name, err)
		}
	}()
	u, err := url.Parse(base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: not a URL\n", pgEnv)
		return 1
	}
	u.Path = "/" + name
	pgURL = u.String()
	return m.Run()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openSQLiteT(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(testCtx(t), "sqlite://"+path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// requirePG skips t unless PostgreSQL tests are on.
func requirePG(t *testing.T) {
	t.Helper()
	if pgURL == "" {
		t.Skipf("PostgreSQL tests skipped: set %s to a server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", pgEnv)
	}
}

// pgSchemaURL creates a fresh schema in the test database and returns a URL
// whose connections use it.
func pgSchemaURL(t *testing.T) string {
	t.Helper()
	requirePG(t)
	schema := "s_" + randomHex(6)
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(testCtx(t), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	u, _ := url.Parse(pgURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openPGT(t *testing.T, rawURL string, opts Options) *Store {
	t.Helper()
	s, err := Open(testCtx(t), rawURL, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLiteT(t, filepath.Join(t.TempDir(), "store.db"), Options{})
	})
}

func TestPostgres(t *testing.T) {
	requirePG(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPGT(t, pgSchemaURL(t), Options{})
	})
}

func TestOpenRejectsBadURLs(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"empty", "", "unsupported scheme"},
		{"mysql", "mysql://root:hunter2@db/x", "unsupported scheme"},
		{"no-scheme-path", "/var/lib/partnergate.db", "unsupported scheme"},
		{"sqlite-single-slash", "sqlite:/tmp/x.db", "want sqlite:///abs/path"},
		{"sqlite-no-path", "sqlite://", "missing database file path"},
		{"sqlite-root", "sqlite:///", "missing database file path"},
		{"sqlite-memory", "sqlite://:memory:", "only a database file path"},
		{"sqlite-query", "sqlite:///tmp/x.db?_pragma=foreign_keys(0)", "query parameters"},
		{"sqlite-directory", "sqlite:///tmp/", "directory"},
		{"sqlite-user-info", "sqlite://u:hunter2@/tmp/x.db?x=1", "query parameters"},
		{"postgres-bad-port", "postgres://u:hunter2@host:notaport/db", "store URL"},
		{"postgres-bad-param", "postgres://u:hunter2@host/db?sslmode=sometimes", "store URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(testCtx(t), tc.url, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err %q reveals the password", err)
			}
		})
	}
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		// Port 1 on loopback: nothing listens, so the connection is refused.
		{"postgres-refused", "postgres://partner:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"},
		{"postgres-refused-query-password", "postgres://127.0.0.1:1/db?sslmode=disable&user=u&password=hunter2"},
		{"sqlite-missing-directory", "sqlite://" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(testCtx(t), tc.url, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, partner.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err %q reveals the password", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"user-password", "postgres://u:hunter2@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"query-password", "postgres://h/db?password=hunter2&user=u", "postgres://h/db?password=xxxxx&user=u"},
		{"no-password", "postgres://u@h/db", "postgres://u@h/db"},
		{"sqlite", "sqlite:///var/lib/x.db", "sqlite:///var/lib/x.db"},
		{"unparseable", "postgres://u:hunter2@h:%zz/db", "postgres://(unparseable URL)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSQLitePathForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name, url, file string
	}{
		{"absolute", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		{"relative", "sqlite://rel.db", filepath.Join(dir, "rel.db")},
		{"relative-subdir", "sqlite://./sub/../rel2.db", filepath.Join(dir, "rel2.db")},
		{"space-and-percent-literal", "sqlite://my db%41.db", filepath.Join(dir, "my db%41.db")},
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(testCtx(t), tc.url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := os.Stat(tc.file); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestSQLiteSettingsAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	ctx := testCtx(t)
	s, err := Open(ctx, "sqlite://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pragmas := []struct {
		db   *sql.DB
		name string
		want string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
	}
	for _, p := range pragmas {
		var got string
		if err := p.db.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
		}
	}
	p := &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}
	if err := s.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening applies no migration again and finds the data.
	s2 := openSQLiteT(t, path, Options{})
	if _, err := s2.GetPartner(ctx, "acme"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestInjectedClock checks that store-set times and the snapshot's expiry
// cut-off come from Options.Now.
func TestInjectedClock(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			testStart := time.Now()
			var now atomic.Pointer[time.Time]
			t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
			now.Store(&t0)
			opts := Options{Now: func() time.Time { return *now.Load() }}
			var s *Store
			if backend == "sqlite" {
				s = openSQLiteT(t, filepath.Join(t.TempDir(), "store.db"), opts)
			} else {
				s = openPGT(t, pgSchemaURL(t), opts)
			}
			ctx := testCtx(t)
			p := &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}
			if err := s.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
				t.Fatal(err)
			}
			if !p.CreatedAt.Equal(t0) {
				t.Errorf("CreatedAt = %v, want the clock's %v", p.CreatedAt, t0)
			}
			c := &partner.Credential{ID: "key-1", PartnerID: "acme", Digest: []byte{1}, PepperVersion: 1, ExpiresAt: t0.Add(time.Minute)}
			if err := s.CreateCredential(ctx, c, partner.AuditEvent{Action: "key.issue"}); err != nil {
				t.Fatal(err)
			}
			evs, err := s.ListAudit(ctx, store.AuditFilter{})
			if err != nil || len(evs) != 2 || !evs[1].At.Equal(t0) {
				t.Fatalf("audit = %+v, %v; want 2 events at %v", evs, err, t0)
			}
			// The change feed's times: SQLite's are this process's clock,
			// the injected one; PostgreSQL's are the database server's,
			// so every replica measures propagation against one clock.
			changes, err := s.Changes(ctx, 0, 0)
			if err != nil || len(changes) != 2 {
				t.Fatalf("Changes = %+v, %v; want 2", changes, err)
			}
			for _, ch := range changes {
				if backend == "sqlite" && !ch.At.Equal(t0) {
					t.Errorf("SQLite change %d At = %v, want the injected clock's %v", ch.Version, ch.At, t0)
				}
				if backend == "postgres" && (ch.At.Before(testStart.Add(-time.Second)) || ch.At.After(time.Now().Add(time.Second))) {
					t.Errorf("PostgreSQL change %d At = %v, want the database's clock, now (not the injected %v)", ch.Version, ch.At, t0)
				}
			}
			count := func() int {
				n := 0
				if _, err := s.Snapshot(ctx, store.Visitor{Credential: func(*partner.Credential) error { n++; return nil }}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(); n != 1 {
				t.Errorf("before expiry: snapshot has %d credentials, want 1", n)
			}
			t1 := t0.Add(time.Minute) // expiry is exclusive: usable strictly before ExpiresAt
			now.Store(&t1)
			if n := count(); n != 0 {
				t.Errorf("at expiry: snapshot has %d credentials, want 0", n)
			}
		})
	}
}

// TestGetCredentialsInChunks reads more ids than one query names.
func TestGetCredentialsInChunks(t *testing.T) {
	old := credentialsPerQuery
	credentialsPerQuery = 2
	t.Cleanup(func() { credentialsPerQuery = old })
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var s *Store
			if backend == "sqlite" {
				s = openSQLiteT(t, filepath.Join(t.TempDir(), "store.db"), Options{})
			} else {
				s = openPGT(t, pgSchemaURL(t), Options{})
			}
			ctx := testCtx(t)
			if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 5 {
				id := fmt.Sprintf("key-%d", i)
				if err := s.CreateCredential(ctx, &partner.Credential{ID: id, PartnerID: "acme", Digest: []byte{byte(i)}, PepperVersion: 1}, partner.AuditEvent{Action: "key.issue"}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id, "ghost-"+id)
			}
			got, err := s.GetCredentials(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, c := range got {
				seen[c.ID] = true
			}
			if len(got) != 5 || len(seen) != 5 {
				t.Errorf("GetCredentials of 10 ids, 5 stored, 2 a query = %d credentials (%v), want the 5", len(got), seen)
			}
		})
	}
}

// TestSQLiteNoSecretOnDisk stores a credential for a real key and checks
// the database files for the key's secret.
func TestSQLiteNoSecretOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	s := openSQLiteT(t, path, Options{})
	ctx := testCtx(t)
	f, _ := apikey.NewFormat(apikey.DefaultPrefix)
	k, err := f.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := apikey.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{7}, apikey.MinPepperLen)})
	if err != nil {
		t.Fatal(err)
	}
	digest, pv := h.Digest(k)
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	c := &partner.Credential{ID: k.ID(), PartnerID: "acme", Digest: digest, PepperVersion: pv}
	if err := s.CreateCredential(ctx, c, partner.AuditEvent{Action: "key.issue", CredentialID: k.ID(), Detail: map[string]string{"key": k.String()}}); err != nil {
		t.Fatal(err)
	}
	secret := k.Reveal()[len(f.Prefix())+apikey.IDLen+1:][:apikey.SecretLen]
	files, _ := filepath.Glob(path + "*")
	foundDigest := false
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s holds the key's secret", filepath.Base(name))
		}
		foundDigest = foundDigest || bytes.Contains(b, digest)
	}
	if !foundDigest {
		t.Error("digest not found on disk; the check above proves nothing")
	}
}

// TestPostgresConcurrentOpen starts several replicas at once on an empty
// schema: the advisory lock lets exactly one migrate, and all open.
func TestPostgresConcurrentOpen(t *testing.T) {
	u := pgSchemaURL(t)
	const n = 4
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(testCtx(t), u, Options{}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	var applied int
	if err := stores[0].r.QueryRowContext(testCtx(t), "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations, "migrations/postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("goose recorded %d applied migrations, want %d (each once)", applied, len(files))
	}
}

// waitSignal waits for a value on ch, failing t after a deadline.
func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no notification", what)
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// TestPostgresNotifyAcrossReplicas writes through one replica and expects
// the other's Notify to fire, also after its listener connection is killed.
func TestPostgresNotifyAcrossReplicas(t *testing.T) {
	u := pgSchemaURL(t)
	a := openPGT(t, u, Options{})
	b := openPGT(t, u, Options{})
	ctx := testCtx(t)
	waitFor(t, "b's listener", func() bool { return b.listenerPID.Load() != 0 })
	ch := b.Notify(ctx)
	drain(ch)

	write := func(id string) {
		t.Helper()
		p := &partner.Partner{ID: id, Tier: "standard", State: partner.Active}
		if err := a.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
			t.Fatal(err)
		}
	}
	write("acme")
	waitSignal(t, ch, "write on another replica")
	changes, err := b.Changes(ctx, 0, 0)
	if err != nil || len(changes) != 1 || changes[0].ID != "acme" {
		t.Fatalf("b.Changes = %+v, %v", changes, err)
	}

	// Kill b's LISTEN connection. It reconnects with backoff and signals
	// once on reconnecting, so readers catch up on what they missed.
	old := b.listenerPID.Load()
	if _, err := a.w.ExecContext(ctx, "SELECT pg_terminate_backend($1)", int64(old)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's listener to reconnect", func() bool {
		pid := b.listenerPID.Load()
		return pid != 0 && pid != old
	})
	waitSignal(t, ch, "listener reconnect")
	drain(ch)
	write("beta")
	waitSignal(t, ch, "write after reconnect")
}

// TestSnapshotStreamsMillion loads a million credentials straight into
// SQLite and walks them, checking the count and that the heap stays far
// below what holding them all would take. Under the race detector, which
// slows SQLite tenfold, it uses a tenth of the rows.
func TestSnapshotStreamsMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a million rows")
	}
	n := 1_000_000
	if raceEnabled {
		n = 100_000
		t.Logf("race detector on: %d credentials", n)
	}
	s := openSQLiteT(t, filepath.Join(t.TempDir(), "store.db"), Options{})
	ctx := testCtx(t)
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.w.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $1)
		INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes, created_at, version)
		SELECT 'key-' || i, 'acme', '', randomblob(32), 1, 'orders:read', 0, 1 FROM seq`, n)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var heap uint64
	if _, err := s.Snapshot(ctx, store.Visitor{Credential: func(c *partner.Credential) error {
		seen++
		if seen == n*9/10 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = ms.HeapAlloc
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("snapshot visited %d credentials, want %d", seen, n)
	}
	t.Logf("live heap %d MiB after %d of %d credentials", heap>>20, n*9/10, n)
	// Holding 900,000 credentials would take well over 100 MiB. (Under the
	// race detector the smaller walk does not tell the two apart.)
	if !raceEnabled && heap > 64<<20 {
		t.Errorf("live heap %d MiB late in the walk: rows are being held", heap>>20)
	}
}

// TestLongReadLetsOthersRun checks that a snapshot of many credentials
// yields its processor as it streams them: on one processor, a goroutine
// that runs whenever it can gets turns all along, about one each
// rowsPerYield rows (at least half that is asked: a yield that finds the
// other goroutine not yet back in the run queue returns to the reader).
// Without the yields, a reconcile of a million keys held the processor for
// seconds, and every Check waited.
func TestLongReadLetsOthersRun(t *testing.T) {
	const n = 20_000
	s := openSQLiteT(t, filepath.Join(t.TempDir(), "store.db"), Options{})
	ctx := testCtx(t)
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $1)
		INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes, created_at, version)
		SELECT 'key-' || i, 'acme', '', randomblob(32), 1, 'orders:read', 0, 1 FROM seq`, n); err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var turns atomic.Int64
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			turns.Add(1)
			runtime.Gosched()
		}
	}()
	seen := 0
	_, err := s.Snapshot(ctx, store.Visitor{Credential: func(*partner.Credential) error {
		seen++
		return nil
	}})
	stop.Store(true)
	<-done
	if err != nil || seen != n {
		t.Fatalf("Snapshot visited %d credentials (%v), want %d", seen, err, n)
	}
	if got, want := turns.Load(), int64(n/rowsPerYield/2); got < want {
		t.Errorf("another goroutine ran %d times while %d rows streamed, want at least %d: the read kept its processor", got, n, want)
	}
}
