package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// The OAuth2 side of the store: the client registry, token revocations and
// the per-partner issued-before cutoff.

const clientCols = `issuer, client_id, partner_id, created_at`

func scanClient(row interface{ Scan(...any) error }) (*partner.Client, error) {
	var c partner.Client
	if err := row.Scan(&c.Issuer, &c.ClientID, &c.PartnerID, timeCol{&c.CreatedAt}); err != nil {
		return nil, err
	}
	return &c, nil
}

const revocationCols = `issuer, jti, expires_at, revoked_at`

func scanRevocation(row interface{ Scan(...any) error }) (*partner.TokenRevocation, error) {
	var r partner.TokenRevocation
	if err := row.Scan(&r.Issuer, &r.JTI, timeCol{&r.ExpiresAt}, timeCol{&r.RevokedAt}); err != nil {
		return nil, err
	}
	return &r, nil
}

// AddClient registers c to its partner and sets c.CreatedAt.
func (s *Store) AddClient(ctx context.Context, c *partner.Client, ev partner.AuditEvent) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var now time.Time
	err := s.write(ctx, "adding client", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+clientCols+`) VALUES ($1, $2, $3, $4)`,
			c.Issuer, c.ClientID, c.PartnerID, s.d.arg(ts))
		if err != nil {
			switch s.d.class(err) {
			case partner.ErrNotFound:
				return nil, errNotFound("partner", c.PartnerID)
			case partner.ErrExists:
				return nil, fmt.Errorf("sqlstore: client %q of issuer %q is already registered: %w", c.ClientID, c.Issuer, partner.ErrExists)
			}
			return nil, fmt.Errorf("client %q: %w", c.ClientID, err)
		}
		return []touched{{store.KindClient, store.ClientChangeID(c.Issuer, c.ClientID)}}, nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt = now
	return nil
}

// RemoveClient deletes the registration of (issuer, clientID) from
// partnerID.
func (s *Store) RemoveClient(ctx context.Context, partnerID, issuer, clientID string, ev partner.AuditEvent) error {
	return s.write(ctx, "removing client", ev, func(tx *sql.Tx, _ time.Time) ([]touched, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE issuer = $1 AND client_id = $2 AND partner_id = $3`,
			issuer, clientID, partnerID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, fmt.Errorf("sqlstore: partner %q has no client %q of issuer %q: %w", partnerID, clientID, issuer, partner.ErrNotFound)
		}
		return []touched{{store.KindClient, store.ClientChangeID(issuer, clientID)}}, nil
	})
}

// GetClient returns the registration of (issuer, clientID).
func (s *Store) GetClient(ctx context.Context, issuer, clientID string) (*partner.Client, error) {
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM oauth_clients WHERE issuer = $1 AND client_id = $2`, issuer, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: client %q of issuer %q: %w", clientID, issuer, partner.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("reading client", err)
	}
	return c, nil
}

// ListClients lists a partner's clients by issuer, then client id.
func (s *Store) ListClients(ctx context.Context, partnerID string) ([]*partner.Client, error) {
	return s.listClientsTx(ctx, s.r, partnerID)
}

func (s *Store) listClientsTx(ctx context.Context, q querier, partnerID string) ([]*partner.Client, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+clientCols+` FROM oauth_clients WHERE partner_id = $1 ORDER BY issuer, client_id`, partnerID)
	if err != nil {
		return nil, s.wrap("listing clients", err)
	}
	defer rows.Close()
	var out []*partner.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, s.wrap("listing clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing clients", err)
	}
	return out, nil
}

// RevokeToken records r and sets r.RevokedAt. A repeat keeps the first
// RevokedAt and the later ExpiresAt, and leaves r holding the stored row.
func (s *Store) RevokeToken(ctx context.Context, r *partner.TokenRevocation, ev partner.AuditEvent) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var stored *partner.TokenRevocation
	err := s.write(ctx, "revoking token", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		// CASE rather than GREATEST/MAX: the one spelling both dialects share.
		_, err := tx.ExecContext(ctx, `INSERT INTO token_revocations (`+revocationCols+`) VALUES ($1, $2, $3, $4)
			ON CONFLICT (issuer, jti) DO UPDATE SET expires_at =
				CASE WHEN excluded.expires_at > token_revocations.expires_at THEN excluded.expires_at ELSE token_revocations.expires_at END`,
			r.Issuer, r.JTI, s.d.arg(r.ExpiresAt), s.d.arg(ts))
		if err != nil {
			return nil, fmt.Errorf("token %q: %w", r.JTI, err)
		}
		stored, err = scanRevocation(tx.QueryRowContext(ctx, `SELECT `+revocationCols+` FROM token_revocations WHERE issuer = $1 AND jti = $2`, r.Issuer, r.JTI))
		if err != nil {
			return nil, err
		}
		return []touched{{store.KindTokenRevocation, store.TokenRevocationChangeID(r.Issuer, r.JTI)}}, nil
	})
	if err != nil {
		return err
	}
	*r = *stored
	return nil
}

// GetTokenRevocation returns the revocation of (issuer, jti).
func (s *Store) GetTokenRevocation(ctx context.Context, issuer, jti string) (*partner.TokenRevocation, error) {
	r, err := scanRevocation(s.r.QueryRowContext(ctx, `SELECT `+revocationCols+` FROM token_revocations WHERE issuer = $1 AND jti = $2`, issuer, jti))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: revocation of token %q of issuer %q: %w", jti, issuer, partner.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("reading token revocation", err)
	}
	return r, nil
}

// PurgeTokenRevocations deletes revocations that are no longer live at now.
func (s *Store) PurgeTokenRevocations(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM token_revocations WHERE expires_at <= $1`,
		s.d.arg(now.Add(-partner.TokenRevocationGrace)))
	if err != nil {
		return 0, s.wrap("purging token revocations", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap("purging token revocations", err)
	}
	return n, nil
}

// RevokeTokensBefore moves the partner's TokensNotBefore forward to before
// (never back: an earlier cutoff would readmit refused tokens) and bumps
// its version.
func (s *Store) RevokeTokensBefore(ctx context.Context, partnerID string, before time.Time, ev partner.AuditEvent) (*partner.Partner, error) {
	if before.IsZero() {
		return nil, partner.Invalid("before", "required")
	}
	return s.changePartner(ctx, "revoking tokens", partnerID, ev, func(tx *sql.Tx, ts time.Time) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE partners SET
				tokens_not_before = CASE WHEN tokens_not_before IS NULL OR tokens_not_before < $1 THEN $1 ELSE tokens_not_before END,
				updated_at = $2, version = version + 1
			WHERE id = $3`, s.d.arg(before), s.d.arg(ts), partnerID)
	})
}

// changePartner runs update, an UPDATE of partnerID's row that bumps its
// version, in one audited write with its change-feed entry, and returns
// the partner as stored; [partner.ErrNotFound] if no row changed.
func (s *Store) changePartner(ctx context.Context, op, partnerID string, ev partner.AuditEvent, update func(tx *sql.Tx, ts time.Time) (sql.Result, error)) (*partner.Partner, error) {
	var out *partner.Partner
	err := s.write(ctx, op, ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		res, err := update(tx, ts)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, errNotFound("partner", partnerID)
		}
		if out, err = scanPartner(tx.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, partnerID)); err != nil {
			return nil, err
		}
		return []touched{{store.KindPartner, partnerID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// snapshotTokens visits clients and live revocations inside Snapshot's
// transaction.
func (s *Store) snapshotTokens(ctx context.Context, tx *sql.Tx, v store.Visitor) error {
	if v.Client != nil {
		if err := eachRow(ctx, s, tx, "snapshot clients", scanClient, v.Client, `SELECT `+clientCols+` FROM oauth_clients`); err != nil {
			return err
		}
	}
	if v.TokenRevocation != nil {
		after := s.d.arg(s.now().Add(-partner.TokenRevocationGrace))
		if err := eachRow(ctx, s, tx, "snapshot token revocations", scanRevocation, v.TokenRevocation,
			`SELECT `+revocationCols+` FROM token_revocations WHERE expires_at > $1`, after); err != nil {
			return err
		}
	}
	return nil
}

// eachRow streams the rows of query through scan to fn, yielding the
// processor every rowsPerYield rows.
func eachRow[T any](ctx context.Context, s *Store, q querier, op string, scan func(interface{ Scan(...any) error }) (*T, error), fn func(*T) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return s.wrap(op, err)
	}
	defer rows.Close()
	for n := 1; rows.Next(); n++ {
		if n%rowsPerYield == 0 {
			runtime.Gosched()
		}
		x, err := scan(rows)
		if err != nil {
			return s.wrap(op, err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrap(op, err)
	}
	return nil
}
