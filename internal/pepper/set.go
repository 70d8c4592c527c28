package pepper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Entry is one configured pepper of a rotating set.
type Entry struct {
	Version int
	Path    string
}

// Set is the configured peppers, by version, and the current one: the
// highest version, which hashes new keys.
type Set struct {
	Peppers map[int][]byte
	Current int
}

// KeyFinder counts the live keys of a pepper version, for the start-up
// report of keys no configured pepper verifies; every store.Store has it.
type KeyFinder interface {
	FindCredentials(ctx context.Context, f store.KeyFilter) ([]*partner.Credential, error)
}

// ReadSet reads every entry's file; it checks nothing against the store
// (see [VerifySet]). The files must exist: a rotating set is never
// generated.
func ReadSet(entries []Entry) (Set, error) {
	if len(entries) == 0 {
		return Set{}, errors.New("peppers: empty")
	}
	s := Set{Peppers: make(map[int][]byte, len(entries))}
	var errs []error
	for _, e := range entries {
		p, err := Read(e.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("peppers: version %d: %w", e.Version, err))
			continue
		}
		if _, dup := s.Peppers[e.Version]; dup {
			errs = append(errs, fmt.Errorf("peppers: version %d is listed twice", e.Version))
			continue
		}
		s.Peppers[e.Version] = p
		s.Current = max(s.Current, e.Version)
	}
	if err := errors.Join(errs...); err != nil {
		return Set{}, err
	}
	return s, nil
}

// VerifySet checks each pepper of s against the fingerprint the store
// keeps for its version (recorded if there is none yet), so a file swapped
// for another version's, or a different pepper under an old version
// number, refuses to start. Live keys hashed with a version s does not
// hold are refused at Check; VerifySet logs, at WARN, how many there are of
// each such version, and returns those counts.
func VerifySet(ctx context.Context, st Store, keys KeyFinder, entries []Entry, s Set, log *slog.Logger) (unverifiable map[int]int, err error) {
	for _, e := range entries {
		if err := verifyFingerprint(ctx, st, e.Path, e.Version, log, s.Peppers[e.Version]); err != nil {
			return nil, err
		}
	}
	versions, err := st.PepperVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("peppers: checking the store's live keys: %w", err)
	}
	unverifiable = map[int]int{}
	for _, v := range versions {
		if _, ok := s.Peppers[v]; ok {
			continue
		}
		cs, err := keys.FindCredentials(ctx, store.KeyFilter{PepperVersion: v})
		if err != nil {
			return nil, fmt.Errorf("peppers: counting keys of pepper version %d: %w", v, err)
		}
		unverifiable[v] = len(cs)
		if log != nil {
			log.Warn("live API keys are hashed with a pepper version that is not configured: they are refused until rotated",
				"version", v, "keys", len(cs), "configured_versions", versionList(s))
		}
	}
	return unverifiable, nil
}

func versionList(s Set) []int {
	out := make([]int, 0, len(s.Peppers))
	for v := range s.Peppers {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
