// Package extauthz is Envoy's gRPC ext_authz transport: it serves
// envoy.service.auth.v3.Authorization/Check over the decision in authz,
// and owns everything that is specific to Envoy or to the speed of that
// path, behind this one package boundary:
//
//   - adapting a CheckRequest to an authz.Request (request.go): headers
//     in either shape Envoy sends (the merged map, or the raw list with
//     encode_raw_headers), the route's required_scopes context extension,
//     the downstream address, principal and certificate;
//   - building the CheckResponse from the Decision (response.go,
//     limits.go): identity headers set by overwrite, spoofed x-partner-*
//     headers and the credential removed, dynamic metadata for rate limits
//     and access logs; denials with the status, challenge and body every
//     transport answers with;
//   - one allow memo (memo.go), keyed by credential id and checked by the
//     decision's identity, the credential header and the key record's
//     version, so that a repeated allow is answered without building or
//     marshalling anything;
//   - the pre-encoded codec (codec.go), which sends the memo's encodings
//     as they are;
//   - the forked service descriptor (service.go), the generated one with
//     a Check handler that can reply with an encoding, held to answering
//     exactly as the generated one does by a test;
//   - the recover and observe wrappers (server.go).
//
// It decides nothing: every allow and deny is the Decision's, and a fault
// of the decision is a gRPC error (UNAVAILABLE, the context's code, or
// INTERNAL), never an in-band answer, so that Envoy's failure_mode_allow:
// false denies the request. It does not reach the store or the cache.
//
// A [Server] is safe for concurrent use; memo entries are immutable once
// published, and gRPC only reads them.
package extauthz
