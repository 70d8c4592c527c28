package admin

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Store is what the admin API needs from the source of truth; every
// [store.Store] has it. Writes commit their audit event in the same
// transaction.
type Store interface {
	CreatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	UpdatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	GetPartner(ctx context.Context, id string) (*partner.Partner, error)
	ListPartners(ctx context.Context) ([]*partner.Partner, error)
	SetPartnerLimits(ctx context.Context, partnerID string, l partner.Limits, ev partner.AuditEvent) (*partner.Partner, error)
	DeletePartner(ctx context.Context, partnerID string, revokeAll bool, ev partner.AuditEvent) (*partner.Partner, store.Offboarding, error)
	ReuseDeletedPartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	ApplyPartner(ctx context.Context, p *partner.Partner, clients []partner.Client, create bool, ev partner.AuditEvent) error

	CreateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error
	UpdateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error
	RevokeCredential(ctx context.Context, id string, ev partner.AuditEvent) (*partner.Credential, error)
	RotateCredential(ctx context.Context, old, next *partner.Credential, ev partner.AuditEvent) error
	GetCredential(ctx context.Context, id string) (*partner.Credential, error)
	ListCredentials(ctx context.Context, partnerID string) ([]*partner.Credential, error)
	FindCredentials(ctx context.Context, f store.KeyFilter) ([]*partner.Credential, error)

	ListAudit(ctx context.Context, f store.AuditFilter) ([]partner.AuditEvent, error)

	// The OAuth2 client registry and token revocation.
	store.Tokens
	// Client certificates registered as credentials.
	store.Certificates
	// When keys were last used.
	store.Usage
	// The admin API's own principals.
	store.Operators
}

var _ Store = (store.Store)(nil)

// Syncer brings the serving replica's hot cache up to date with the store.
type Syncer interface {
	// Sync returns once every committed change has been applied.
	Sync(ctx context.Context) error
	// ApplyWritten returns once the given credentials, just committed by
	// this process and each as the store returned it, are what the cache
	// answers with; it need not read the store.
	ApplyWritten(ctx context.Context, creds ...*partner.Credential) error
}

// Defaults for the zero values of [Server]'s bounds.
const (
	// DefaultKeyLifetime is the lifetime of a key issued without one:
	// 90 days, well inside the one-year ceiling of the security rules.
	DefaultKeyLifetime = 90 * 24 * time.Hour
	// DefaultMaxKeyLifetime is the longest lifetime an operator may ask for.
	DefaultMaxKeyLifetime = 365 * 24 * time.Hour
	// DefaultOverlap is how long a rotated key stays valid when the request
	// does not say.
	DefaultOverlap = 24 * time.Hour
	// DefaultMaxOverlap is the longest rotation overlap accepted.
	DefaultMaxOverlap = 30 * 24 * time.Hour
	// DefaultOperatorLifetime is the life of an operator created without
	// expires_in: 90 days, like a key.
	DefaultOperatorLifetime = 90 * 24 * time.Hour
	// MaxOperatorLifetime is the longest life an operator may be given.
	MaxOperatorLifetime = 365 * 24 * time.Hour
	// MaxOperatorOverlap is the longest an operator's old token outlives
	// a rotation.
	MaxOperatorOverlap = 7 * 24 * time.Hour
)

// writeAttempts bounds the retries of a read-modify-write that lost an
// optimistic-concurrency race, and of a key issue whose random id collided.
const writeAttempts = 3

// Server implements the admin gRPC service. Set its fields, check them with
// [Server.Validate], then register it with [adminv1.RegisterAdminServer]
// behind the interceptors from [Authenticator.Interceptors].
type Server struct {
	adminv1.UnimplementedAdminServer

	// Store is the source of truth. Required.
	Store Store
	// Format generates new keys. Required.
	Format apikey.Format
	// Hasher digests new keys; the store keeps only the digest. Required.
	Hasher *apikey.Hasher
	// Now is the clock; nil means [time.Now].
	Now func() time.Time
	// Sync, if set, is called after every committed write and before the
	// RPC returns, so this replica's cache has applied the change. A Sync
	// error is logged and sent to the client as a [WarningHeader] trailer;
	// the write still reports success, since it committed and the change
	// feed will deliver it, and a retry would repeat it.
	Sync Syncer
	// DefaultKeyLifetime applies when IssueKey's expires_in is unset or
	// zero, and to the successor of a rotated key; zero means
	// [DefaultKeyLifetime].
	DefaultKeyLifetime time.Duration
	// MaxKeyLifetime bounds expires_in; zero means [DefaultMaxKeyLifetime].
	MaxKeyLifetime time.Duration
	// DefaultOverlap applies when RotateKey's overlap is unset; zero means
	// [DefaultOverlap].
	DefaultOverlap time.Duration
	// MaxOverlap bounds RotateKey's overlap; zero means [DefaultMaxOverlap].
	MaxOverlap time.Duration
	// Logger receives faults and the audit of every write; nil discards.
	Logger *slog.Logger
	// Tiers, if not empty, are the only tiers a partner may be given (the
	// configured rate-limit tiers), so no partner lands in a tier the
	// rate-limit service has no limits for. Empty accepts any valid name.
	Tiers []string
	// Issuers are the trusted token issuers (jwt.issuers[].issuer).
	// Registering a client or revoking a token under any other issuer is
	// refused, since Check would never see it; empty refuses both.
	Issuers []string
	// Leaked, if set, counts one live key of partnerID revoked because
	// ReportLeakedKeys was sent it (partnergate scan --revoke).
	Leaked func(partnerID string)
}

var _ adminv1.AdminServer = (*Server)(nil)

// Validate reports every problem with s's fields at once.
func (s *Server) Validate() error {
	var errs []error
	if s.Store == nil {
		errs = append(errs, errors.New("admin: Store is required"))
	}
	if s.Format.Prefix() == "" {
		errs = append(errs, errors.New("admin: Format is required"))
	}
	if s.Hasher == nil {
		errs = append(errs, errors.New("admin: Hasher is required"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DefaultKeyLifetime", s.DefaultKeyLifetime},
		{"MaxKeyLifetime", s.MaxKeyLifetime},
		{"DefaultOverlap", s.DefaultOverlap},
		{"MaxOverlap", s.MaxOverlap},
	} {
		if d.v < 0 {
			errs = append(errs, errors.New("admin: "+d.name+" must not be negative"))
		}
	}
	if s.defaultLifetime() > s.maxLifetime() {
		errs = append(errs, errors.New("admin: DefaultKeyLifetime exceeds MaxKeyLifetime"))
	}
	if s.defaultOverlap() > s.maxOverlap() {
		errs = append(errs, errors.New("admin: DefaultOverlap exceeds MaxOverlap"))
	}
	return errors.Join(errs...)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (s *Server) defaultLifetime() time.Duration {
	return orDefault(s.DefaultKeyLifetime, DefaultKeyLifetime)
}
func (s *Server) maxLifetime() time.Duration {
	return orDefault(s.MaxKeyLifetime, DefaultMaxKeyLifetime)
}
func (s *Server) defaultOverlap() time.Duration { return orDefault(s.DefaultOverlap, DefaultOverlap) }
func (s *Server) maxOverlap() time.Duration     { return orDefault(s.MaxOverlap, DefaultMaxOverlap) }

// committed finishes a successful write: it logs the audit event and waits
// for this replica's cache to apply the change.
func (s *Server) committed(ctx context.Context, ev partner.AuditEvent) {
	s.logWrite(ctx, ev)
	s.synced(ctx, ev.Action)
}

// committedKey is [Server.committed] for a write of credentials alone,
// each as the store returned it: the cache installs them, and needs no
// read of the change feed to answer with them.
func (s *Server) committedKey(ctx context.Context, ev partner.AuditEvent, creds ...*partner.Credential) {
	s.logWrite(ctx, ev)
	s.synced(ctx, ev.Action, creds...)
}

func (s *Server) logWrite(ctx context.Context, ev partner.AuditEvent) {
	s.logger().LogAttrs(ctx, slog.LevelInfo, "admin write",
		slog.String("action", ev.Action),
		slog.String("actor", ev.Actor),
		slog.String("partner_id", ev.PartnerID),
		slog.String("key_id", ev.CredentialID),
	)
}

// synced brings this replica's cache up to date after a committed write
// of action, warning the client in a trailer if it could not: by
// installing creds, if the write changed only those, else by reading the
// change feed.
func (s *Server) synced(ctx context.Context, action string, creds ...*partner.Credential) {
	if s.Sync == nil {
		return
	}
	sync := s.Sync.Sync
	if len(creds) > 0 {
		sync = func(ctx context.Context) error { return s.Sync.ApplyWritten(ctx, creds...) }
	}
	if err := sync(ctx); err != nil {
		// The write committed and the change feed will carry it; the caller
		// must not retry a write that succeeded, but must be told that this
		// replica does not show it yet. The cause stays in the log, as
		// every internal error's does.
		s.logger().LogAttrs(ctx, slog.LevelWarn, "admin write committed but cache sync failed",
			slog.String("action", action), slog.Any("error", err))
		_ = grpc.SetTrailer(ctx, metadata.Pairs(WarningHeader, CacheSyncWarning))
	}
}

// WarningHeader is the trailer key of a warning about a request that
// succeeded, such as [CacheSyncWarning].
const WarningHeader = "x-partnergate-warning"

// CacheSyncWarning is sent when a write committed but the serving
// replica's cache could not apply it.
const CacheSyncWarning = "the write committed, but this server's cache could not apply it (see the server log): " +
	"the server reports not ready until its cache catches up through the change feed; do not repeat the write"
