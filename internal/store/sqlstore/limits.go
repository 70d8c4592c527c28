package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// SetPartnerLimits replaces the partner's own rate limits with l (the zero
// value clears them), bumps its version and returns the partner as stored.
// A limit above its bound is a [*partner.FieldError]; an unknown partner,
// [partner.ErrNotFound].
func (s *Store) SetPartnerLimits(ctx context.Context, partnerID string, l partner.Limits, ev partner.AuditEvent) (*partner.Partner, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return s.changePartner(ctx, "setting partner limits", partnerID, ev, func(tx *sql.Tx, ts time.Time) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE partners SET
				limit_per_second = $1, limit_per_minute = $2, limit_per_day = $3,
				updated_at = $4, version = version + 1
			WHERE id = $5`,
			limitArg(l.PerSecond), limitArg(l.PerMinute), limitArg(l.PerDay), s.d.arg(ts), partnerID)
	})
}

// limitArg returns a limit as a query argument: NULL for 0 (unset).
func limitArg(n uint32) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

// limitCol scans a nullable limit column: NULL is 0 (unset).
type limitCol struct{ v *uint32 }

func (c limitCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.v = 0
	case int64:
		if v <= 0 || v > 1<<32-1 {
			return fmt.Errorf("sqlstore: limit %d out of range", v)
		}
		*c.v = uint32(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a limit", src)
	}
	return nil
}
