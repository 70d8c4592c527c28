// Package envoy holds the Envoy configuration partnergate ships
// (partner-edge.yaml, and ratelimit-config.yaml for envoyproxy/ratelimit,
// generated from ratelimit-tiers.yaml) and the Go code that checks it.
//
// [Load] decodes an Envoy bootstrap YAML into go-control-plane's typed
// Bootstrap, runs the protoc-gen-validate rules on it and on every typed
// config packed inside (filters, per-route configs, access loggers, protocol
// options), so a misspelt field or an out-of-range value fails a test
// instead of a deploy. [Descriptors] evaluates a route's rate_limits actions
// against a request's dynamic metadata the way Envoy does, for the actions
// partnergate's configs use, so tests can drive envoyproxy/ratelimit with
// exactly the descriptors the shipped config produces. [SentToAuthz]
// evaluates the ext_authz filter's allowed_headers and disallowed_headers
// the same way, so a test can hold the headers the edge sends partnergate
// to the ones Check reads.
//
// The package only reads: it never writes a file or talks to a network.
// Its functions are safe for concurrent use.
package envoy
