package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

var _ store.Usage = (*Store)(nil)

// maxTouchFrom bounds the stored client address; anything longer is not
// an address.
const maxTouchFrom = 64

// TouchCredentials records last use without an audit event, a change-feed
// row or a version bump: it changes no decision. Each call is one
// transaction. Touches for one id collapse into the latest; ids the store
// does not hold are ignored.
//
// Last use has a narrow table of its own, credential_use, ordered by
// credential id on SQLite, and the touches are written in id order, as
// the recorder also sorts what it flushes: consecutive touches then share
// the table's pages. What a touch costs on the embedded store is mostly
// the pages its commit changes, each a frame written to the WAL. With
// 100,000 keys in use, a page of the wide credentials table per touch
// cost 27 to 31 µs of the process's CPU a touch, against 8.6 to 9.0 µs
// now (BenchmarkTouchCredentials, old and new alternated). PostgreSQL
// takes a batch as one statement over arrays: one round trip, however
// many touches.
func (s *Store) TouchCredentials(ctx context.Context, touches []store.Touch) error {
	touches = latestTouches(touches)
	if len(touches) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("recording last use", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.d == postgres {
		err = touchPostgres(ctx, tx, touches)
	} else {
		err = touchSQLite(ctx, tx, touches)
	}
	if err != nil {
		return s.wrap("recording last use", err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("recording last use", err)
	}
	return nil
}

// touchUpsert's conflict clause keeps the later of two uses: touches from
// several replicas may arrive out of order. Its select names only a
// credential that exists, so no row is written for an unknown id.
const touchUpsert = ` ON CONFLICT (credential_id) DO UPDATE
		SET last_used_at = excluded.last_used_at, last_used_from = excluded.last_used_from
		WHERE credential_use.last_used_at < excluded.last_used_at`

func touchSQLite(ctx context.Context, tx *sql.Tx, touches []store.Touch) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO credential_use (credential_id, last_used_at, last_used_from)
		SELECT id, $2, $3 FROM credentials WHERE id = $1`+touchUpsert)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, t := range touches {
		if _, err := stmt.ExecContext(ctx, t.ID, sqlite.arg(t.At), nullString(t.From)); err != nil {
			return err
		}
	}
	return nil
}

func touchPostgres(ctx context.Context, tx *sql.Tx, touches []store.Touch) error {
	ids := make([]string, len(touches))
	ats := make([]time.Time, len(touches))
	froms := make([]string, len(touches))
	for i, t := range touches {
		ids[i], ats[i], froms[i] = t.ID, norm(t.At), t.From
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO credential_use (credential_id, last_used_at, last_used_from)
		SELECT t.id, t.at, NULLIF(t.from_addr, '')
		FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS t (id, at, from_addr)
		WHERE EXISTS (SELECT 1 FROM credentials c WHERE c.id = t.id)`+touchUpsert, ids, ats, froms)
	return err
}

// latestTouches returns touches sorted by id, with each id's latest use
// only (a statement may not update a row twice), touches without a time
// left out and addresses cut to maxTouchFrom. It does not change the
// caller's slice.
func latestTouches(touches []store.Touch) []store.Touch {
	out := make([]store.Touch, 0, len(touches))
	for _, t := range touches {
		if t.At.IsZero() {
			continue
		}
		if len(t.From) > maxTouchFrom {
			t.From = t.From[:maxTouchFrom]
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.Touch) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), b.At.Compare(a.At))
	})
	return slices.CompactFunc(out, func(a, b store.Touch) bool { return a.ID == b.ID })
}

// ListUnusedCredentials lists live credentials unused since before.
func (s *Store) ListUnusedCredentials(ctx context.Context, before time.Time) ([]*partner.Credential, error) {
	var out []*partner.Credential
	err := s.each(ctx, s.r, "listing unused credentials", nil, func(c *partner.Credential) error {
		out = append(out, c)
		return nil
	}, `SELECT `+credentialCols+` FROM `+credentialsFrom+`
		WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
		  AND COALESCE(last_used_at, created_at) < $2
		ORDER BY COALESCE(last_used_at, created_at), id`, s.d.arg(s.now()), s.d.arg(before))
	return out, err
}
