package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Client certificates registered as partner credentials, and the
// partner's requirement of one.

const certificateCols = `id, partner_id, kind, value, name, created_at`

func scanCertificate(row interface{ Scan(...any) error }) (*partner.Certificate, error) {
	var c partner.Certificate
	var kind string
	if err := row.Scan(&c.ID, &c.PartnerID, &kind, &c.Value, &c.Name, timeCol{&c.CreatedAt}); err != nil {
		return nil, err
	}
	c.Kind = partner.CertificateKind(kind)
	return &c, nil
}

// AddCertificate registers c to its partner, setting c.ID and c.CreatedAt.
func (s *Store) AddCertificate(ctx context.Context, c *partner.Certificate, ev partner.AuditEvent) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var now time.Time
	err := s.write(ctx, "adding certificate", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		// A registration that slipped in beside a deletion would
		// authenticate as the id's next tenant. The no-op update locks
		// the partner's row, so a concurrent DeletePartner either commits
		// first, and this sees the tombstone, or waits for this.
		res, err := tx.ExecContext(ctx, `UPDATE partners SET state = state WHERE id = $1 AND state <> 'deleted'`, c.PartnerID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			var state string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM partners WHERE id = $1`, c.PartnerID).Scan(&state); errors.Is(err, sql.ErrNoRows) {
				return nil, errNotFound("partner", c.PartnerID)
			} else if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("sqlstore: partner %q: %w", c.PartnerID, store.ErrDeleted)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO partner_certificates (`+certificateCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.ID, c.PartnerID, string(c.Kind), c.Value, c.Name, s.d.arg(ts))
		if err != nil {
			switch s.d.class(err) {
			case partner.ErrNotFound:
				return nil, errNotFound("partner", c.PartnerID)
			case partner.ErrExists:
				return nil, fmt.Errorf("sqlstore: %s %q is already registered: %w", c.Kind, c.Value, partner.ErrExists)
			}
			return nil, fmt.Errorf("certificate %s: %w", c.ID, err)
		}
		return []touched{{store.KindCertificate, c.ID}}, nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt = now
	return nil
}

// RemoveCertificate deletes the registration id of partnerID.
func (s *Store) RemoveCertificate(ctx context.Context, partnerID, id string, ev partner.AuditEvent) error {
	return s.write(ctx, "removing certificate", ev, func(tx *sql.Tx, _ time.Time) ([]touched, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM partner_certificates WHERE id = $1 AND partner_id = $2`, id, partnerID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, fmt.Errorf("sqlstore: partner %q has no certificate %q: %w", partnerID, id, partner.ErrNotFound)
		}
		return []touched{{store.KindCertificate, id}}, nil
	})
}

// GetCertificate returns the registration id.
func (s *Store) GetCertificate(ctx context.Context, id string) (*partner.Certificate, error) {
	c, err := scanCertificate(s.r.QueryRowContext(ctx, `SELECT `+certificateCols+` FROM partner_certificates WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: certificate %q: %w", id, partner.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("reading certificate", err)
	}
	return c, nil
}

// ListCertificates lists a partner's registrations by kind, then value.
func (s *Store) ListCertificates(ctx context.Context, partnerID string) ([]*partner.Certificate, error) {
	var out []*partner.Certificate
	err := eachRow(ctx, s, s.r, "listing certificates", scanCertificate, func(c *partner.Certificate) error {
		out = append(out, c)
		return nil
	}, `SELECT `+certificateCols+` FROM partner_certificates WHERE partner_id = $1 ORDER BY kind, value`, partnerID)
	return out, err
}

// SetRequireCertificate sets the partner's RequireCertificate and bumps
// its version; [partner.ErrNotFound] for an unknown partner.
func (s *Store) SetRequireCertificate(ctx context.Context, partnerID string, require bool, ev partner.AuditEvent) (*partner.Partner, error) {
	return s.changePartner(ctx, "setting require_certificate", partnerID, ev, func(tx *sql.Tx, ts time.Time) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE partners SET require_certificate = $1, updated_at = $2, version = version + 1
			WHERE id = $3`, require, s.d.arg(ts), partnerID)
	})
}

// snapshotCertificates visits every registration inside Snapshot's
// transaction.
func (s *Store) snapshotCertificates(ctx context.Context, tx *sql.Tx, v store.Visitor) error {
	if v.Certificate == nil {
		return nil
	}
	return eachRow(ctx, s, tx, "snapshot certificates", scanCertificate, v.Certificate, `SELECT `+certificateCols+` FROM partner_certificates`)
}
