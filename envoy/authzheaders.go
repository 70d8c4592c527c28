package envoy

import (
	"errors"
	"fmt"
	"strings"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// ExtAuthz returns the config of the first ext_authz HTTP filter of b's
// static listeners.
func (b *Bootstrap) ExtAuthz() (*extauthzv3.ExtAuthz, error) {
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var m hcmv3.HttpConnectionManager
				if !f.GetTypedConfig().MessageIs(&m) {
					continue
				}
				if err := f.GetTypedConfig().UnmarshalTo(&m); err != nil {
					return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
				}
				for _, hf := range m.GetHttpFilters() {
					var az extauthzv3.ExtAuthz
					if hf.GetTypedConfig().MessageIs(&az) {
						if err := hf.GetTypedConfig().UnmarshalTo(&az); err != nil {
							return nil, fmt.Errorf("listener %s: %s: %w", l.GetName(), hf.GetName(), err)
						}
						return &az, nil
					}
				}
			}
		}
	}
	return nil, errors.New("no ext_authz filter in the static listeners")
}

// SentToAuthz reports whether Envoy's ext_authz filter az puts the client
// request header name in the CheckRequest it sends a gRPC authorization
// server: every header when allowed_headers is unset, else each header an
// allowed_headers pattern matches, less any a disallowed_headers pattern
// matches. Envoy holds header names in lower case and matches them so.
//
// It evaluates the pattern kinds partnergate's configs use — exact,
// prefix, suffix and contains, with ignore_case — and returns an error
// for any other (a regular expression), so the shipped config cannot
// outgrow what its tests simulate.
func SentToAuthz(az *extauthzv3.ExtAuthz, name string) (bool, error) {
	name = strings.ToLower(name)
	sent := true
	if allowed := az.GetAllowedHeaders(); allowed != nil {
		ok, err := anyMatches(allowed.GetPatterns(), name)
		if err != nil {
			return false, fmt.Errorf("allowed_headers: %w", err)
		}
		sent = ok
	}
	if disallowed := az.GetDisallowedHeaders(); disallowed != nil {
		ok, err := anyMatches(disallowed.GetPatterns(), name)
		if err != nil {
			return false, fmt.Errorf("disallowed_headers: %w", err)
		}
		sent = sent && !ok
	}
	return sent, nil
}

func anyMatches(patterns []*matcherv3.StringMatcher, s string) (bool, error) {
	for i, p := range patterns {
		ok, err := matches(p, s)
		if err != nil {
			return false, fmt.Errorf("patterns[%d]: %w", i, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// matches evaluates one StringMatcher as Envoy does, for the kinds
// SentToAuthz knows.
func matches(p *matcherv3.StringMatcher, s string) (bool, error) {
	fold := func(x string) string {
		if p.GetIgnoreCase() {
			return strings.ToLower(x)
		}
		return x
	}
	s = fold(s)
	switch m := p.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return s == fold(m.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(s, fold(m.Prefix)), nil
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(s, fold(m.Suffix)), nil
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(s, fold(m.Contains)), nil
	default:
		return false, fmt.Errorf("%T is not simulated", m)
	}
}
