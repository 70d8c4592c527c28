// Package sqlstore implements [store.Store] on database/sql, for two
// backends chosen by the URL given to [Open]:
//
//   - sqlite:///abs/path/file.db (or sqlite://relative/file.db): embedded
//     SQLite through the pure-Go modernc.org/sqlite driver, in WAL mode with
//     a busy timeout and foreign keys on. One process owns the file.
//   - postgres://… or postgresql://…: PostgreSQL through pgx, shared by
//     many replicas.
//
// # What it owns
//
// The schema and its versioned migrations (embedded, one directory per
// dialect, applied by goose at Open; on PostgreSQL under an advisory lock so
// replicas that start together migrate once); the mapping between domain
// values and rows; the change feed (the changes table, whose versions commit
// in increasing order on both backends); and change notifications: an
// in-process broadcast after each commit, plus LISTEN/NOTIFY across replicas
// on PostgreSQL.
//
// Every write commits the entity, its audit event and its change-feed row in
// one transaction. Errors are mapped to the domain's sentinels: unique
// violations to [partner.ErrExists], lost optimistic races to
// [partner.ErrConflict], missing rows (and credentials of unknown partners)
// to [partner.ErrNotFound], and lost or refused connections to
// [partner.ErrUnavailable].
//
// # What it must not do
//
// It must not be called on the Check hot path, must not hold or log a
// secret (credentials are stored as digests only) and must never put the
// password of a database URL in an error or a log line. It holds no domain
// rules beyond what integrity needs: callers validate partners, scopes and
// transitions before writing.
//
// # Concurrency
//
// A [*Store] is safe for concurrent use. On SQLite all writes go through a
// single connection (SQLite admits one writer at a time anyway, and a single
// connection turns lock contention into an orderly queue), while reads use a
// small pool of read-only connections that WAL lets run beside the writer.
// On PostgreSQL one pool serves both, and a dedicated connection listens for
// notifications, reconnecting with backoff. With [Options.StartUnavailable]
// a PostgreSQL store opened while its database is down connects and
// migrates in the background, failing every call with
// [partner.ErrUnavailable] until then. Package pgtest holds the helpers
// tests use against a real PostgreSQL.
package sqlstore
