package authz

import "strings"

// Header names that carry a credential. Both are removed before a request
// reaches the upstream.
const (
	headerAuthorization = "authorization"
	headerAPIKey        = "x-api-key"
)

// maxCredentialLen bounds a credential before any parsing: API keys are
// shorter, and 8 KiB covers any reasonable access token.
const maxCredentialLen = 8 << 10

// credential is what a request presented, before validation.
type credential struct {
	value  string
	header string // the header it came in
	// dpop reports "Authorization: DPoP": a token that comes with a proof
	// of possession in the DPoP header (RFC 9449 §7.1).
	dpop bool
}

// findCredential returns the single credential in h. Exactly one of
// "Authorization: Bearer …" (or "DPoP …") and "x-api-key: …" must be
// present, once; both,
// a repeat, another auth scheme or a value with spaces or commas is
// malformed — ambiguity is never resolved in the caller's favour.
func findCredential(h Headers) (credential, Reason) {
	authz, na := h.Get(headerAuthorization)
	key, nk := h.Get(headerAPIKey)
	switch {
	case na == 0 && nk == 0:
		return credential{}, ReasonMissingCredential
	case na > 0 && nk > 0, na > 1, nk > 1:
		return credential{}, ReasonMalformedCredential
	}
	var c credential
	if na == 1 {
		token, ok := scheme(authz, "bearer")
		dpop := false
		if !ok {
			token, ok = scheme(authz, "dpop")
			dpop = true
		}
		if !ok {
			return credential{}, ReasonMalformedCredential
		}
		c = credential{value: token, header: headerAuthorization, dpop: dpop}
	} else {
		c = credential{value: trimOWS(key), header: headerAPIKey}
	}
	if c.value == "" || len(c.value) > maxCredentialLen || containsSeparator(c.value) {
		return credential{}, ReasonMalformedCredential
	}
	return c, ""
}

// scheme returns the token of an Authorization value of the given scheme,
// lower case: "bearer" (RFC 6750) or "dpop" (RFC 9449 §7.1). The scheme
// is case-insensitive (RFC 9110 §11.1).
func scheme(v, scheme string) (string, bool) {
	v = trimOWS(v)
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || (v[len(scheme)] != ' ' && v[len(scheme)] != '\t') {
		return "", false
	}
	return trimOWS(v[len(scheme):]), true
}

// trimOWS returns v without its leading and trailing optional whitespace,
// spaces and tabs (RFC 9110 §5.6.3). It is strings.Trim(v, " \t") without
// the set of cut bytes that Trim builds on every call, a tenth of an
// allowed Check's time in a profile (BENCHMARKS.md).
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// containsSeparator reports whether s holds a space, tab, comma, CR or LF:
// a credential with one is two values, or a mangled one. It is
// strings.ContainsAny unrolled into one vectorised IndexByte per byte,
// since every access token of several hundred bytes is scanned
// (BENCHMARKS.md has the figures).
func containsSeparator(s string) bool {
	return strings.IndexByte(s, ' ') >= 0 || strings.IndexByte(s, ',') >= 0 ||
		strings.IndexByte(s, '\t') >= 0 || strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\n') >= 0
}
