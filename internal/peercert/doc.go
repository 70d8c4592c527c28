// Package peercert reads the client certificate that Envoy forwards to an
// ext_authz service: attributes.source.certificate, the URL-encoded PEM of
// the downstream peer's leaf certificate, sent when the filter sets
// include_peer_certificate.
//
// It owns turning that text into a [Cert]: the RFC 8705 §3.1 thumbprint a
// certificate-bound token is compared with, the SHA-256 fingerprint, and the
// URI and DNS subject alternative names. A [Reader] parses each distinct
// certificate once and remembers the result in a bounded, lock-free table,
// so a partner that presents the same certificate on every request costs a
// table look-up, not a parse.
//
// # What it must not do
//
// It does not validate the certificate: no chain, no expiry, no
// revocation. That is Envoy's job (DownstreamTlsContext with
// require_client_certificate and a trusted CA); a certificate read here is
// only as trustworthy as the TLS validation in front of it. Nor does it
// decide anything: it reports what the certificate says.
//
// # Concurrency
//
// A Reader is safe for concurrent use; Read takes no lock, and a [Cert] is
// immutable once returned.
package peercert
