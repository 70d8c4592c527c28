package sqlstore

import (
	"context"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

var _ store.Usage = (*Store)(nil)

// maxTouchFrom bounds the stored client address; anything longer is not
// an address.
const maxTouchFrom = 64

// TouchCredentials records last use in one transaction, without an audit
// event, a change-feed row or a version bump: it changes no decision.
func (s *Store) TouchCredentials(ctx context.Context, touches []store.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("recording last use", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `UPDATE credentials SET last_used_at = $1, last_used_from = $2
		WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)`)
	if err != nil {
		return s.wrap("recording last use", err)
	}
	defer stmt.Close()
	for _, t := range touches {
		if t.At.IsZero() {
			continue
		}
		from := t.From
		if len(from) > maxTouchFrom {
			from = from[:maxTouchFrom]
		}
		if _, err := stmt.ExecContext(ctx, s.d.arg(t.At), nullString(from), t.ID); err != nil {
			return s.wrap("recording last use", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("recording last use", err)
	}
	return nil
}

// ListUnusedCredentials lists live credentials unused since before.
func (s *Store) ListUnusedCredentials(ctx context.Context, before time.Time) ([]*partner.Credential, error) {
	var out []*partner.Credential
	err := s.each(ctx, s.r, "listing unused credentials", nil, func(c *partner.Credential) error {
		out = append(out, c)
		return nil
	}, `SELECT `+credentialCols+` FROM credentials
		WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
		  AND COALESCE(last_used_at, created_at) < $2
		ORDER BY COALESCE(last_used_at, created_at), id`, s.d.arg(s.now()), s.d.arg(before))
	return out, err
}
