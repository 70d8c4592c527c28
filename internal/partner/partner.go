package partner

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Errors reported by the domain and by stores. Match them with [errors.Is].
var (
	// ErrNotFound reports that a partner, credential or client does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports that an identifier is already taken.
	ErrExists = errors.New("already exists")
	// ErrConflict reports that a write lost a race with another writer, or
	// asked for a transition the current state does not allow.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable reports that the store cannot be reached; nothing was
	// changed.
	ErrUnavailable = errors.New("store unavailable")
	// ErrCorrupt reports that the store's database is damaged (a corrupt
	// page, a file that is not a database): retrying will not help, and
	// restoring from a backup may.
	ErrCorrupt = errors.New("store damaged")
)

// FieldError reports one invalid input field. Admin edges map it to
// InvalidArgument naming Field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Invalid returns a [*FieldError] for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// State is a partner's lifecycle state.
type State string

const (
	// Active partners may authenticate.
	Active State = "active"
	// Suspended partners are refused on every credential until resumed:
	// the kill switch.
	Suspended State = "suspended"
	// Deleted partners are offboarded: every credential was revoked with
	// them, and the row stays as a tombstone so the audit trail keeps its
	// subject and the id is not handed to a new tenant by accident.
	Deleted State = "deleted"
)

// Partner is a tenant: one business integrating with the API.
type Partner struct {
	// ID is the tenant identifier sent upstream in x-partner-id.
	ID string
	// Tier names the rate-limit tier; see the config's tiers.
	Tier string
	// Scopes are the grants: the most any credential of this partner may
	// ever carry.
	Scopes Scopes
	State  State
	// TokensNotBefore refuses every access token of this partner's OAuth2
	// clients issued (iat) before it; zero refuses none. Set it after a
	// client secret leaks.
	TokensNotBefore time.Time
	// RequireCertificate refuses the partner's keys and tokens unless the
	// request also presents a client certificate registered to the
	// partner ([Certificate]).
	RequireCertificate bool
	// Limits are the partner's own rate limits, replacing its tier's in
	// each window they set; the zero value keeps the tier's everywhere.
	Limits Limits
	// AllowCIDRs, if not empty, are the only networks any credential of
	// this partner may be used from. A key with its own list must pass
	// both.
	AllowCIDRs CIDRs
	// DeletedAt is when the partner was deleted; zero unless State is
	// [Deleted].
	DeletedAt time.Time
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases on every write; stores use it for optimistic
	// concurrency.
	Version int64
}

// DefaultTier is the tier of a partner created without one.
const DefaultTier = "standard"

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	tierPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// ValidateID reports whether id is a usable partner id: 1–63 characters of
// lower-case letters, digits and '-', starting with a letter or digit. The
// alphabet is narrow on purpose: the id travels in headers, metrics labels,
// rate-limit descriptors and log lines.
func ValidateID(field, id string) error {
	if !idPattern.MatchString(id) {
		return Invalid(field, "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
	}
	return nil
}

// ValidateTier reports whether tier is a well-formed tier name.
func ValidateTier(field, tier string) error {
	if !tierPattern.MatchString(tier) {
		return Invalid(field, "must be 1-32 characters of a-z, 0-9, '_' and '-', starting with a letter")
	}
	return nil
}

// Validate checks p's fields, naming the first bad one.
func (p *Partner) Validate() error {
	if err := ValidateID("id", p.ID); err != nil {
		return err
	}
	if err := ValidateTier("tier", p.Tier); err != nil {
		return err
	}
	switch p.State {
	case Active, Suspended, Deleted:
	default:
		return Invalid("state", "must be %q, %q or %q", Active, Suspended, Deleted)
	}
	for _, f := range p.Limits.fields() {
		if f.value > f.max {
			return Invalid("limits."+f.name, "must be at most %d", f.max)
		}
	}
	return nil
}
