package ratelimit

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/partnergate/partnergate/internal/partner"
)

// Descriptor keys and values shared by the Envoy rate_limits actions and
// the envoyproxy/ratelimit configuration [Render] writes. They are a
// contract: the shipped Envoy config uses them, and renaming one orphans
// every counter in Redis.
const (
	// KeyTier is the descriptor key that carries the partner's tier.
	KeyTier = "tier"
	// KeyPartnerID is the descriptor key that carries the partner id.
	KeyPartnerID = "partner_id"
	// KeyWindow is the descriptor key that names the time window a
	// descriptor counts in; envoyproxy/ratelimit allows one limit per
	// descriptor, so each window is its own descriptor.
	KeyWindow = "window"

	// UnknownTier is the value Envoy sends for a missing tier. The leading
	// underscore keeps it out of the tier-name alphabet, so it always lands
	// in the catch-all.
	UnknownTier = "_unknown"
	// UnknownPartner is the value Envoy sends for a missing partner id:
	// all such traffic shares one bucket.
	UnknownPartner = "_unknown"
)

// Window is a time window envoyproxy/ratelimit counts in; its string is
// both the descriptor value and the ratelimit unit.
type Window string

// The windows partnergate limits in, in the order they are rendered.
const (
	Second Window = "second"
	Minute Window = "minute"
	Day    Window = "day"
)

// Windows lists every window, in rendering order.
var Windows = []Window{Second, Minute, Day}

// Tier is a named set of limits partners are assigned to.
type Tier struct {
	// Name is the tier name partnergate emits as the tier metadata.
	Name string `yaml:"name" json:"name"`
	// PerSecond, PerMinute and PerDay are each partner's request limits in
	// that window; 0 means no limit in that window. A day is a calendar
	// day in UTC, as envoyproxy/ratelimit counts it, not a sliding 24h.
	PerSecond uint32 `yaml:"per_second,omitempty" json:"per_second,omitempty"`
	PerMinute uint32 `yaml:"per_minute,omitempty" json:"per_minute,omitempty"`
	PerDay    uint32 `yaml:"per_day,omitempty" json:"per_day,omitempty"`
}

// Override changes one partner's limits, whatever its tier.
type Override struct {
	// PartnerID names the partner.
	PartnerID string `yaml:"partner_id" json:"partner_id"`
	// PerSecond, PerMinute and PerDay replace the tier's limit in that
	// window. Unlike in a [Tier], 0 means "keep the tier's limit", so an
	// override that raises one limit can never remove another by omission.
	PerSecond uint32 `yaml:"per_second,omitempty" json:"per_second,omitempty"`
	PerMinute uint32 `yaml:"per_minute,omitempty" json:"per_minute,omitempty"`
	PerDay    uint32 `yaml:"per_day,omitempty" json:"per_day,omitempty"`
}

// Limit returns t's limit in w; 0 means none.
func (t Tier) Limit(w Window) uint32 { return pick(w, t.PerSecond, t.PerMinute, t.PerDay) }

// Limit returns o's limit in w; 0 means the tier's.
func (o Override) Limit(w Window) uint32 { return pick(w, o.PerSecond, o.PerMinute, o.PerDay) }

func pick(w Window, s, m, d uint32) uint32 {
	switch w {
	case Second:
		return s
	case Minute:
		return m
	case Day:
		return d
	}
	return 0
}

// Validate reports every problem with t, each naming its field.
func (t Tier) Validate() error {
	return partner.ValidateTier("name", t.Name)
}

// Validate reports every problem with o, each naming its field.
func (o Override) Validate() error {
	var errs []error
	if err := partner.ValidateID("partner_id", o.PartnerID); err != nil {
		errs = append(errs, err)
	}
	if o.PerSecond == 0 && o.PerMinute == 0 && o.PerDay == 0 {
		errs = append(errs, partner.Invalid("per_second", "an override must set at least one of per_second, per_minute, per_day"))
	}
	return errors.Join(errs...)
}

var domainPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Validate reports every problem with a rate-limit configuration at once:
// the domain, each tier and override (fields prefixed with their position,
// as in "tiers[1].name"), duplicates, and an empty tier list.
func Validate(domain string, tiers []Tier, overrides []Override) error {
	var errs []error
	if !domainPattern.MatchString(domain) {
		errs = append(errs, partner.Invalid("domain", "must be 1-63 characters of A-Z, a-z, 0-9, '_', '.' and '-', starting with a letter or digit"))
	}
	if len(tiers) == 0 {
		errs = append(errs, partner.Invalid("tiers", "at least one tier is required"))
	}
	seen := make(map[string]int, len(tiers))
	for i, t := range tiers {
		if err := t.Validate(); err != nil {
			errs = append(errs, prefix(fmt.Sprintf("tiers[%d].", i), err))
		}
		if j, dup := seen[t.Name]; dup {
			errs = append(errs, partner.Invalid(fmt.Sprintf("tiers[%d].name", i), "duplicates tiers[%d]", j))
		} else {
			seen[t.Name] = i
		}
	}
	seen = make(map[string]int, len(overrides))
	for i, o := range overrides {
		if err := o.Validate(); err != nil {
			errs = append(errs, prefix(fmt.Sprintf("overrides[%d].", i), err))
		}
		if j, dup := seen[o.PartnerID]; dup {
			errs = append(errs, partner.Invalid(fmt.Sprintf("overrides[%d].partner_id", i), "duplicates overrides[%d]", j))
		} else {
			seen[o.PartnerID] = i
		}
	}
	return errors.Join(errs...)
}

// prefix qualifies the field of every [partner.FieldError] in err.
func prefix(p string, err error) error {
	var out []error
	for _, e := range unjoin(err) {
		var fe *partner.FieldError
		if errors.As(e, &fe) {
			out = append(out, &partner.FieldError{Field: p + fe.Field, Msg: fe.Msg})
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", p, e))
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
