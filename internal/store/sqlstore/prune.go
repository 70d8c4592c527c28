package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// prunedMeta is the meta setting that holds the newest change-feed version
// pruned: a reader behind it has missed entries.
const prunedMeta = "feed_pruned_through"

// PruneChanges deletes change-feed entries older than before, always
// keeping the newest; see [store.Store.PruneChanges].
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var through sql.NullInt64
	// The newest entry stays: a snapshot's version is the newest entry's,
	// and it must never fall behind what was pruned.
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM changes
		WHERE at < $1 AND version < (SELECT MAX(version) FROM changes)`, s.d.arg(norm(before))).Scan(&through); err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	if !through.Valid {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE version <= $1`, through.Int64)
	if err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	prev, err := prunedThrough(ctx, tx)
	if err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	if through.Int64 > prev {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, prunedMeta, strconv.FormatInt(through.Int64, 10)); err != nil {
			return 0, s.wrap("pruning changes", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, s.wrap("pruning changes", err)
	}
	return n, nil
}

// prunedThrough returns the newest pruned version, 0 if none was.
func prunedThrough(ctx context.Context, q querier) (int64, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, prunedMeta).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: meta %s = %q: %w", prunedMeta, v, err)
	}
	return n, nil
}

// auditHorizonMeta is the meta setting below which audit events may be
// deleted, in Unix microseconds; the database's delete trigger reads it.
const auditHorizonMeta = "audit_retained_from"

// PruneAudit deletes audit events older than before; see
// [store.Store.PruneAudit].
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	before = norm(before)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap("pruning the audit trail", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var cur string
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, auditHorizonMeta).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, s.wrap("pruning the audit trail", err)
	}
	horizon := before.UnixMicro()
	if prev, perr := strconv.ParseInt(cur, 10, 64); perr == nil && prev > horizon {
		horizon = prev // the horizon only moves forward
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, auditHorizonMeta, strconv.FormatInt(horizon, 10)); err != nil {
		return 0, s.wrap("pruning the audit trail", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE at < $1`, s.d.arg(time.UnixMicro(horizon).UTC()))
	if err != nil {
		return 0, s.wrap("pruning the audit trail", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap("pruning the audit trail", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.wrap("pruning the audit trail", err)
	}
	return n, nil
}
