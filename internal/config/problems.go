package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// Problems is every problem found in a configuration, one line each, each
// naming its key (or the variable, flag or file it came from), sorted so
// that the same configuration always reads the same.
//
// Its Error is a count on the first line and one problem per following
// line, so a caller that keeps only the first line must print
// [Problems.Details] too.
type Problems []string

// Error implements error.
func (p Problems) Error() string {
	head := "1 problem"
	if len(p) != 1 {
		head = fmt.Sprintf("%d problems", len(p))
	}
	return head + ":\n" + strings.Join(p, "\n")
}

// Details returns the problems, one line each.
func (p Problems) Details() []string { return slices.Clone(p) }

// problems flattens errs into sorted Problems, or nil when there are
// none. A joined error contributes each of its errors, a wrapped one
// keeps its wrapper's prefix ("config x.yaml: "), and a message spanning
// lines becomes one problem per line, so no problem hides behind another.
func problems(errs []error) error {
	var out Problems
	for _, err := range errs {
		out = flatten(out, "", err)
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func flatten(out Problems, prefix string, err error) Problems {
	switch e := err.(type) {
	case nil:
		return out
	case Problems:
		for _, p := range e {
			out = append(out, prefix+p)
		}
		return out
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = flatten(out, prefix, inner)
		}
		return out
	case interface{ Unwrap() error }:
		msg, inner := err.Error(), e.Unwrap()
		if inner != nil && strings.HasSuffix(msg, inner.Error()) && strings.Contains(inner.Error(), "\n") {
			return flatten(out, prefix+strings.TrimSuffix(msg, inner.Error()), inner)
		}
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, prefix+line)
		}
	}
	return out
}

// Resolve loads the configuration as [Load] does and validates it as
// [Config.Validate] does, and reports every problem of both at once as
// [Problems]: a bad flag does not hide a bad file value or a missing
// policy file.
func Resolve(fs *pflag.FlagSet, getenv func(string) (string, bool)) (*Config, error) {
	c, errs := load(fs, getenv)
	if c == nil {
		return nil, problems(errs)
	}
	errs = append(errs, c.Validate())
	if err := problems(errs); err != nil {
		return nil, err
	}
	return c, nil
}
