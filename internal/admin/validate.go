package admin

import (
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
)

// Input bounds. Everything an operator types ends up in the audit trail and
// in log lines, so each field has a narrow shape and a length cap.
const (
	// MaxReasonLen caps a reason, in bytes.
	MaxReasonLen = 512
	// MaxNameLen caps a key's name.
	MaxNameLen = 64
	// DefaultAuditLimit and MaxAuditLimit bound one ListAudit page.
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func validateKeyID(field, id string) error {
	if !apikey.ValidID(id) {
		return partner.Invalid(field, "must be a key id: %d letters and digits", apikey.IDLen)
	}
	return nil
}

// validateName accepts an empty name, or up to MaxNameLen characters of
// letters, digits and '._-' starting with a letter or digit.
func validateName(field, name string) error {
	if name == "" {
		return nil
	}
	if len(name) > MaxNameLen || !namePattern.MatchString(name) {
		return partner.Invalid(field, "must be at most %d characters of letters, digits and '._-', starting with a letter or digit", MaxNameLen)
	}
	return nil
}

// validateReason accepts free text without control characters.
func validateReason(field, reason string) error {
	if len(reason) > MaxReasonLen {
		return partner.Invalid(field, "must be at most %d bytes", MaxReasonLen)
	}
	if !utf8.ValidString(reason) {
		return partner.Invalid(field, "must be valid UTF-8")
	}
	for _, r := range reason {
		if unicode.IsControl(r) {
			return partner.Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// duration converts an optional protobuf duration. set is false when d is
// unset.
func duration(field string, d *durationpb.Duration) (v time.Duration, set bool, err error) {
	if d == nil {
		return 0, false, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, true, partner.Invalid(field, "is not a valid duration")
	}
	return d.AsDuration(), true, nil
}
