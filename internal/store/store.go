// Package store is partnergate's source of truth: partners, credentials, the
// admin audit trail and the change feed that keeps every replica's hot cache
// current.
//
// Two backends implement [Store]: embedded SQLite (the default, one file,
// for one process) and PostgreSQL (shared by several replicas). Every write
// and its audit event commit in one transaction, together with a row in the
// changes table whose version increases monotonically; readers of the feed
// catch up from the last version they applied, so a missed notification
// delays a change but never loses it.
//
// The store is never on the Check hot path: the cache loads from it at
// start-up and follows its change feed. All methods are safe for concurrent
// use.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// Kind names what a change-feed entry touched.
type Kind string

const (
	KindPartner    Kind = "partner"
	KindCredential Kind = "credential"
	// KindClient and KindTokenRevocation carry [ClientChangeID] and
	// [TokenRevocationChangeID] as their ID.
	KindClient          Kind = "client"
	KindTokenRevocation Kind = "token_revocation"
	// KindOperator carries an operator's name as its ID: the operator or
	// one of its tokens changed.
	KindOperator Kind = "operator"
	// KindCertificate carries a certificate registration's id.
	KindCertificate Kind = "certificate"
)

// Change is one change-feed entry: which entity changed, at which version.
// Readers reload the entity to learn its new state.
type Change struct {
	Version int64
	Kind    Kind
	ID      string
	// At is when the change was committed, or a moment before: taken in
	// the writing transaction after its row writes, by the store's clock
	// (the database server's, for a shared store), never a client's.
	At time.Time
}

// Visitor receives a consistent snapshot, one entity per call. Returning an
// error stops the walk and is returned by [Store.Snapshot].
type Visitor struct {
	Partner func(*partner.Partner) error
	// Credential receives each credential with the fields a cache holds
	// (ID, PartnerID, Digest, PepperVersion, Scopes, ExpiresAt, Version,
	// AllowCIDRs); the others are zero, so that a snapshot of millions of
	// keys reads no more than it must. Credentials may share their
	// PartnerID and Scopes: the visitor must not modify them.
	Credential func(*partner.Credential) error
	// CredentialCount, if set, receives how many credentials the
	// snapshot holds, before the first of them, so that a cache can be
	// sized once. A store may not call it.
	CredentialCount func(n int) error
	// Client, if set, receives every registered OAuth2 client.
	Client func(*partner.Client) error
	// TokenRevocation, if set, receives every token revocation still live
	// at the store's clock (see [partner.TokenRevocation.Live]).
	TokenRevocation func(*partner.TokenRevocation) error
	// Certificate, if set, receives every certificate registration.
	Certificate func(*partner.Certificate) error
}

// AuditFilter selects audit events; zero fields select everything.
// Events come oldest first.
type AuditFilter struct {
	PartnerID string
	// Actor selects the events of one operator (the verified name).
	Actor string
	// AfterID returns events with an ID greater than this, for paging.
	AfterID int64
	// Limit caps the number of events; zero means the store's default (100).
	// Stores may cap it (the SQL store at 1000).
	Limit int
}

// Store is the source of truth. Write methods take the audit event that
// records them and commit both in one transaction, with a change-feed entry.
// Updates are optimistic: the stored row's Version must equal the argument's
// Version, or the write fails with [partner.ErrConflict] and changes nothing.
// On success the argument's Version, and the store-set timestamps, are
// updated in place.
//
// Times are kept in UTC at microsecond precision; on success the argument's
// times are rounded the same way, so it equals what a later read returns.
// An event whose At is zero is stamped with the store's clock; its ID is
// set by the store.
type Store interface {
	CreatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	// UpdatePartner stores p's Tier, Scopes, State and AllowCIDRs. Its
	// Limits and TokensNotBefore are left as stored:
	// [Store.SetPartnerLimits] and [Tokens.RevokeTokensBefore] change
	// those. A deleted partner is never updated ([partner.ErrConflict]),
	// and p.State may not be [partner.Deleted]: [Store.DeletePartner]
	// deletes.
	UpdatePartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	// DeletePartner offboards a partner in one transaction and leaves its
	// row as a tombstone (state [partner.Deleted], DeletedAt set), so the
	// audit trail keeps its subject and [Store.CreatePartner] of the id
	// fails with [partner.ErrExists]. While the partner has live
	// credentials (a key neither revoked nor expired, an OAuth2 client or
	// a client certificate registration) it fails with a
	// [*LiveCredentialsError] unless revokeAll is set; then it revokes
	// every key not yet revoked, removes every client and certificate
	// registration, clears the certificate requirement and moves the token
	// cutoff to now, with one change-feed entry per entity. ev's Detail
	// gains "revoked_keys" and "removed_certificates" (comma-separated
	// ids) and "removed_clients" (a count). A deleted partner yields
	// [ErrDeleted]; an unknown one, [partner.ErrNotFound].
	DeletePartner(ctx context.Context, partnerID string, revokeAll bool, ev partner.AuditEvent) (*partner.Partner, Offboarding, error)
	// ApplyPartner makes partner p, and its OAuth2 clients, what a
	// declaration says, in one transaction with one audit event: with
	// create it inserts p (a taken id yields [partner.ErrExists]);
	// otherwise it stores p's Tier, Scopes, State, AllowCIDRs and Limits if
	// the stored Version is still p.Version ([partner.ErrConflict]
	// otherwise, and for a deleted partner). The partner's clients become
	// exactly clients: others are removed, missing ones registered (one
	// registered to another partner yields [partner.ErrExists] and changes
	// nothing). One change-feed entry per entity; p's Version and times
	// are set on success.
	ApplyPartner(ctx context.Context, p *partner.Partner, clients []partner.Client, create bool, ev partner.AuditEvent) error
	// ReuseDeletedPartner gives a deleted partner's id to a new tenant: p's
	// Tier, Scopes, AllowCIDRs and Limits replace the tombstone's, the
	// state becomes active and CreatedAt restarts. The token cutoff stays,
	// so no token issued to the old tenant passes. p must be active. An id
	// not deleted yields [partner.ErrExists]; an unknown one,
	// [partner.ErrNotFound].
	ReuseDeletedPartner(ctx context.Context, p *partner.Partner, ev partner.AuditEvent) error
	GetPartner(ctx context.Context, id string) (*partner.Partner, error)
	ListPartners(ctx context.Context) ([]*partner.Partner, error)
	// SetPartnerLimits replaces the partner's own rate limits with l (the
	// zero value clears them, leaving the tier's), bumps its Version and
	// returns the partner as stored. A limit above its bound is a
	// [*partner.FieldError]; an unknown partner, [partner.ErrNotFound].
	SetPartnerLimits(ctx context.Context, partnerID string, l partner.Limits, ev partner.AuditEvent) (*partner.Partner, error)

	// CreateCredential stores c at Version 1, setting CreatedAt if it is
	// zero. An unknown partner yields [partner.ErrNotFound]; a taken id,
	// [partner.ErrExists].
	CreateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error
	// UpdateCredential stores c's Name, Scopes, AllowCIDRs, ExpiresAt,
	// RevokedAt, LastRotatedAt and LastUsedAt, the last only if it is later than the
	// stored one (TouchCredentials may have recorded a use since c was
	// read). ID, PartnerID, Digest, PepperVersion, CreatedAt and
	// RotatedFrom are fixed at creation: an update cannot re-point a key
	// at another secret or partner.
	UpdateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error
	// RevokeCredential sets the RevokedAt of credential id to ev.At (the
	// store's now if zero) unless it is already revoked, and records ev
	// with the credential's PartnerID and Detail["expired"] ("true" or
	// "false": whether it had expired by then) added, in one transaction
	// with its change-feed row. It returns the credential as committed,
	// its Version bumped. An unknown id is [partner.ErrNotFound], a
	// revoked one [ErrRevoked]; neither writes anything.
	RevokeCredential(ctx context.Context, id string, ev partner.AuditEvent) (*partner.Credential, error)
	// RotateCredential updates old (typically its ExpiresAt and
	// LastRotatedAt) and creates next in one transaction, with one audit
	// event and two change-feed entries. next must belong to old's partner;
	// its RotatedFrom is set to old.ID if empty.
	RotateCredential(ctx context.Context, old, next *partner.Credential, ev partner.AuditEvent) error
	GetCredential(ctx context.Context, id string) (*partner.Credential, error)
	// GetCredentials returns the credentials with the given ids that
	// exist, each once, in no particular order, in as few round trips as
	// the backend allows: an id the store does not hold is left out, not
	// an error. The change-feed reader loads a batch of changes with it.
	GetCredentials(ctx context.Context, ids []string) ([]*partner.Credential, error)
	// ListCredentials lists a partner's credentials, revoked and expired
	// ones included, newest first.
	ListCredentials(ctx context.Context, partnerID string) ([]*partner.Credential, error)
	// FindCredentials lists, across partners, the credentials neither
	// revoked nor expired at the store's clock that match every filter f
	// sets, soonest expiry first (keys without one last), then by id.
	FindCredentials(ctx context.Context, f KeyFilter) ([]*partner.Credential, error)
	// RecordExpiredKeys appends a "key.expire" audit event, by actor, for
	// each key that has expired at the store's clock without being
	// revoked or rotated, once per key however many replicas call it, and
	// returns those keys (at most 1,000 a call). It changes no decision:
	// it is not on the change feed and bumps no version.
	RecordExpiredKeys(ctx context.Context, actor string) ([]*partner.Credential, error)

	ListAudit(ctx context.Context, f AuditFilter) ([]partner.AuditEvent, error)
	// PruneAudit deletes the audit events older than before and returns
	// how many, for an audit retention. The trail is otherwise
	// append-only, in the database itself: a delete of a newer event, or
	// any update, is refused.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// Tokens is the OAuth2 side of the store; see [Tokens].
	Tokens
	// Certificates is the client-certificate registry; see
	// [Certificates].
	Certificates
	// Usage records and queries when credentials were last used; see
	// [Usage].
	Usage
	// Operators is the admin API's principals; see [Operators].
	Operators

	// Snapshot walks every partner, then every credential that is neither
	// revoked nor expired, in one read transaction, and returns the
	// change-feed version the snapshot reflects. Rows are streamed, one
	// call per row; the visitor must not call the store.
	Snapshot(ctx context.Context, v Visitor) (version int64, err error)
	// Changes returns up to limit change-feed entries with a version
	// greater than since, oldest first; limit zero means the store's
	// default (1000). Versions become visible in increasing order, so a
	// reader that resumes after the last version it applied misses nothing.
	//
	// Entries older than the feed's retention are pruned
	// ([Store.PruneChanges]): a reader whose since is older than the
	// newest pruned entry gets [ErrFeedPruned], and must load a new
	// snapshot instead.
	Changes(ctx context.Context, since int64, limit int) ([]Change, error)
	// PruneChanges deletes the change-feed entries made before before,
	// except the newest entry, and returns how many it deleted. It
	// changes no state, so it is neither audited nor on the feed.
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
	// Notify returns a channel that receives a value, without blocking the
	// writer, soon after any change commits (in this process or, where the
	// backend can tell, another). It is a hint: readers still call Changes,
	// and poll as a safety net. The channel closes when ctx is done; after
	// Close it receives nothing more.
	Notify(ctx context.Context) <-chan struct{}

	// PepperVersions returns, in increasing order, the distinct pepper
	// versions of credentials that are neither revoked nor expired at the
	// store's clock: the peppers the live keys need. It is empty for a
	// store that holds no live key.
	PepperVersions(ctx context.Context) ([]int, error)

	// Meta reads a small server setting; [partner.ErrNotFound] if unset.
	Meta(ctx context.Context, key string) (string, error)
	// InitMeta sets key to value unless it is already set, and returns the
	// value stored afterwards. Concurrent callers all see one winner.
	InitMeta(ctx context.Context, key, value string) (string, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// KeyFilter selects live credentials; zero fields select everything.
type KeyFilter struct {
	// PepperVersion selects keys hashed with this pepper version.
	PepperVersion int
	// ExpiresBefore selects keys that expire at or before it.
	ExpiresBefore time.Time
}

// ErrFeedPruned reports that change-feed entries a reader needs were
// pruned: it is further behind than the feed's retention.
var ErrFeedPruned = errors.New("change feed pruned past this version")

// ErrRevoked reports that a credential is already revoked.
var ErrRevoked = errors.New("credential already revoked")

// ErrDeleted reports that a partner was deleted: it is a tombstone.
var ErrDeleted = errors.New("partner deleted")

// Offboarding is what [Store.DeletePartner] cut off.
type Offboarding struct {
	// RevokedKeys are the ids of the keys it revoked.
	RevokedKeys []string
	// RemovedClients are the OAuth2 clients it unregistered.
	RemovedClients []*partner.Client
	// RemovedCertificates are the ids of the client certificate
	// registrations it removed.
	RemovedCertificates []string
}

// LiveCredentialsError refuses to delete a partner that still has live
// credentials.
type LiveCredentialsError struct {
	PartnerID                   string
	Keys, Clients, Certificates int
}

func (e *LiveCredentialsError) Error() string {
	return fmt.Sprintf("partner %q has %d live keys, %d OAuth clients and %d client certificates", e.PartnerID, e.Keys, e.Clients, e.Certificates)
}

// Tokens stores the OAuth2 client registry and token revocations. Each
// write commits with its audit event and a change-feed entry of kind
// [KindClient], [KindTokenRevocation] or [KindPartner].
type Tokens interface {
	// AddClient registers c, setting its CreatedAt. An unknown partner
	// yields [partner.ErrNotFound]; an (issuer, client id) already
	// registered, to any partner, [partner.ErrExists].
	AddClient(ctx context.Context, c *partner.Client, ev partner.AuditEvent) error
	// RemoveClient removes the registration of (issuer, clientID) from
	// partnerID; [partner.ErrNotFound] if partnerID has no such client.
	RemoveClient(ctx context.Context, partnerID, issuer, clientID string, ev partner.AuditEvent) error
	// GetClient returns the registration of (issuer, clientID), or
	// [partner.ErrNotFound].
	GetClient(ctx context.Context, issuer, clientID string) (*partner.Client, error)
	// ListClients lists a partner's clients by issuer, then client id.
	ListClients(ctx context.Context, partnerID string) ([]*partner.Client, error)
	// RevokeToken records r, setting its RevokedAt. Revoking a token that
	// is already revoked keeps the later ExpiresAt and succeeds.
	RevokeToken(ctx context.Context, r *partner.TokenRevocation, ev partner.AuditEvent) error
	// GetTokenRevocation returns the revocation of (issuer, jti), or
	// [partner.ErrNotFound].
	GetTokenRevocation(ctx context.Context, issuer, jti string) (*partner.TokenRevocation, error)
	// PurgeTokenRevocations deletes revocations no longer live at now and
	// returns how many. It changes no decision, so it is neither audited
	// nor on the feed.
	PurgeTokenRevocations(ctx context.Context, now time.Time) (int64, error)
	// RevokeTokensBefore sets the partner's TokensNotBefore to before, if
	// that is later than the current value, and bumps its Version; it
	// returns the partner as stored. [partner.ErrNotFound] for an unknown
	// partner.
	RevokeTokensBefore(ctx context.Context, partnerID string, before time.Time, ev partner.AuditEvent) (*partner.Partner, error)
}

// Certificates stores the client certificates registered as partner
// credentials. Each write commits with its audit event and a change-feed
// entry of kind [KindCertificate] (the registration's id) or [KindPartner].
type Certificates interface {
	// AddCertificate registers c, setting its ID and CreatedAt. An unknown
	// partner yields [partner.ErrNotFound]; a (kind, value) already
	// registered, to any partner, [partner.ErrExists].
	AddCertificate(ctx context.Context, c *partner.Certificate, ev partner.AuditEvent) error
	// RemoveCertificate removes partnerID's registration id;
	// [partner.ErrNotFound] if partnerID has none of that id.
	RemoveCertificate(ctx context.Context, partnerID, id string, ev partner.AuditEvent) error
	// GetCertificate returns the registration id, or [partner.ErrNotFound].
	GetCertificate(ctx context.Context, id string) (*partner.Certificate, error)
	// ListCertificates lists a partner's registrations by kind, then value.
	ListCertificates(ctx context.Context, partnerID string) ([]*partner.Certificate, error)
	// SetRequireCertificate sets the partner's RequireCertificate, bumps
	// its Version and returns it as stored; [partner.ErrNotFound] for an
	// unknown partner.
	SetRequireCertificate(ctx context.Context, partnerID string, require bool, ev partner.AuditEvent) (*partner.Partner, error)
}

// ClientChangeID is the change-feed ID of a client registration.
func ClientChangeID(issuer, clientID string) string { return pairID(issuer, clientID) }

// TokenRevocationChangeID is the change-feed ID of a token revocation.
func TokenRevocationChangeID(issuer, jti string) string { return pairID(issuer, jti) }

// SplitChangeID splits an ID made by [ClientChangeID] or
// [TokenRevocationChangeID].
func SplitChangeID(id string) (issuer, ident string, ok bool) {
	var pair [2]string
	if err := json.Unmarshal([]byte(id), &pair); err != nil || pair[0] == "" || pair[1] == "" {
		return "", "", false
	}
	return pair[0], pair[1], true
}

// pairID encodes two strings unambiguously: a JSON array.
func pairID(a, b string) string {
	out, _ := json.Marshal([2]string{a, b})
	return string(out)
}

// Touch is one credential's most recent use.
type Touch struct {
	// ID is the credential (key) id.
	ID string
	// At is when it passed a Check.
	At time.Time
	// From is the client address of that Check; empty if unknown.
	From string
}

// Usage records when credentials were last used. Recording use changes no
// decision, so it is neither audited nor on the change feed, and it leaves
// the credential's Version alone: a touch never conflicts with an admin
// write.
type Usage interface {
	// TouchCredentials sets each credential's LastUsedAt and LastUsedFrom,
	// unless the stored LastUsedAt is already later (touches from several
	// replicas may arrive out of order). Unknown ids are ignored.
	TouchCredentials(ctx context.Context, touches []Touch) error
	// ListUnusedCredentials lists, across partners, the credentials that
	// are neither revoked nor expired and have not been used since before
	// (never-used ones count from their CreatedAt), least recently used
	// first.
	ListUnusedCredentials(ctx context.Context, before time.Time) ([]*partner.Credential, error)
}

// Operators stores the admin API's named operators and their personal
// tokens. Each write commits with its audit event and a change-feed entry
// of kind [KindOperator] whose ID is the operator's name.
type Operators interface {
	// CreateOperator stores o at Version 1, setting its CreatedAt and
	// UpdatedAt, and tok, if not nil, as its first token. A taken name or
	// certificate SAN yields [partner.ErrExists].
	CreateOperator(ctx context.Context, o *partner.Operator, tok *partner.OperatorToken, ev partner.AuditEvent) error
	// UpdateOperator stores o's Role, Partners, CertSAN, ExpiresAt and
	// RevokedAt if the stored Version is still o.Version
	// ([partner.ErrConflict] otherwise), then sets its UpdatedAt and
	// Version.
	UpdateOperator(ctx context.Context, o *partner.Operator, ev partner.AuditEvent) error
	// RotateOperatorToken makes every token of o that would outlive
	// oldUntil expire then, stores next, and bumps o's Version, in one
	// transaction. o's Version must be current, as for UpdateOperator.
	RotateOperatorToken(ctx context.Context, o *partner.Operator, oldUntil time.Time, next *partner.OperatorToken, ev partner.AuditEvent) error
	// GetOperator returns the operator named name, or [partner.ErrNotFound].
	GetOperator(ctx context.Context, name string) (*partner.Operator, error)
	// GetOperatorByCertSAN returns the operator whose CertSAN is san, or
	// [partner.ErrNotFound].
	GetOperatorByCertSAN(ctx context.Context, san string) (*partner.Operator, error)
	// ListOperators returns every operator, revoked ones included, by name.
	ListOperators(ctx context.Context) ([]*partner.Operator, error)
	// GetOperatorToken returns the token with public id id, or
	// [partner.ErrNotFound].
	GetOperatorToken(ctx context.Context, id string) (*partner.OperatorToken, error)
	// GetOperatorTokenWithOperator returns the token with public id id
	// and its operator, as they stand at one moment, or
	// [partner.ErrNotFound]: what authenticating a token reads, in one
	// call.
	GetOperatorTokenWithOperator(ctx context.Context, id string) (*partner.OperatorToken, *partner.Operator, error)
	// ListOperatorTokens returns an operator's tokens, newest first.
	ListOperatorTokens(ctx context.Context, name string) ([]*partner.OperatorToken, error)
	// RecordAudit appends ev to the audit trail alone, for an event that
	// changes nothing, such as a refused call.
	RecordAudit(ctx context.Context, ev partner.AuditEvent) error
}
