// Package forwardauth is partnergate's HTTP forward-auth transport: the
// server that nginx auth_request, Traefik ForwardAuth, Caddy
// forward_auth, APISIX forward-auth, ingress-nginx auth-url and Envoy's
// HTTP ext_authz (http_service) ask, answering with the decision the gRPC
// Check server makes.
//
// It owns reading the question (the original request from a trusted
// proxy's X-Original-* or X-Forwarded-* headers, or from Envoy's path
// prefix; the route's scopes from X-Partnergate-Required-Scopes), which
// proxies are trusted ([Trusted], from http.trusted_proxies), and writing
// the answer: 200 with the X-Partner-* identity headers, or the gRPC
// server's 401/403 status, WWW-Authenticate challenge and JSON body, or a
// 5xx for a fault, so that every proxy fails closed. Forwarded headers
// from an address that is not trusted are ignored: the request is judged
// as partnergate sees it (OWASP: never trust client-supplied forwarding
// headers).
//
// It decides nothing: the decision is authz's ([Decider]), and so are the
// audit and the deny reasons. It must not import a store, the cache or
// the wiring. A [Handler] is immutable once built and safe for
// concurrent use; it takes no lock.
package forwardauth
