package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

const (
	// defaultAuditLimit and maxAuditLimit bound one page of audit events.
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
	// defaultChangesLimit and maxChangesLimit bound one read of the feed.
	defaultChangesLimit = 1000
	maxChangesLimit     = 10_000
)

// querier is what a read needs: a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const partnerCols = `id, tier, scopes, state, created_at, updated_at, version, tokens_not_before,
	limit_per_second, limit_per_minute, limit_per_day, allow_cidrs, deleted_at, require_certificate`

func scanPartner(row interface{ Scan(...any) error }) (*partner.Partner, error) {
	var p partner.Partner
	var scopes, state, allow string
	if err := row.Scan(&p.ID, &p.Tier, &scopes, &state, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.Version, timeCol{&p.TokensNotBefore},
		limitCol{&p.Limits.PerSecond}, limitCol{&p.Limits.PerMinute}, limitCol{&p.Limits.PerDay},
		&allow, timeCol{&p.DeletedAt}, &p.RequireCertificate); err != nil {
		return nil, err
	}
	var err error
	if p.AllowCIDRs, err = splitCIDRs(allow); err != nil {
		return nil, err
	}
	p.Scopes = splitScopes(scopes)
	p.State = partner.State(state)
	return &p, nil
}

// credentialNames are the columns scanCredential reads, in its order.
// Last use lives in a table of its own (migration 00014, and
// [Store.TouchCredentials] for why): credentialCols select them from
// credentialsFrom, which joins it, and credentialReturning are the same
// columns as an UPDATE of credentials returns them.
const (
	credentialNames = `id, partner_id, name, digest, pepper_version, scopes, created_at, expires_at, revoked_at,
	rotated_from, last_rotated_at, last_used_at, version, last_used_from, compromised_at, allow_cidrs`
	credentialsFrom = `credentials LEFT JOIN credential_use u ON u.credential_id = credentials.id`
)

var (
	credentialCols = mapColumns(credentialNames, func(c string) string {
		if isLastUse(c) {
			return "u." + c
		}
		return c
	})
	credentialReturning = mapColumns(credentialNames, func(c string) string {
		if isLastUse(c) {
			return "(SELECT u." + c + " FROM credential_use u WHERE u.credential_id = credentials.id) AS " + c
		}
		return c
	})
)

// isLastUse reports whether credential column c is kept in credential_use.
func isLastUse(c string) bool { return c == "last_used_at" || c == "last_used_from" }

// mapColumns returns the comma-separated column list cols with each
// column replaced by f's expression for it.
func mapColumns(cols string, f func(string) string) string {
	fields := strings.Split(cols, ",")
	for i, c := range fields {
		fields[i] = f(strings.TrimSpace(c))
	}
	return strings.Join(fields, ", ")
}

func scanCredential(row interface{ Scan(...any) error }) (*partner.Credential, error) {
	var c partner.Credential
	var scopes, allow string
	var rotatedFrom, lastUsedFrom sql.NullString
	err := row.Scan(&c.ID, &c.PartnerID, &c.Name, &c.Digest, &c.PepperVersion, &scopes,
		timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, timeCol{&c.RevokedAt},
		&rotatedFrom, timeCol{&c.LastRotatedAt}, timeCol{&c.LastUsedAt}, &c.Version, &lastUsedFrom,
		timeCol{&c.CompromisedAt}, &allow)
	if err != nil {
		return nil, err
	}
	if c.AllowCIDRs, err = splitCIDRs(allow); err != nil {
		return nil, err
	}
	c.Scopes = splitScopes(scopes)
	c.RotatedFrom = rotatedFrom.String
	c.LastUsedFrom = lastUsedFrom.String
	return &c, nil
}

// splitScopes parses the stored form. Scopes were validated and sorted on
// the way in, so they are not re-validated here.
func splitScopes(s string) partner.Scopes {
	if s == "" {
		return nil
	}
	return partner.Scopes(strings.Fields(s))
}

// splitCIDRs parses a stored allow-list. A row that does not parse is
// damage, not an empty list: an unreadable allow-list must not allow
// everything.
func splitCIDRs(s string) (partner.CIDRs, error) {
	if s == "" {
		return nil, nil
	}
	c, err := partner.ParseCIDRs("allow_cidrs", s)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: stored allow-list %w: %w", err, partner.ErrCorrupt)
	}
	return c, nil
}

// GetPartner returns the partner with id, or [partner.ErrNotFound].
func (s *Store) GetPartner(ctx context.Context, id string) (*partner.Partner, error) {
	p, err := scanPartner(s.r.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("partner", id)
	}
	if err != nil {
		return nil, s.wrap("reading partner "+strconv.Quote(id), err)
	}
	return p, nil
}

// ListPartners returns every partner, ordered by id.
func (s *Store) ListPartners(ctx context.Context) ([]*partner.Partner, error) {
	var out []*partner.Partner
	err := s.each(ctx, s.r, "listing partners", func(p *partner.Partner) error {
		out = append(out, p)
		return nil
	}, nil, `SELECT `+partnerCols+` FROM partners ORDER BY id`)
	return out, err
}

// GetCredential returns the credential with id, revoked or expired ones
// included, or [partner.ErrNotFound].
func (s *Store) GetCredential(ctx context.Context, id string) (*partner.Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM `+credentialsFrom+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("credential", id)
	}
	if err != nil {
		return nil, s.wrap("reading credential "+strconv.Quote(id), err)
	}
	return c, nil
}

// credentialsPerQuery bounds the ids one query of GetCredentials names;
// tests lower it.
var credentialsPerQuery = 1000

// GetCredentials returns the credentials with the given ids that exist, in
// no particular order, reading up to credentialsPerQuery of them per
// round trip; an id the store does not hold is left out.
func (s *Store) GetCredentials(ctx context.Context, ids []string) ([]*partner.Credential, error) {
	// One parameter carries every id: a PostgreSQL text[], or a JSON array
	// that SQLite's json_each expands, so the statement's text is the same
	// whatever the number of ids.
	query := `SELECT ` + credentialCols + ` FROM ` + credentialsFrom + ` WHERE id = ANY($1)`
	if s.d == sqlite {
		query = `SELECT ` + credentialCols + ` FROM ` + credentialsFrom + ` WHERE id IN (SELECT value FROM json_each($1))`
	}
	out := make([]*partner.Credential, 0, len(ids))
	for off := 0; off < len(ids); off += credentialsPerQuery {
		part := ids[off:min(off+credentialsPerQuery, len(ids))]
		var arg any = part
		if s.d == sqlite {
			b, err := json.Marshal(part)
			if err != nil {
				return nil, s.wrap("reading credentials", err)
			}
			arg = string(b)
		}
		err := s.each(ctx, s.r, "reading credentials", nil, func(c *partner.Credential) error {
			out = append(out, c)
			return nil
		}, query, arg)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListCredentials lists a partner's credentials, revoked and expired ones
// included, newest first. An unknown partner has none.
func (s *Store) ListCredentials(ctx context.Context, partnerID string) ([]*partner.Credential, error) {
	var out []*partner.Credential
	err := s.each(ctx, s.r, "listing credentials", nil, func(c *partner.Credential) error {
		out = append(out, c)
		return nil
	}, `SELECT `+credentialCols+` FROM `+credentialsFrom+` WHERE partner_id = $1 ORDER BY created_at DESC, id DESC`, partnerID)
	return out, err
}

// each streams the rows of query to onPartner or onCredential (whichever
// is set), one row at a time.
func (s *Store) each(ctx context.Context, q querier, op string,
	onPartner func(*partner.Partner) error, onCredential func(*partner.Credential) error,
	query string, args ...any,
) error {
	if onPartner != nil {
		return eachRow(ctx, s, q, op, scanPartner, onPartner, query, args...)
	}
	return eachRow(ctx, s, q, op, scanCredential, onCredential, query, args...)
}

// rowsPerYield is how many rows a long read (eachRow, eachLive) streams
// between two yields of its processor (runtime.Gosched). A reconcile reads every credential, a
// million rows taking seconds, and the reading goroutine, in and out of
// SQLite's short page reads, kept its processor the whole time: on one
// processor, Checks at 5,000 a second waited up to 3 s (open-loop p99
// 3,018 ms, reconciling every 10 s), 17 ms with the yield. A yield costs
// nothing when no other goroutine waits.
const rowsPerYield = 256

// liveCredentialCols are the columns of a snapshot's credentials: those a
// cache holds (see [store.Visitor]). The rest of a credential is for
// operators, and reading it was half of the cost of a row.
const liveCredentialCols = `id, partner_id, digest, pepper_version, scopes, expires_at, version, allow_cidrs`

// eachLive calls f with each credential of query's rows of
// liveCredentialCols. Consecutive rows of one partner and one scope list —
// most of them, in a store of many keys — share the strings and slice of
// the first: the visitor must not modify them.
func (s *Store) eachLive(ctx context.Context, q querier, f func(*partner.Credential) error, query string, args ...any) error {
	const op = "snapshot credentials"
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return s.wrap(op, err)
	}
	defer rows.Close()
	var (
		partnerID, scopes, allow sql.RawBytes
		lastPartner, lastScopes  string
		lastScopeList            partner.Scopes
	)
	for n := 1; rows.Next(); n++ {
		if n%rowsPerYield == 0 {
			runtime.Gosched()
		}
		c := &partner.Credential{}
		if err := rows.Scan(&c.ID, &partnerID, &c.Digest, &c.PepperVersion, &scopes,
			timeCol{&c.ExpiresAt}, &c.Version, &allow); err != nil {
			return s.wrap(op, err)
		}
		if string(partnerID) != lastPartner {
			lastPartner = string(partnerID)
		}
		if string(scopes) != lastScopes {
			lastScopes = string(scopes)
			lastScopeList = splitScopes(lastScopes)
		}
		c.PartnerID, c.Scopes = lastPartner, lastScopeList
		if len(allow) > 0 {
			if c.AllowCIDRs, err = splitCIDRs(string(allow)); err != nil {
				return s.wrap(op, err)
			}
		}
		if err := f(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// ListAudit returns audit events matching f, oldest first. Page with
// f.AfterID set to the last ID of the previous page. Limit defaults to 100
// and is capped at 1000.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]partner.AuditEvent, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	query := `SELECT id, at, actor, action, partner_id, credential_id, reason, detail, auth_method, source, note
		FROM audit_events WHERE id > $1`
	args := []any{f.AfterID}
	if f.PartnerID != "" {
		args = append(args, f.PartnerID)
		query += ` AND partner_id = $` + strconv.Itoa(len(args))
	}
	if f.Actor != "" {
		args = append(args, f.Actor)
		query += ` AND actor = $` + strconv.Itoa(len(args))
	}
	args = append(args, limit)
	query += ` ORDER BY id LIMIT $` + strconv.Itoa(len(args))

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("listing audit events", err)
	}
	defer rows.Close()
	var out []partner.AuditEvent
	for rows.Next() {
		var ev partner.AuditEvent
		var detail string
		if err := rows.Scan(&ev.ID, timeCol{&ev.At}, &ev.Actor, &ev.Action, &ev.PartnerID, &ev.CredentialID, &ev.Reason, &detail,
			&ev.AuthMethod, &ev.Source, &ev.Note); err != nil {
			return nil, s.wrap("listing audit events", err)
		}
		if detail != "" && detail != "{}" {
			if err := json.Unmarshal([]byte(detail), &ev.Detail); err != nil {
				return nil, fmt.Errorf("sqlstore: audit event %d: decoding detail: %w", ev.ID, err)
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing audit events", err)
	}
	return out, nil
}

// Changes returns up to limit change-feed entries with a version greater
// than since, oldest first. Limit defaults to 1000 and is capped at 10,000.
func (s *Store) Changes(ctx context.Context, since int64, limit int) ([]store.Change, error) {
	switch {
	case limit <= 0:
		limit = defaultChangesLimit
	case limit > maxChangesLimit:
		limit = maxChangesLimit
	}
	// Each row carries the pruned horizon, read by the same statement and
	// so from the same snapshot as the rows: a prune (which deletes entries
	// and moves the horizon in one transaction) is either wholly visible,
	// and the horizon says so, or not at all, and every entry is there.
	// One statement, not a second query after the read: every feed read
	// is one round trip. No rows needs no horizon: PruneChanges always
	// keeps the newest entry, so a reader behind the horizon has at least
	// that one to read.
	rows, err := s.r.QueryContext(ctx, `SELECT version, kind, id, at, (SELECT value FROM meta WHERE key = $3)
		FROM changes WHERE version > $1 ORDER BY version LIMIT $2`, since, limit, prunedMeta)
	if err != nil {
		return nil, s.wrap("reading changes", err)
	}
	defer rows.Close()
	var out []store.Change
	var horizon sql.NullString
	for rows.Next() {
		var c store.Change
		var kind string
		if err := rows.Scan(&c.Version, &kind, &c.ID, timeCol{&c.At}, &horizon); err != nil {
			return nil, s.wrap("reading changes", err)
		}
		c.Kind = store.Kind(kind)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reading changes", err)
	}
	if horizon.Valid {
		through, err := strconv.ParseInt(horizon.String, 10, 64)
		if err != nil {
			return nil, s.wrap("reading changes", fmt.Errorf("meta %s = %q: %w", prunedMeta, horizon.String, err))
		}
		if since < through {
			return nil, fmt.Errorf("sqlstore: change feed after version %d: entries through %d were pruned: %w", since, through, store.ErrFeedPruned)
		}
	}
	s.answered()
	return out, nil
}

// answered notes that the database answered: a notification listener that
// is down reconnects at once instead of at the end of its backoff, so
// after an outage changes travel by notification again as soon as the
// feed can be read, not up to a backoff later.
func (s *Store) answered() {
	if s.listenKick == nil || s.listenerPID.Load() != 0 {
		return
	}
	select {
	case s.listenKick <- struct{}{}:
	default:
	}
}

// Snapshot walks every partner, then every credential that is neither
// revoked nor expired at the store's clock, in one read transaction
// (REPEATABLE READ on PostgreSQL), streaming rows so that memory does not
// grow with the number of credentials. It returns the newest change-feed
// version visible in that transaction: applying the feed after it brings a
// reader up to date. The visitor must not call the store.
func (s *Store) Snapshot(ctx context.Context, v store.Visitor) (int64, error) {
	var opts *sql.TxOptions
	if s.d == postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return 0, s.wrap("starting snapshot", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	// The first statement fixes the transaction's view on both backends;
	// everything below reads that same view.
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM changes`).Scan(&version); err != nil {
		return 0, s.wrap("snapshot version", err)
	}
	if v.Partner != nil {
		if err := s.each(ctx, tx, "snapshot partners", v.Partner, nil, `SELECT `+partnerCols+` FROM partners`); err != nil {
			return 0, err
		}
	}
	if v.Credential != nil {
		now := s.d.arg(s.now())
		const live = ` FROM credentials WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`
		if v.CredentialCount != nil {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*)`+live, now).Scan(&n); err != nil {
				return 0, s.wrap("snapshot credential count", err)
			}
			if err := v.CredentialCount(n); err != nil {
				return 0, err
			}
		}
		err := s.eachLive(ctx, tx, v.Credential, `SELECT `+liveCredentialCols+live, now)
		if err != nil {
			return 0, err
		}
	}
	if err := s.snapshotCertificates(ctx, tx, v); err != nil {
		return 0, err
	}
	if err := s.snapshotTokens(ctx, tx, v); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, s.wrap("ending snapshot", err)
	}
	return version, nil
}

// PepperVersions returns the distinct pepper versions of live credentials,
// in increasing order. It steps through the versions present with the
// pepper-version index, one look-up each, and asks of each whether a live
// key has it, rather than reading every credential: a store holds a few
// versions and millions of keys.
func (s *Store) PepperVersions(ctx context.Context) ([]int, error) {
	now := s.d.arg(s.now())
	var versions []int
	for after := int64(math.MinInt32); ; { // PostgreSQL keeps versions in 32 bits
		var v sql.NullInt64
		err := s.r.QueryRowContext(ctx, `SELECT MIN(pepper_version) FROM credentials WHERE pepper_version > $1`, after).Scan(&v)
		if err != nil {
			return nil, s.wrap("reading pepper versions", err)
		}
		if !v.Valid {
			return versions, nil
		}
		var live bool
		err = s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE pepper_version = $1
			AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2))`, v.Int64, now).Scan(&live)
		if err != nil {
			return nil, s.wrap("reading pepper versions", err)
		}
		if live {
			versions = append(versions, int(v.Int64))
		}
		after = v.Int64
	}
}

// Meta reads a small server setting, or [partner.ErrNotFound] if unset.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound("meta key", key)
	}
	if err != nil {
		return "", s.wrap("reading meta "+strconv.Quote(key), err)
	}
	return v, nil
}

// Notify returns a channel that receives a value, without blocking any
// writer, soon after a change commits: at once for writes through this
// Store, and on PostgreSQL also for writes by other replicas and after the
// listener reconnects. Values coalesce: a slow reader sees one value for
// many changes. The channel closes when ctx is done.
func (s *Store) Notify(ctx context.Context) <-chan struct{} {
	return s.hub.subscribe(ctx)
}
