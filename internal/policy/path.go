package policy

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// BadPath reports whether rawPath, the request target Envoy saw (its
// query and fragment are not looked at), is a path no upstream can be
// trusted to read as partnergate does, and which must therefore be
// refused outright rather than matched against a rule:
//
//   - not percent-decodable, or not valid UTF-8 once decoded: this covers overlong and
//     other non-shortest encodings (%c0%ae is an overlong '.'), which
//     RFC 3629 §3 forbids decoders to accept but some still do;
//   - a dot-segment variant (RFC 3986 §5.2.4 removes "." and ".."): a
//     segment that, decoded (as many times as an upstream might), in
//     NFKC and stripped of white space and control characters, is dots
//     only, such as "..", "...", "..%20", "%2e%2e" or the fullwidth
//     "%EF%BC%8E%EF%BC%8E".
//
// Envoy normalises the plain forms before Check; whatever reaches here in
// such a form was meant to be read differently by someone.
func BadPath(rawPath string) bool {
	if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
		rawPath = rawPath[:i]
	}
	// The common path is ASCII with no escape and no dot-only segment:
	// answer it without allocating.
	plain := true
	for i := 0; i < len(rawPath); i++ {
		if c := rawPath[i]; c == '%' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain && !strings.Contains(rawPath, ".") {
		return false
	}
	p := rawPath
	for range maxPathDecodes {
		if !utf8.ValidString(p) {
			return true
		}
		if hasDotSegment(p) {
			return true
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return true // an invalid escape decodes to nothing anyone agrees on
		}
		if d == p {
			return false
		}
		p = d
	}
	return !utf8.ValidString(p) || hasDotSegment(p)
}

// maxPathDecodes bounds how many percent-decodings BadPath looks through.
const maxPathDecodes = 4

// hasDotSegment reports whether a segment of p is dots only, once in
// NFKC and without white space or control characters.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || isASCII(seg) && !strings.Contains(seg, ".") {
			continue
		}
		dots := 0
		only := true
		for _, r := range norm.NFKC.String(seg) {
			switch {
			case r == '.':
				dots++
			case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			default:
				only = false
			}
			if !only {
				break
			}
		}
		if only && dots > 0 {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
