// Package policy maps a request's method and path to the scopes the route
// requires, from an operator's policy file. It is the fallback for routes
// whose Envoy config declares no required_scopes of its own.
//
// Matching is built to resist the usual path tricks. A request path is
// canonicalised before it is matched: percent-decoded, duplicate slashes
// merged, a trailing slash dropped, and letters folded to lower case (so
// /V1/Admin cannot slip past a rule for /v1/admin to an upstream that
// ignores case). A path that could mean two things to two parsers — an
// encoded slash or backslash, a NUL, a "." or ".." segment, bad escapes —
// matches nothing, and an unmatched route is denied. Every rule that
// matches applies: the route needs the union of their scopes, so rule order
// cannot open a hole.
//
// A [Policy] is immutable once loaded and safe for concurrent use.
package policy
