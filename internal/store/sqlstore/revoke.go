package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// RevokeCredential revokes credential id, as [store.Store] describes. On
// PostgreSQL it is one statement, so one round trip and its own
// transaction: the revocation, the audit event, the feed's advisory lock,
// the change row and the NOTIFY. Nothing is read first: the update
// changes only the revocation time and the version, and only of a row not
// yet revoked, so there is no read to go stale.
func (s *Store) RevokeCredential(ctx context.Context, id string, ev partner.AuditEvent) (*partner.Credential, error) {
	at := norm(ev.At)
	if at.IsZero() {
		at = norm(s.now())
	}
	ev.At, ev.CredentialID = at, id
	var c *partner.Credential
	var err error
	if s.d == postgres {
		c, err = s.revokePostgres(ctx, id, ev)
	} else {
		c, err = s.revokeSQLite(ctx, id, ev)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap("revoking credential", s.notRevoked(ctx, id))
	}
	return c, err
}

// revokeDetails returns the audit detail, encoded, of a revocation of an
// expired key and of one still live.
func revokeDetails(d map[string]string) (expired, live string, err error) {
	enc := func(v string) (string, error) {
		m := maps.Clone(d)
		if m == nil {
			m = map[string]string{}
		}
		m["expired"] = v
		b, err := json.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("encoding audit detail: %w", err)
		}
		return string(b), nil
	}
	if expired, err = enc("true"); err != nil {
		return "", "", err
	}
	live, err = enc("false")
	return expired, live, err
}

// revokeStatement is RevokeCredential's one statement on PostgreSQL.
//
// Row lock, then the feed lock: the credential's row is locked by the
// update before the feed lock is asked for (the lock is a function of
// the updated row), and the change row is a join with the lock's
// result, so no version is drawn before the lock is held; see
// appendChanges. The lock's holder then waits for no other lock.
var revokeStatement = `WITH revoked AS (
		UPDATE credentials SET revoked_at = $1, version = version + 1
		WHERE id = $2 AND revoked_at IS NULL
		RETURNING ` + credentialReturning + `),
	audit AS (
		INSERT INTO audit_events (at, actor, action, partner_id, credential_id, reason, detail, auth_method, source, note)
		SELECT $1, $3, $4, revoked.partner_id, revoked.id, $5,
			CASE WHEN revoked.expires_at IS NOT NULL AND revoked.expires_at <= $1 THEN $6 ELSE $7 END,
			$8, $9, $10
		FROM revoked),
	feed_lock AS (SELECT pg_advisory_xact_lock($11) FROM revoked),
	feed AS (
		INSERT INTO changes (kind, id, at)
		SELECT $12, revoked.id, clock_timestamp() FROM feed_lock, revoked
		RETURNING version)
	SELECT ` + mapColumns(credentialNames, func(c string) string { return "revoked." + c }) + `, pg_notify($13, feed.version::text) IS NULL
	FROM revoked, feed`

func (s *Store) revokePostgres(ctx context.Context, id string, ev partner.AuditEvent) (*partner.Credential, error) {
	expired, live, err := revokeDetails(ev.Detail)
	if err != nil {
		return nil, err
	}
	row := s.w.QueryRowContext(ctx, revokeStatement,
		s.d.arg(ev.At), id, ev.Actor, ev.Action, ev.Reason, expired, live, ev.AuthMethod, ev.Source, ev.Note,
		int64(changesLockID), string(store.KindCredential), notifyChannel)
	var notified bool
	c, err := scanCredential(scanExtra{row, &notified})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, s.wrap("revoking credential", fmt.Errorf("credential %q: %w", id, err))
	}
	s.hub.broadcast()
	return c, nil
}

func (s *Store) revokeSQLite(ctx context.Context, id string, ev partner.AuditEvent) (*partner.Credential, error) {
	var c *partner.Credential
	err := s.writeWith(ctx, "revoking credential", func(tx *sql.Tx, _ time.Time) ([]touched, partner.AuditEvent, error) {
		var err error
		c, err = scanCredential(tx.QueryRowContext(ctx, `UPDATE credentials SET revoked_at = $1, version = version + 1
			WHERE id = $2 AND revoked_at IS NULL RETURNING `+credentialReturning, s.d.arg(ev.At), id))
		if err != nil {
			return nil, ev, err
		}
		e := ev
		e.PartnerID = c.PartnerID
		e.Detail = maps.Clone(ev.Detail)
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		e.Detail["expired"] = strconv.FormatBool(c.Expired(ev.At))
		return []touched{{store.KindCredential, id}}, e, nil
	})
	return c, err
}

// notRevoked explains a revocation that changed no row: the credential is
// unknown, or already revoked.
func (s *Store) notRevoked(ctx context.Context, id string) error {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM credentials WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound("credential", id)
	case err != nil:
		return err
	}
	return fmt.Errorf("sqlstore: credential %q: %w", id, store.ErrRevoked)
}

// scanExtra scans a row of a credential's columns followed by more.
type scanExtra struct {
	row  *sql.Row
	more any
}

func (r scanExtra) Scan(dest ...any) error { return r.row.Scan(append(dest, r.more)...) }
