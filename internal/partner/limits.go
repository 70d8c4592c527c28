package partner

import (
	"errors"
	"strconv"
	"strings"
)

// Limits are a partner's own rate limits, in requests per window. Each one
// set replaces the partner's tier's limit in that window; zero means unset
// (the tier's limit applies). They are set through the admin API and reach
// Envoy's rate-limit service as a descriptor's limit override.
type Limits struct {
	PerSecond uint32
	PerMinute uint32
	PerDay    uint32
}

// Upper bounds of a partner's own limits. Past them a limit is a typo, not
// a plan: no partner API serves a million requests a second to one tenant.
const (
	MaxPerSecond = 1_000_000
	MaxPerMinute = 60_000_000
	MaxPerDay    = 1_000_000_000
)

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool { return l == Limits{} }

// Validate reports every limit above its bound, each as a [*FieldError]
// naming its field ("per_second", "per_minute", "per_day").
func (l Limits) Validate() error {
	var errs []error
	for _, f := range l.fields() {
		if f.value > f.max {
			errs = append(errs, Invalid(f.name, "must be at most %d", f.max))
		}
	}
	return errors.Join(errs...)
}

// LimitValue checks a limit as an operator typed it: positive and at most
// the bound of field's window ("per_second", "per_minute" or "per_day").
func LimitValue(field string, n int64) (uint32, error) {
	window := field[strings.LastIndexByte(field, '.')+1:]
	for _, f := range (Limits{}).fields() {
		switch {
		case f.name != window:
			continue
		case n <= 0:
			return 0, Invalid(field, "must be positive (clear the limits to fall back to the tier's)")
		case n > int64(f.max):
			return 0, Invalid(field, "must be at most %d", f.max)
		}
		return uint32(n), nil
	}
	return 0, Invalid(field, "is not a rate-limit window")
}

// String renders the limits set, as in "per_second=50 per_day=10000";
// empty when none is.
func (l Limits) String() string {
	var b strings.Builder
	for _, f := range l.fields() {
		if f.value == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.name)
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(uint64(f.value), 10))
	}
	return b.String()
}

type limitField struct {
	name       string
	value, max uint32
}

func (l Limits) fields() [3]limitField {
	return [3]limitField{
		{"per_second", l.PerSecond, MaxPerSecond},
		{"per_minute", l.PerMinute, MaxPerMinute},
		{"per_day", l.PerDay, MaxPerDay},
	}
}
