package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// DeletePartner offboards a partner and leaves its row as a tombstone; see
// [store.Store.DeletePartner].
func (s *Store) DeletePartner(ctx context.Context, partnerID string, revokeAll bool, ev partner.AuditEvent) (*partner.Partner, store.Offboarding, error) {
	var (
		out *partner.Partner
		off store.Offboarding
	)
	// The detail is filled in inside the transaction, with what it cut
	// off; the map is shared with the caller's event, so it sees it too.
	if ev.Detail == nil {
		ev.Detail = map[string]string{}
	}
	err := s.write(ctx, "deleting partner", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		off = store.Offboarding{}
		// Lock the partner's row before reading what it holds: a
		// registration (AddCertificate takes the same lock) then either
		// committed first, and is read and removed below, or waits and
		// finds the tombstone.
		if _, err := tx.ExecContext(ctx, `UPDATE partners SET state = state WHERE id = $1`, partnerID); err != nil {
			return nil, err
		}
		p, err := scanPartner(tx.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, partnerID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, errNotFound("partner", partnerID)
		case err != nil:
			return nil, err
		case p.State == partner.Deleted:
			return nil, fmt.Errorf("sqlstore: partner %q: %w", partnerID, store.ErrDeleted)
		}
		keys, err := s.queryStrings(ctx, tx, `SELECT id FROM credentials WHERE partner_id = $1 AND revoked_at IS NULL
			AND (expires_at IS NULL OR expires_at > $2) ORDER BY id`, partnerID, s.d.arg(ts))
		if err != nil {
			return nil, err
		}
		clients, err := s.listClientsTx(ctx, tx, partnerID)
		if err != nil {
			return nil, err
		}
		certs, err := s.queryStrings(ctx, tx, `SELECT id FROM partner_certificates WHERE partner_id = $1 ORDER BY id`, partnerID)
		if err != nil {
			return nil, err
		}
		if !revokeAll && (len(keys) > 0 || len(clients) > 0 || len(certs) > 0) {
			return nil, &store.LiveCredentialsError{PartnerID: partnerID, Keys: len(keys), Clients: len(clients), Certificates: len(certs)}
		}
		// Every key not yet revoked is revoked, expired ones too: a
		// tombstone holds no credential that could be brought back.
		all, err := s.queryStrings(ctx, tx, `SELECT id FROM credentials WHERE partner_id = $1 AND revoked_at IS NULL ORDER BY id`, partnerID)
		if err != nil {
			return nil, err
		}
		changed := []touched{{store.KindPartner, partnerID}}
		if len(all) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE credentials SET revoked_at = $1, version = version + 1
				WHERE partner_id = $2 AND revoked_at IS NULL`, s.d.arg(ts), partnerID); err != nil {
				return nil, err
			}
			for _, id := range all {
				changed = append(changed, touched{store.KindCredential, id})
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE partner_id = $1`, partnerID); err != nil {
			return nil, err
		}
		for _, c := range clients {
			changed = append(changed, touched{store.KindClient, store.ClientChangeID(c.Issuer, c.ClientID)})
		}
		// A certificate that stayed registered would authenticate as
		// whichever tenant the id is given to next.
		if _, err := tx.ExecContext(ctx, `DELETE FROM partner_certificates WHERE partner_id = $1`, partnerID); err != nil {
			return nil, err
		}
		for _, id := range certs {
			changed = append(changed, touched{store.KindCertificate, id})
		}
		// The token cutoff moves to now as well, so no access token
		// issued before the deletion passes, whatever comes later.
		if _, err := tx.ExecContext(ctx, `UPDATE partners SET state = 'deleted', deleted_at = $1, tokens_not_before = $1,
				require_certificate = $2, updated_at = $1, version = version + 1 WHERE id = $3`, s.d.arg(ts), false, partnerID); err != nil {
			return nil, err
		}
		if out, err = scanPartner(tx.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, partnerID)); err != nil {
			return nil, err
		}
		off.RevokedKeys = all
		off.RemovedClients = clients
		off.RemovedCertificates = certs
		ev.Detail["revoked_keys"] = strings.Join(all, ",")
		ev.Detail["removed_clients"] = strconv.Itoa(len(clients))
		ev.Detail["removed_certificates"] = strings.Join(certs, ",")
		return changed, nil
	})
	if err != nil {
		return nil, store.Offboarding{}, err
	}
	return out, off, nil
}

// ReuseDeletedPartner gives a deleted partner's id to a new tenant; see
// [store.Store.ReuseDeletedPartner].
func (s *Store) ReuseDeletedPartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error {
	if p.State != partner.Active {
		return partner.Invalid("state", "a reused id starts active")
	}
	if err := p.Limits.Validate(); err != nil {
		return err
	}
	var now time.Time
	var version int64
	err := s.write(ctx, "reusing deleted partner", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		res, err := tx.ExecContext(ctx, `UPDATE partners SET tier = $1, scopes = $2, state = 'active', allow_cidrs = $3,
				limit_per_second = $4, limit_per_minute = $5, limit_per_day = $6,
				deleted_at = NULL, created_at = $7, updated_at = $7, version = version + 1
			WHERE id = $8 AND state = 'deleted'`,
			p.Tier, p.Scopes.String(), p.AllowCIDRs.String(),
			limitArg(p.Limits.PerSecond), limitArg(p.Limits.PerMinute), limitArg(p.Limits.PerDay), s.d.arg(ts), p.ID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			var state string
			err := tx.QueryRowContext(ctx, `SELECT state FROM partners WHERE id = $1`, p.ID).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, errNotFound("partner", p.ID)
			}
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("sqlstore: partner %q is %s, not deleted: %w", p.ID, state, partner.ErrExists)
		}
		stored, err := scanPartner(tx.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, p.ID))
		if err != nil {
			return nil, err
		}
		version = stored.Version
		p.TokensNotBefore = stored.TokensNotBefore
		return []touched{{store.KindPartner, p.ID}}, nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt, p.UpdatedAt, p.Version, p.DeletedAt = now, now, version, time.Time{}
	return nil
}

// queryStrings returns the single string column of query's rows.
func (s *Store) queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FindCredentials lists live credentials across partners that match f;
// see [store.Store.FindCredentials].
func (s *Store) FindCredentials(ctx context.Context, f store.KeyFilter) ([]*partner.Credential, error) {
	now := s.now()
	q := `SELECT ` + credentialCols + ` FROM ` + credentialsFrom + `
		WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`
	args := []any{s.d.arg(now)}
	if f.PepperVersion != 0 {
		args = append(args, f.PepperVersion)
		q += ` AND pepper_version = $` + strconv.Itoa(len(args))
	}
	if !f.ExpiresBefore.IsZero() {
		args = append(args, s.d.arg(f.ExpiresBefore))
		q += ` AND expires_at IS NOT NULL AND expires_at <= $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id`
	var out []*partner.Credential
	err := s.each(ctx, s.r, "finding credentials", nil, func(c *partner.Credential) error {
		out = append(out, c)
		return nil
	}, q, args...)
	return out, err
}

// RecordExpiredKeys audits the keys that expired unrotated; see
// [store.Store.RecordExpiredKeys].
func (s *Store) RecordExpiredKeys(ctx context.Context, actor string) ([]*partner.Credential, error) {
	now := norm(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap("recording expired keys", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var found []*partner.Credential
	err = s.each(ctx, tx, "recording expired keys", nil, func(c *partner.Credential) error {
		found = append(found, c)
		return nil
	}, `SELECT `+credentialCols+` FROM `+credentialsFrom+`
		WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1
		  AND last_rotated_at IS NULL AND expiry_audited_at IS NULL
		ORDER BY expires_at, id LIMIT 1000`, s.d.arg(now))
	if err != nil {
		return nil, err
	}
	var out []*partner.Credential
	for _, c := range found {
		// Conditional, so that of two replicas only one records it.
		res, err := tx.ExecContext(ctx, `UPDATE credentials SET expiry_audited_at = $1 WHERE id = $2 AND expiry_audited_at IS NULL`, s.d.arg(now), c.ID)
		if err != nil {
			return nil, s.wrap("recording expired keys", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, s.wrap("recording expired keys", err)
		} else if n == 0 {
			continue
		}
		ev := partner.AuditEvent{Actor: actor, Action: "key.expire", PartnerID: c.PartnerID, CredentialID: c.ID,
			Detail: map[string]string{"expires_at": c.ExpiresAt.UTC().Format(time.RFC3339), "rotated": "false"}}
		if err := s.appendAudit(ctx, tx, ev, now); err != nil {
			return nil, s.wrap("recording expired keys", err)
		}
		out = append(out, c)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.wrap("recording expired keys", err)
	}
	return out, nil
}

// ApplyPartner stores p and its desired clients in one transaction; see
// [store.Store.ApplyPartner].
func (s *Store) ApplyPartner(ctx context.Context, p *partner.Partner, clients []partner.Client, create bool, ev partner.AuditEvent) error {
	if p.State == partner.Deleted {
		return partner.Invalid("state", "a partner is deleted with DeletePartner")
	}
	if err := p.Limits.Validate(); err != nil {
		return err
	}
	var now time.Time
	var version int64
	err := s.write(ctx, "applying partner", ev, func(tx *sql.Tx, ts time.Time) ([]touched, error) {
		now = ts
		if create {
			if _, err := tx.ExecContext(ctx, `INSERT INTO partners (id, tier, scopes, state, created_at, updated_at, version,
					limit_per_second, limit_per_minute, limit_per_day, allow_cidrs)
				VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $7, $8, $9)`,
				p.ID, p.Tier, p.Scopes.String(), string(p.State), s.d.arg(ts),
				limitArg(p.Limits.PerSecond), limitArg(p.Limits.PerMinute), limitArg(p.Limits.PerDay), p.AllowCIDRs.String()); err != nil {
				return nil, fmt.Errorf("partner %q: %w", p.ID, err)
			}
			version = 1
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE partners SET tier = $1, scopes = $2, state = $3, allow_cidrs = $4,
					limit_per_second = $5, limit_per_minute = $6, limit_per_day = $7, updated_at = $8, version = version + 1
				WHERE id = $9 AND version = $10 AND state <> 'deleted'`,
				p.Tier, p.Scopes.String(), string(p.State), p.AllowCIDRs.String(),
				limitArg(p.Limits.PerSecond), limitArg(p.Limits.PerMinute), limitArg(p.Limits.PerDay), s.d.arg(ts), p.ID, p.Version)
			if err := checkUpdated(ctx, tx, res, err, "partners", "partner", p.ID); err != nil {
				return nil, err
			}
			version = p.Version + 1
		}
		changed := []touched{{store.KindPartner, p.ID}}
		have, err := s.listClientsTx(ctx, tx, p.ID)
		if err != nil {
			return nil, err
		}
		want := map[[2]string]bool{}
		for _, c := range clients {
			want[[2]string{c.Issuer, c.ClientID}] = true
		}
		held := map[[2]string]bool{}
		for _, c := range have {
			k := [2]string{c.Issuer, c.ClientID}
			held[k] = true
			if want[k] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE issuer = $1 AND client_id = $2 AND partner_id = $3`,
				c.Issuer, c.ClientID, p.ID); err != nil {
				return nil, err
			}
			changed = append(changed, touched{store.KindClient, store.ClientChangeID(c.Issuer, c.ClientID)})
		}
		for _, c := range clients {
			if held[[2]string{c.Issuer, c.ClientID}] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+clientCols+`) VALUES ($1, $2, $3, $4)`,
				c.Issuer, c.ClientID, p.ID, s.d.arg(ts)); err != nil {
				return nil, fmt.Errorf("client %q of issuer %q: %w", c.ClientID, c.Issuer, err)
			}
			changed = append(changed, touched{store.KindClient, store.ClientChangeID(c.Issuer, c.ClientID)})
		}
		return changed, nil
	})
	if err != nil {
		return err
	}
	if create {
		p.CreatedAt = now
	}
	p.UpdatedAt, p.Version = now, version
	return nil
}
