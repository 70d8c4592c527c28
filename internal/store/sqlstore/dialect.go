package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlitedrv "modernc.org/sqlite"

	"github.com/partnergate/partnergate/internal/partner"
)

// dialect names the backend. Both accept the same SQL text ($1 placeholders,
// RETURNING, ON CONFLICT); they differ in column types, time encoding and
// error codes, handled here.
type dialect int

const (
	sqlite dialect = iota + 1
	postgres
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// norm returns t as the store keeps it: UTC, microsecond precision (what
// PostgreSQL's timestamptz holds), no monotonic reading. Zero stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// arg returns t as a query argument: NULL for the zero time, Unix
// microseconds on SQLite, a time.Time on PostgreSQL.
func (d dialect) arg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = norm(t)
	if d == sqlite {
		return t.UnixMicro()
	}
	return t
}

// timeCol scans a nullable time column of either dialect into *t.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = norm(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// SQLite result codes (https://sqlite.org/rescode.html); modernc.org/sqlite
// reports extended codes, whose low byte is the primary code.
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteReadOnly         = 8
	sqliteIOErr            = 10
	sqliteFull             = 13
	sqliteCantOpen         = 14
	sqliteProtocol         = 15
	sqliteCorrupt          = 11
	sqliteNotADB           = 26
	sqliteConstraintFK     = 787
	sqliteConstraintPK     = 1555
	sqliteConstraintUnique = 2067
)

// class sorts a database error into a domain sentinel, or nil.
func (d dialect) class(err error) error {
	if d == sqlite {
		var se *sqlitedrv.Error
		if errors.As(err, &se) {
			switch code := se.Code(); code {
			case sqliteConstraintPK, sqliteConstraintUnique:
				return partner.ErrExists
			case sqliteConstraintFK:
				return partner.ErrNotFound
			default:
				switch code & 0xff {
				case sqliteBusy, sqliteLocked, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
					return partner.ErrUnavailable
				case sqliteCorrupt, sqliteNotADB:
					return partner.ErrCorrupt
				}
			}
			return nil
		}
	} else {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch {
			case pe.Code == "23505": // unique_violation
				return partner.ErrExists
			case pe.Code == "23503": // foreign_key_violation
				return partner.ErrNotFound
			case pe.Code == "XX001", pe.Code == "XX002": // data_corrupted, index_corrupted
				return partner.ErrCorrupt
			case strings.HasPrefix(pe.Code, "08"), // connection_exception
				strings.HasPrefix(pe.Code, "53"),                           // insufficient_resources, too_many_connections
				pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot_connect_now
				pe.Code == "25006": // read_only_sql_transaction: a standby after failover
				return partner.ErrUnavailable
			}
			return nil
		}
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
			return partner.ErrUnavailable
		}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return partner.ErrUnavailable
	}
	return nil
}

// wrap annotates err from operation op, attaching the domain sentinel the
// error maps to. Context errors pass through unchanged in kind.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if errors.Is(err, partner.ErrNotFound) || errors.Is(err, partner.ErrConflict) ||
		errors.Is(err, partner.ErrExists) || errors.Is(err, partner.ErrUnavailable) || errors.Is(err, partner.ErrCorrupt) {
		return err
	}
	if sentinel := s.d.class(err); sentinel != nil {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, sentinel, err)
	}
	if perr := s.pendingError(op, err); perr != nil {
		return perr
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}
