package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

var _ store.Store = (*Store)(nil)

//go:embed migrations
var migrations embed.FS

// Options configures [Open]. The zero value of each field selects the
// default named beside it.
type Options struct {
	// Now is the clock used for store-set timestamps, audit times, SQLite's
	// change-feed times, and for deciding which credentials a snapshot
	// excludes as expired (default time.Now). PostgreSQL's change-feed
	// times are the database server's clock, shared by every replica.
	Now func() time.Time
	// MaxOpenConns bounds open database connections: on PostgreSQL the
	// whole pool (default 10), on SQLite the read-only pool (default 4);
	// SQLite always writes through exactly one more connection.
	MaxOpenConns int
	// Logger receives migration and notification-listener events
	// (default: discarded).
	Logger *slog.Logger
	// StartUnavailable, on PostgreSQL, makes an unreachable database at
	// Open not an error: Open returns a store whose calls fail with
	// [partner.ErrUnavailable] until, retrying in the background with
	// backoff, it has connected and applied migrations. A replica can then
	// start, bind its ports and report not-ready while its database is
	// down. Other errors (a bad URL, a refused password) still fail Open.
	StartUnavailable bool
}

func (o *Options) defaults(d dialect) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 4
		if d == postgres {
			o.MaxOpenConns = 10
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a [store.Store] on SQLite or PostgreSQL. Build it with [Open].
type Store struct {
	d   dialect
	w   *sql.DB // writes; on SQLite a single connection
	r   *sql.DB // reads; on PostgreSQL the same pool as w
	now func() time.Time
	log *slog.Logger
	hub hub

	stopListen  context.CancelFunc // nil unless a listener runs
	listenDone  chan struct{}
	listenerPID atomic.Uint32 // backend pid of the LISTEN connection; 0 if none
	// listenKick wakes a listener waiting out its backoff: the database
	// answered a feed read, so it is worth reconnecting now.
	listenKick  chan struct{}
	initPending atomic.Bool // PostgreSQL: connecting and migrating in the background
	closeOnce   sync.Once
	closeErr    error
}

// busyTimeout is how long an SQLite connection waits for a lock held by
// another connection (another process, or a checkpoint) before failing.
const busyTimeout = 5 * time.Second

// Open connects to the store at rawURL, applies pending schema migrations
// and returns the store. rawURL is sqlite:///abs/path.db,
// sqlite://relative/path.db, postgres://… or postgresql://…; errors never
// contain the URL's password. A database that cannot be reached yields an
// error wrapping [partner.ErrUnavailable].
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		path, err := sqlitePath(rawURL)
		if err != nil {
			return nil, err
		}
		opts.defaults(sqlite)
		return openSQLite(ctx, path, opts)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		opts.defaults(postgres)
		return openPostgres(ctx, rawURL, opts)
	default:
		return nil, fmt.Errorf("sqlstore: store URL %q: unsupported scheme; want sqlite:///path/file.db or postgres://…", Redact(rawURL))
	}
}

// sqlitePath returns the file path of a sqlite: URL.
func sqlitePath(rawURL string) (string, error) {
	rest, ok := strings.CutPrefix(rawURL, "sqlite://")
	if !ok {
		return "", fmt.Errorf("sqlstore: store URL %q: want sqlite:///abs/path/file.db or sqlite://relative/file.db", shown(rawURL))
	}
	rawURL = shown(rawURL)
	switch {
	case rest == "" || rest == "/":
		return "", fmt.Errorf("sqlstore: store URL %q: missing database file path", rawURL)
	case strings.ContainsAny(rest, "?#"):
		// Connection settings are fixed here (WAL, busy timeout, foreign
		// keys); letting a URL override them would weaken the store.
		return "", fmt.Errorf("sqlstore: store URL %q: query parameters and fragments are not supported", rawURL)
	case rest == ":memory:" || strings.HasPrefix(rest, "file:"):
		return "", fmt.Errorf("sqlstore: store URL %q: only a database file path is supported", rawURL)
	case strings.HasSuffix(rest, "/"):
		return "", fmt.Errorf("sqlstore: store URL %q: path names a directory, not a database file", rawURL)
	}
	return rest, nil
}

// sqliteDSN returns the modernc.org/sqlite DSN for path. The writer takes
// BEGIN IMMEDIATE so a write transaction holds the write lock from its start
// and never fails half-way when upgrading a read lock.
func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	// A plain path, not a file: URI, so that '%' and spaces in it are
	// taken literally.
	return path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{d: sqlite, w: w, now: opts.Now, log: opts.Logger}
	s.hub.init()
	if err := s.w.PingContext(ctx); err != nil {
		w.Close()
		return nil, s.wrap("opening "+path, err)
	}
	if err := s.migrate(ctx, goose.DialectSQLite3, "migrations/sqlite"); err != nil {
		w.Close()
		return nil, err
	}
	// Readers open after the writer has switched the file to WAL.
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxOpenConns)
	r.SetMaxIdleConns(opts.MaxOpenConns)
	s.r = r
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, s.wrap("opening "+path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	redacted := Redact(rawURL)
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: store URL %q: %s", redacted, scrub(err.Error(), rawURL))
	}
	// Ping a pooled connection before reuse when its socket is not quiet
	// or it has been idle a while (pgx alone pings only after a second
	// idle); see shouldPing.
	db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing))
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{d: postgres, w: db, r: db, now: opts.Now, log: opts.Logger, listenKick: make(chan struct{}, 1)}
	s.hub.init()
	if err := s.initPostgres(ctx, rawURL); err != nil {
		if !opts.StartUnavailable || !errors.Is(err, partner.ErrUnavailable) {
			db.Close()
			return nil, err
		}
		return s.startPending(cfg, rawURL, err), nil
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	s.listenDone = make(chan struct{})
	go s.listen(lctx, listenerConfig(cfg), rawURL)
	return s, nil
}

// migrationLockID is the PostgreSQL advisory lock that serialises
// migrations across replicas starting at once.
const migrationLockID = 0x7061727467617465 // "partgate"

func (s *Store) migrate(ctx context.Context, d goose.Dialect, dir string) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	popts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(s.log.With("component", "migrations")),
	}
	if s.d == postgres {
		// Replicas starting together queue on a session advisory lock, so
		// exactly one applies each migration. Retry every second for up to
		// five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("sqlstore: migrations: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d, s.w, fsys, popts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return s.wrap("applying migrations", err)
	}
	for _, r := range results {
		s.log.Info("schema migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Ping reports whether the store is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return s.wrap("ping", err)
		}
	}
	return nil
}

// Close stops the notification listener and closes the database. Channels
// from [Store.Notify] receive nothing more and still close when their
// context is done.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.hub.shut()
		if s.stopListen != nil {
			s.stopListen()
			<-s.listenDone
		}
		var errs []error
		if s.r != nil && s.r != s.w {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Redact returns rawURL with any password replaced by "xxxxx", for errors
// and logs. A string that does not parse as a URL is reduced to its scheme.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		scheme, _, ok := strings.Cut(rawURL, ":")
		if !ok || strings.ContainsAny(scheme, "/@ ") {
			return "(unparseable URL)"
		}
		return scheme + "://(unparseable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// shown returns a sqlite: URL as errors show it: as given, unless it has
// user info, which a sqlite URL has no use for but might still carry a
// password.
func shown(rawURL string) string {
	if strings.Contains(rawURL, "@") {
		return Redact(rawURL)
	}
	return rawURL
}

// passwords returns the passwords a URL carries, in the user info or the
// query string.
func passwords(rawURL string) []string {
	var out []string
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw, url.PathEscape(pw), url.QueryEscape(pw))
	}
	for _, pw := range u.Query()["password"] {
		if pw != "" {
			out = append(out, pw, url.QueryEscape(pw))
		}
	}
	return out
}

// scrub removes rawURL's password from msg.
func scrub(msg, rawURL string) string {
	for _, pw := range passwords(rawURL) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// secretFree returns err, or an equivalent error whose message omits
// rawURL's password; errors.Is and errors.As still see the original.
func secretFree(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrub(msg, rawURL); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// errNotFound builds a not-found error naming what is missing.
func errNotFound(what, id string) error {
	return fmt.Errorf("sqlstore: %s %q: %w", what, id, partner.ErrNotFound)
}
