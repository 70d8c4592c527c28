package telemetry

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/partnergate/partnergate/internal/apikey"
)

// Bounds of the request-derived fields a decision is logged with. A
// request is the caller's to shape: unbounded, one request could write a
// line of its own size, as often as it is sent.
const (
	maxPathLen   = 512
	maxMethodLen = 32
	maxFieldLen  = 128 // request id, client address, detail
)

// Marks left where a logged field was changed.
const (
	redactedMark = "[redacted]"
	cutMark      = "…[cut]"
)

// scrubber makes request-derived strings safe to log. A key sent where
// it does not belong (in the query, the fragment, the path, a header) is
// still a secret (RFC 6819 §5.1.4.1.1; OWASP Logging Cheat Sheet, "Data
// to exclude"): query values and fragments are withheld whole, and
// anything shaped like an API key of the configured format or a JWT is
// redacted wherever it stands. Then the field is cut to its bound, and
// marked as cut.
type scrubber struct {
	secret *regexp.Regexp
}

// newScrubber returns the scrubber for keys with prefix (apikey's
// default when empty). The prefix matches in any case and with its '_'
// percent-encoded, a cut-short key as well as a whole one, and a run of
// base62 as long as a key's secret with no prefix at all: what is
// redacted is what could be a key.
func newScrubber(prefix string) scrubber {
	if prefix == "" {
		prefix = apikey.DefaultPrefix
	}
	var p strings.Builder
	for _, r := range prefix {
		if r == '_' {
			p.WriteString(`(?:_|%5[fF])`)
		} else {
			p.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	// prefix, key id, '_', secret and checksum, cut short or whole
	key := `(?i:` + p.String() + `)(?:[A-Za-z0-9]|_|%5[fF]){4,}`
	// A key's secret and checksum alone: 49 base62 characters, and any
	// run of 40 is as likely one, cut.
	body := `[A-Za-z0-9]{40,}`
	// A JWT's header is base64url JSON, so it starts with "eyJ" ('{"').
	jwt := `eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){0,2}`
	return scrubber{secret: regexp.MustCompile(key + `|` + jwt + `|` + body)}
}

// field returns v with anything shaped like a credential redacted, cut to
// max bytes.
func (s scrubber) field(v string, max int) string {
	if v == "" {
		return v
	}
	return cut(s.secret.ReplaceAllString(v, redactedMark), max)
}

// path returns a request target safe to log: the path itself scrubbed,
// every query value replaced by [redacted] (names kept, since they say
// what was tried, as in partnerId=), the fragment withheld, all of it cut
// to maxPathLen.
func (s scrubber) path(target string) string {
	p, frag, hasFrag := strings.Cut(target, "#")
	p, query, hasQuery := strings.Cut(p, "?")
	var b strings.Builder
	b.WriteString(p)
	if hasQuery {
		b.WriteByte('?')
		for i, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
			if i > 0 {
				b.WriteByte('&')
			}
			name, value, hasValue := strings.Cut(pair, "=")
			b.WriteString(name)
			if hasValue {
				b.WriteByte('=')
				if value != "" {
					b.WriteString(redactedMark)
				}
			}
		}
	}
	if hasFrag && frag != "" {
		b.WriteString("#" + redactedMark)
	}
	return s.field(b.String(), maxPathLen)
}

// cut returns v cut to at most max bytes, on a rune boundary, with
// cutMark in place of what was cut.
func cut(v string, max int) string {
	if len(v) <= max {
		return v
	}
	n := max - len(cutMark)
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n] + cutMark
}
