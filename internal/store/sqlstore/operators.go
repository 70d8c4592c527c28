package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// The admin API's operators and their personal tokens.

const operatorCols = `name, role, partners, cert_san, created_at, updated_at, expires_at, revoked_at, version`

func scanOperator(row interface{ Scan(...any) error }) (*partner.Operator, error) {
	var r operatorRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.operator(), nil
}

// operatorRow receives the columns operatorCols names.
type operatorRow struct {
	o              partner.Operator
	role, partners string
	san            sql.NullString
}

func (r *operatorRow) dest() []any {
	return []any{&r.o.Name, &r.role, &r.partners, &r.san, timeCol{&r.o.CreatedAt}, timeCol{&r.o.UpdatedAt},
		timeCol{&r.o.ExpiresAt}, timeCol{&r.o.RevokedAt}, &r.o.Version}
}

func (r *operatorRow) operator() *partner.Operator {
	o := r.o
	o.Role = partner.Role(r.role)
	if r.partners != "" {
		o.Partners = strings.Fields(r.partners)
	}
	o.CertSAN = r.san.String
	return &o
}

const operatorTokenCols = `id, operator, digest, pepper_version, created_at, expires_at`

func scanOperatorToken(row interface{ Scan(...any) error }) (*partner.OperatorToken, error) {
	var t partner.OperatorToken
	if err := row.Scan(&t.ID, &t.Operator, &t.Digest, &t.PepperVersion, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateOperator stores a new operator at version 1 and, if tok is not
// nil, its first token.
func (s *Store) CreateOperator(ctx context.Context, o *partner.Operator, tok *partner.OperatorToken, ev partner.AuditEvent) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var now time.Time
	err := s.write(ctx, "creating operator", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		_, err := tx.ExecContext(ctx, `INSERT INTO operators (`+operatorCols+`) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, 1)`,
			o.Name, string(o.Role), strings.Join(o.Partners, " "), nullString(o.CertSAN), s.d.arg(ts),
			s.d.arg(o.ExpiresAt), s.d.arg(o.RevokedAt))
		if err != nil {
			if errors.Is(s.d.class(err), partner.ErrExists) {
				return nil, fmt.Errorf("sqlstore: operator %q or its cert_san is taken: %w", o.Name, partner.ErrExists)
			}
			return nil, fmt.Errorf("operator %q: %w", o.Name, err)
		}
		if tok != nil {
			if err := s.insertOperatorToken(ctx, tx, o.Name, tok, ts); err != nil {
				return nil, err
			}
		}
		return []touched{{store.KindOperator, o.Name}}, nil
	})
	if err != nil {
		return err
	}
	o.CreatedAt, o.UpdatedAt, o.Version = now, now, 1
	o.ExpiresAt, o.RevokedAt = norm(o.ExpiresAt), norm(o.RevokedAt)
	if tok != nil {
		tok.Operator, tok.CreatedAt, tok.ExpiresAt = o.Name, now, norm(tok.ExpiresAt)
	}
	return nil
}

func (s *Store) insertOperatorToken(ctx context.Context, tx *sql.Tx, name string, t *partner.OperatorToken, now time.Time) error {
	if len(t.Digest) == 0 {
		return partner.Invalid("digest", "must not be empty")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO operator_tokens (`+operatorTokenCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, name, t.Digest, t.PepperVersion, s.d.arg(now), s.d.arg(t.ExpiresAt))
	if err != nil {
		switch s.d.class(err) {
		case partner.ErrExists:
			return fmt.Errorf("sqlstore: operator token %q: %w", t.ID, partner.ErrExists)
		case partner.ErrNotFound:
			return errNotFound("operator", name)
		}
		return fmt.Errorf("operator token %q: %w", t.ID, err)
	}
	return nil
}

// UpdateOperator stores o's role, partners, certificate SAN, expiry and
// revocation if the stored version is still o.Version.
func (s *Store) UpdateOperator(ctx context.Context, o *partner.Operator, ev partner.AuditEvent) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var now time.Time
	err := s.write(ctx, "updating operator", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		if err := s.updateOperator(ctx, tx, o, ts); err != nil {
			return nil, err
		}
		return []touched{{store.KindOperator, o.Name}}, nil
	})
	if err != nil {
		return err
	}
	o.UpdatedAt = now
	o.ExpiresAt, o.RevokedAt = norm(o.ExpiresAt), norm(o.RevokedAt)
	o.Version++
	return nil
}

func (s *Store) updateOperator(ctx context.Context, tx *sql.Tx, o *partner.Operator, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE operators SET role = $1, partners = $2, cert_san = $3, expires_at = $4,
			revoked_at = $5, updated_at = $6, version = version + 1
		WHERE name = $7 AND version = $8`,
		string(o.Role), strings.Join(o.Partners, " "), nullString(o.CertSAN), s.d.arg(o.ExpiresAt),
		s.d.arg(o.RevokedAt), s.d.arg(now), o.Name, o.Version)
	if err != nil && errors.Is(s.d.class(err), partner.ErrExists) {
		return fmt.Errorf("sqlstore: cert_san %q belongs to another operator: %w", o.CertSAN, partner.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("operator %q: %w", o.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM operators WHERE name = $1`, o.Name).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound("operator", o.Name)
	case err != nil:
		return err
	}
	return fmt.Errorf("sqlstore: operator %q changed since it was read: %w", o.Name, partner.ErrConflict)
}

// RotateOperatorToken bounds o's live tokens to oldUntil and stores next.
func (s *Store) RotateOperatorToken(ctx context.Context, o *partner.Operator, oldUntil time.Time, next *partner.OperatorToken, ev partner.AuditEvent) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var now time.Time
	err := s.write(ctx, "rotating operator token", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		if err := s.updateOperator(ctx, tx, o, ts); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE operator_tokens SET expires_at = $1
			WHERE operator = $2 AND (expires_at IS NULL OR expires_at > $1)`, s.d.arg(oldUntil), o.Name); err != nil {
			return nil, err
		}
		if err := s.insertOperatorToken(ctx, tx, o.Name, next, ts); err != nil {
			return nil, err
		}
		return []touched{{store.KindOperator, o.Name}}, nil
	})
	if err != nil {
		return err
	}
	o.UpdatedAt = now
	o.Version++
	next.Operator, next.CreatedAt, next.ExpiresAt = o.Name, now, norm(next.ExpiresAt)
	return nil
}

// GetOperator returns the operator named name.
func (s *Store) GetOperator(ctx context.Context, name string) (*partner.Operator, error) {
	o, err := scanOperator(s.r.QueryRowContext(ctx, `SELECT `+operatorCols+` FROM operators WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("operator", name)
	}
	if err != nil {
		return nil, s.wrap("reading operator", err)
	}
	return o, nil
}

// GetOperatorByCertSAN returns the operator whose certificate SAN is san.
func (s *Store) GetOperatorByCertSAN(ctx context.Context, san string) (*partner.Operator, error) {
	if san == "" {
		return nil, errNotFound("operator with cert_san", san)
	}
	o, err := scanOperator(s.r.QueryRowContext(ctx, `SELECT `+operatorCols+` FROM operators WHERE cert_san = $1`, san))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("operator with cert_san", san)
	}
	if err != nil {
		return nil, s.wrap("reading operator", err)
	}
	return o, nil
}

// ListOperators returns every operator by name.
func (s *Store) ListOperators(ctx context.Context) ([]*partner.Operator, error) {
	var out []*partner.Operator
	err := eachRow(ctx, s, s.r, "listing operators", scanOperator, func(o *partner.Operator) error {
		out = append(out, o)
		return nil
	}, `SELECT `+operatorCols+` FROM operators ORDER BY name`)
	return out, err
}

// GetOperatorToken returns the token with public id id.
func (s *Store) GetOperatorToken(ctx context.Context, id string) (*partner.OperatorToken, error) {
	t, err := scanOperatorToken(s.r.QueryRowContext(ctx, `SELECT `+operatorTokenCols+` FROM operator_tokens WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("operator token", id)
	}
	if err != nil {
		return nil, s.wrap("reading operator token", err)
	}
	return t, nil
}

// GetOperatorTokenWithOperator returns the token with public id id and
// the operator it belongs to, read together in one statement.
func (s *Store) GetOperatorTokenWithOperator(ctx context.Context, id string) (*partner.OperatorToken, *partner.Operator, error) {
	row := s.r.QueryRowContext(ctx, `SELECT t.id, t.operator, t.digest, t.pepper_version, t.created_at, t.expires_at,
			o.name, o.role, o.partners, o.cert_san, o.created_at, o.updated_at, o.expires_at, o.revoked_at, o.version
		FROM operator_tokens t JOIN operators o ON o.name = t.operator WHERE t.id = $1`, id)
	var t partner.OperatorToken
	var o operatorRow
	err := row.Scan(append([]any{&t.ID, &t.Operator, &t.Digest, &t.PepperVersion, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}},
		o.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotFound("operator token", id)
	}
	if err != nil {
		return nil, nil, s.wrap("reading operator token", err)
	}
	return &t, o.operator(), nil
}

// ListOperatorTokens returns an operator's tokens, newest first.
func (s *Store) ListOperatorTokens(ctx context.Context, name string) ([]*partner.OperatorToken, error) {
	var out []*partner.OperatorToken
	err := eachRow(ctx, s, s.r, "listing operator tokens", scanOperatorToken, func(t *partner.OperatorToken) error {
		out = append(out, t)
		return nil
	}, `SELECT `+operatorTokenCols+` FROM operator_tokens WHERE operator = $1 ORDER BY created_at DESC, id DESC`, name)
	return out, err
}

// RecordAudit appends ev to the audit trail, with no change-feed entry.
func (s *Store) RecordAudit(ctx context.Context, ev partner.AuditEvent) error {
	return s.write(ctx, "recording audit event", ev, func(*sql.Tx, time.Time) ([]touched, error) { return nil, nil })
}
