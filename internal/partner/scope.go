package partner

import (
	"regexp"
	"slices"
	"strings"
)

// Scopes is a set of scope names, kept sorted and free of duplicates so that
// two equal sets have equal string forms.
type Scopes []string

// MaxScopes bounds how many scopes one partner or credential carries.
const MaxScopes = 64

var scopePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$`)

// ParseScopes parses a space-separated scope list (the OAuth2 form, RFC 6749
// §3.3). Field names the input in errors.
func ParseScopes(field, s string) (Scopes, error) {
	return NewScopes(field, strings.Fields(s))
}

// NewScopes validates names and returns them as a sorted set.
func NewScopes(field string, names []string) (Scopes, error) {
	if len(names) > MaxScopes {
		return nil, Invalid(field, "at most %d scopes", MaxScopes)
	}
	out := make(Scopes, 0, len(names))
	for _, n := range names {
		if !scopePattern.MatchString(n) {
			return nil, Invalid(field, "scope %q: must be 1-128 characters of letters, digits and ':._/-'", n)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// String returns the space-separated form, as sent in x-partner-scopes.
func (s Scopes) String() string { return strings.Join(s, " ") }

// Has reports whether s contains name.
func (s Scopes) Has(name string) bool {
	_, ok := slices.BinarySearch(s, name)
	return ok
}

// HasAll reports whether s contains every scope in want.
func (s Scopes) HasAll(want []string) bool {
	for _, w := range want {
		if !s.Has(w) {
			return false
		}
	}
	return true
}

// Missing returns the scopes of want that s lacks.
func (s Scopes) Missing(want Scopes) Scopes {
	var out Scopes
	for _, w := range want {
		if !s.Has(w) {
			out = append(out, w)
		}
	}
	return out
}

// Intersect returns the scopes in both s and t.
func (s Scopes) Intersect(t Scopes) Scopes {
	out := make(Scopes, 0, min(len(s), len(t)))
	for _, x := range s {
		if t.Has(x) {
			out = append(out, x)
		}
	}
	return out
}
