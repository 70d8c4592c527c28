package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// notifyChannel is the PostgreSQL NOTIFY channel of the change feed.
const notifyChannel = "partnergate_changes"

// changesLockID is the transaction-level advisory lock PostgreSQL writers
// hold from drawing a change version until they commit.
const changesLockID = 0x7067636867666565 // "pgchgfee"

// touched names an entity a write changed, for its change-feed row.
type touched struct {
	kind store.Kind
	id   string
}

// write runs fn in a write transaction and, in the same transaction,
// appends ev to the audit trail and one change-feed row per entity fn
// touched. fn receives the transaction's timestamp.
//
// A transaction whose connection is lost before COMMIT is sent was rolled
// back by the server, so it is run again, on a fresh connection, up to
// writeAttempts times in all: after a database restart or failover the
// pool's first connections are dead, and the write should not fail for
// that. One lost during COMMIT may have committed, and is not retried. fn
// must therefore only read its captured arguments, never change them.
func (s *Store) write(ctx context.Context, op string, ev partner.AuditEvent, fn func(tx *sql.Tx, now time.Time) ([]touched, error)) error {
	return s.writeWith(ctx, op, func(tx *sql.Tx, now time.Time) ([]touched, partner.AuditEvent, error) {
		changed, err := fn(tx, now)
		return changed, ev, err
	})
}

// writeWith is write for an audit event that fn returns, having read what
// it records in the transaction.
func (s *Store) writeWith(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) ([]touched, partner.AuditEvent, error)) error {
	for attempt := 1; ; attempt++ {
		committing, err := s.writeOnce(ctx, op, fn)
		if err != nil && !committing && attempt < writeAttempts &&
			errors.Is(err, partner.ErrUnavailable) && ctx.Err() == nil {
			s.log.Debug("store write lost its connection before commit; retrying", "op", op, "attempt", attempt, "err", err)
			continue
		}
		return err
	}
}

// writeAttempts bounds how often write runs one transaction.
const writeAttempts = 3

// writeOnce runs one attempt of write; committing reports whether the
// error came from COMMIT itself.
func (s *Store) writeOnce(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) ([]touched, partner.AuditEvent, error)) (committing bool, err error) {
	now := norm(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, s.wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	changed, ev, err := fn(tx, now)
	if err != nil {
		return false, s.wrap(op, err)
	}
	if s.d == postgres && len(changed) > 0 {
		err = s.appendAuditAndChanges(ctx, tx, ev, now, changed)
	} else {
		err = s.appendAudit(ctx, tx, ev, now)
		if err == nil {
			err = s.appendChanges(ctx, tx, changed)
		}
	}
	if err != nil {
		return false, s.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return true, s.wrap(op, err)
	}
	s.hub.broadcast()
	return false, nil
}

// insertAudit is the statement that appends an audit event, its values
// auditArgs's ten.
const insertAudit = `INSERT INTO audit_events (at, actor, action, partner_id, credential_id, reason, detail,
		auth_method, source, note)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// auditArgs returns the values insertAudit appends for ev, written at now.
func (s *Store) auditArgs(ev partner.AuditEvent, now time.Time) ([]any, error) {
	detail := []byte("{}")
	if len(ev.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(ev.Detail); err != nil {
			return nil, fmt.Errorf("encoding audit detail: %w", err)
		}
	}
	at := s.d.arg(now)
	if !ev.At.IsZero() {
		at = s.d.arg(ev.At)
	}
	return []any{at, ev.Actor, ev.Action, ev.PartnerID, ev.CredentialID, ev.Reason, string(detail),
		ev.AuthMethod, ev.Source, ev.Note}, nil
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, ev partner.AuditEvent, now time.Time) error {
	args, err := s.auditArgs(ev, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertAudit, args...); err != nil {
		return fmt.Errorf("appending audit event: %w", err)
	}
	return nil
}

// appendAuditAndChanges is appendAudit then appendChanges on PostgreSQL,
// in one statement, so one round trip: the audit insert, the feed's
// advisory lock, the change rows and the NOTIFY. The lock comes before
// the versions are drawn, as appendChanges requires: every change row is
// a row of a join with the lock's one-row result, so none exists, and no
// version is drawn for it, until the lock is held. The audit insert is
// not ordered against the lock, which it can keep held no longer than
// the insert takes: audit_events has no foreign keys, so the insert waits
// for no lock, and the lock's holder still waits for none.
func (s *Store) appendAuditAndChanges(ctx context.Context, tx *sql.Tx, ev partner.AuditEvent, now time.Time, changed []touched) error {
	args, err := s.auditArgs(ev, now)
	if err != nil {
		return err
	}
	kinds, ids := make([]string, len(changed)), make([]string, len(changed))
	for i, c := range changed {
		kinds[i], ids[i] = string(c.kind), c.id
	}
	args = append(args, int64(changesLockID), kinds, ids, notifyChannel)
	// The payload (the newest version) is informational.
	_, err = tx.ExecContext(ctx, `WITH audit AS (`+insertAudit+`),
		feed_lock AS (SELECT pg_advisory_xact_lock($11)),
		feed AS (
			INSERT INTO changes (kind, id, at)
			SELECT c.kind, c.id, clock_timestamp()
			FROM feed_lock, unnest($12::text[], $13::text[]) WITH ORDINALITY AS c (kind, id, n)
			ORDER BY c.n
			RETURNING version)
		SELECT pg_notify($14, max(version)::text) FROM feed`, args...)
	if err != nil {
		return fmt.Errorf("appending audit event and changes: %w", err)
	}
	return nil
}

// appendChanges inserts the change-feed rows and, on PostgreSQL, queues the
// notification that commits with them.
//
// Readers follow the feed with "version > last version applied", so a
// version must never become visible after a higher one: a reader that saw
// the higher one would skip the lower forever. On SQLite that holds by
// construction: a write transaction holds the database's single write lock
// (BEGIN IMMEDIATE) from before it draws a version until after it commits.
// On PostgreSQL an identity column alone does not: transaction A may draw 10
// and transaction B 11, and B commit first. So every writer first takes one
// transaction-level advisory lock, then draws its versions; the lock is
// released only after the commit is visible, so the next writer draws a
// higher version and commits after. The lock is taken last in the
// transaction, after all row writes, so it is held only for the insert, the
// NOTIFY and the commit, and it cannot deadlock with row locks: its holder
// waits for no other lock.
func (s *Store) appendChanges(ctx context.Context, tx *sql.Tx, changed []touched) error {
	if len(changed) == 0 {
		return nil // an audit-only write: nothing for the feed
	}
	if s.d == postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(changesLockID)); err != nil {
			return fmt.Errorf("locking the change feed: %w", err)
		}
	}
	// A change's time is taken here, after every row write and the lock,
	// as close to the commit as a statement can be: readers measure
	// propagation from it. On PostgreSQL it is the database server's own
	// clock (clock_timestamp() is the time of the call, not of the
	// transaction's start), so every replica measures against one clock;
	// on SQLite the database is this process, and so is its clock.
	at := "clock_timestamp()"
	args := []any{nil, nil}
	if s.d == sqlite {
		at = "$3"
		args = append(args, s.d.arg(s.now()))
	}
	var last int64
	for _, c := range changed {
		args[0], args[1] = string(c.kind), c.id
		err := tx.QueryRowContext(ctx, `INSERT INTO changes (kind, id, at) VALUES ($1, $2, `+at+`) RETURNING version`,
			args...).Scan(&last)
		if err != nil {
			return fmt.Errorf("appending change: %w", err)
		}
	}
	if s.d == postgres {
		// Delivered to every listener when, and only if, the transaction
		// commits. The payload (the newest version) is informational.
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, strconv.FormatInt(last, 10)); err != nil {
			return fmt.Errorf("notifying: %w", err)
		}
	}
	return nil
}

// CreatePartner stores a new partner at version 1 and sets p's CreatedAt,
// UpdatedAt and Version. An existing id yields [partner.ErrExists].
func (s *Store) CreatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error {
	var now time.Time
	err := s.write(ctx, "creating partner", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		_, err := tx.ExecContext(ctx, `INSERT INTO partners (id, tier, scopes, state, created_at, updated_at, version,
				limit_per_second, limit_per_minute, limit_per_day, allow_cidrs)
			VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $7, $8, $9)`,
			p.ID, p.Tier, p.Scopes.String(), string(p.State), s.d.arg(ts),
			limitArg(p.Limits.PerSecond), limitArg(p.Limits.PerMinute), limitArg(p.Limits.PerDay), p.AllowCIDRs.String())
		if err != nil {
			return nil, fmt.Errorf("partner %q: %w", p.ID, err)
		}
		return []touched{{store.KindPartner, p.ID}}, nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt, p.UpdatedAt, p.Version = now, now, 1
	return nil
}

// UpdatePartner stores p's tier, scopes, state and allow-list if the stored
// version is still p.Version, then sets p's UpdatedAt and Version. It
// leaves the partner's limits and token cutoff alone:
// [Store.SetPartnerLimits] and [Store.RevokeTokensBefore] own those. A
// deleted partner is not updated ([partner.ErrConflict]); state cannot be
// set to deleted here ([Store.DeletePartner] does that).
func (s *Store) UpdatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error {
	if p.State == partner.Deleted {
		return partner.Invalid("state", "a partner is deleted with DeletePartner")
	}
	var now time.Time
	err := s.write(ctx, "updating partner", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		res, err := tx.ExecContext(ctx, `UPDATE partners SET tier = $1, scopes = $2, state = $3, allow_cidrs = $4,
				updated_at = $5, version = version + 1
			WHERE id = $6 AND version = $7 AND state <> 'deleted'`,
			p.Tier, p.Scopes.String(), string(p.State), p.AllowCIDRs.String(), s.d.arg(ts), p.ID, p.Version)
		if err := checkUpdated(ctx, tx, res, err, "partners", "partner", p.ID); err != nil {
			return nil, err
		}
		return []touched{{store.KindPartner, p.ID}}, nil
	})
	if err != nil {
		return err
	}
	p.UpdatedAt = now
	p.Version++
	return nil
}

// checkUpdated turns an optimistic UPDATE's outcome into an error: nil if a
// row changed, else [partner.ErrNotFound] if the row is gone or
// [partner.ErrConflict] if another writer moved its version on.
func checkUpdated(ctx context.Context, tx *sql.Tx, res sql.Result, err error, table, what, id string) error {
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound(what, id)
	case err != nil:
		return err
	}
	return fmt.Errorf("sqlstore: %s %q changed since it was read: %w", what, id, partner.ErrConflict)
}

// CreateCredential stores a new credential at version 1 and sets c's
// Version, and its CreatedAt if zero. The partner must exist
// ([partner.ErrNotFound] otherwise); an existing id yields
// [partner.ErrExists].
func (s *Store) CreateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error {
	var created time.Time
	err := s.write(ctx, "creating credential", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		var err error
		created, err = s.insertCredential(ctx, tx, c, ts)
		if err != nil {
			return nil, err
		}
		return []touched{{store.KindCredential, c.ID}}, nil
	})
	if err != nil {
		return err
	}
	s.normCredential(c, created)
	return nil
}

func (s *Store) insertCredential(ctx context.Context, tx *sql.Tx, c *partner.Credential, now time.Time) (created time.Time, err error) {
	if len(c.Digest) == 0 {
		return created, partner.Invalid("digest", "must not be empty")
	}
	created = now
	if !c.CreatedAt.IsZero() {
		created = norm(c.CreatedAt)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes,
			created_at, expires_at, revoked_at, rotated_from, last_rotated_at, version, allow_cidrs)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12)`,
		c.ID, c.PartnerID, c.Name, c.Digest, c.PepperVersion, c.Scopes.String(),
		s.d.arg(created), s.d.arg(c.ExpiresAt), s.d.arg(c.RevokedAt), nullString(c.RotatedFrom),
		s.d.arg(c.LastRotatedAt), c.AllowCIDRs.String())
	if err != nil {
		if errors.Is(s.d.class(err), partner.ErrNotFound) {
			return created, fmt.Errorf("credential %q: %w", c.ID, errNotFound("partner", c.PartnerID))
		}
		return created, fmt.Errorf("credential %q: %w", c.ID, err)
	}
	if err := s.keepLastUse(ctx, tx, c); err != nil {
		return created, fmt.Errorf("credential %q: %w", c.ID, err)
	}
	return created, nil
}

// keepLastUse stores c.LastUsedAt, if it is set and later than the last
// use stored, leaving the address of the stored one. Last use lives in
// credential_use (see [Store.TouchCredentials]).
func (s *Store) keepLastUse(ctx context.Context, tx *sql.Tx, c *partner.Credential) error {
	if c.LastUsedAt.IsZero() {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO credential_use (credential_id, last_used_at) VALUES ($1, $2)
		ON CONFLICT (credential_id) DO UPDATE SET last_used_at = excluded.last_used_at
		WHERE credential_use.last_used_at < excluded.last_used_at`, c.ID, s.d.arg(c.LastUsedAt))
	return err
}

// normCredential brings c's times to the stored precision after a create.
func (s *Store) normCredential(c *partner.Credential, created time.Time) {
	c.CreatedAt = created
	c.ExpiresAt, c.RevokedAt = norm(c.ExpiresAt), norm(c.RevokedAt)
	c.LastRotatedAt, c.LastUsedAt = norm(c.LastRotatedAt), norm(c.LastUsedAt)
	c.CompromisedAt = time.Time{} // set only by an update
	c.Version = 1
}

// UpdateCredential stores c's name, scopes, expiry, revocation and
// last-rotated and last-used times if the stored version is still
// c.Version, then increments c.Version. The id, partner, digest, pepper
// version, creation time and rotated-from link never change. The last use
// only moves forward: a use recorded by TouchCredentials after c was read
// (which bumps no version) is kept, not overwritten by c's older one.
func (s *Store) UpdateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error {
	err := s.write(ctx, "updating credential", ev, func(tx *sql.Tx, _ time.Time) ([]touched, error) {
		if err := s.updateCredential(ctx, tx, c); err != nil {
			return nil, err
		}
		return []touched{{store.KindCredential, c.ID}}, nil
	})
	if err != nil {
		return err
	}
	s.normUpdated(c)
	return nil
}

func (s *Store) updateCredential(ctx context.Context, tx *sql.Tx, c *partner.Credential) error {
	res, err := tx.ExecContext(ctx, `UPDATE credentials SET name = $1, scopes = $2, expires_at = $3, revoked_at = $4,
			last_rotated_at = $5,
			compromised_at = COALESCE(compromised_at, $8),
			allow_cidrs = $9,
			version = version + 1
		WHERE id = $6 AND version = $7`,
		c.Name, c.Scopes.String(), s.d.arg(c.ExpiresAt), s.d.arg(c.RevokedAt),
		s.d.arg(c.LastRotatedAt), c.ID, c.Version, s.d.arg(c.CompromisedAt), c.AllowCIDRs.String())
	if err := checkUpdated(ctx, tx, res, err, "credentials", "credential", c.ID); err != nil {
		return err
	}
	return s.keepLastUse(ctx, tx, c)
}

func (s *Store) normUpdated(c *partner.Credential) {
	c.ExpiresAt, c.RevokedAt = norm(c.ExpiresAt), norm(c.RevokedAt)
	c.LastRotatedAt, c.LastUsedAt = norm(c.LastRotatedAt), norm(c.LastUsedAt)
	c.CompromisedAt = norm(c.CompromisedAt)
	c.Version++
}

// RotateCredential updates old as [Store.UpdateCredential] does and creates
// next as [Store.CreateCredential] does, in one transaction. next must
// belong to old's partner; its RotatedFrom is set to old.ID if empty.
func (s *Store) RotateCredential(ctx context.Context, old, next *partner.Credential, ev partner.AuditEvent) error {
	if next.PartnerID != old.PartnerID {
		return partner.Invalid("partner_id", "a rotated key must belong to the same partner")
	}
	rotatedFrom := next.RotatedFrom
	if rotatedFrom == "" {
		rotatedFrom = old.ID
	}
	var created time.Time
	err := s.write(ctx, "rotating credential", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		if err := s.updateCredential(ctx, tx, old); err != nil {
			return nil, err
		}
		n := *next
		n.RotatedFrom = rotatedFrom
		var err error
		if created, err = s.insertCredential(ctx, tx, &n, ts); err != nil {
			return nil, err
		}
		return []touched{{store.KindCredential, old.ID}, {store.KindCredential, next.ID}}, nil
	})
	if err != nil {
		return err
	}
	s.normUpdated(old)
	next.RotatedFrom = rotatedFrom
	s.normCredential(next, created)
	return nil
}

// InitMeta sets key to value unless it is already set, and returns the
// stored value.
func (s *Store) InitMeta(ctx context.Context, key, value string) (string, error) {
	// ON CONFLICT DO NOTHING waits for a concurrent inserter of the same
	// key to finish, so the SELECT after it sees the winner's value.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", s.wrap("initialising meta "+strconv.Quote(key), err)
	}
	var got string
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&got); err != nil {
		return "", s.wrap("reading meta "+strconv.Quote(key), err)
	}
	return got, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
