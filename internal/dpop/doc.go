// Package dpop verifies DPoP proofs (RFC 9449): the JWT a client signs
// with its own key for each request, sent in the DPoP header next to
// "Authorization: DPoP <access token>", so that a stolen access token is
// useless without the client's private key.
//
// It owns every check of §4.3 of the RFC, one sentinel error each:
//
//   - typ is "dpop+jwt" and alg an asymmetric algorithm of the allow-list
//     ("none" and HMAC never);
//   - the header's jwk is a public key of a type that fits alg, and one
//     that carries a private part ("d", "p", "k", …) is refused;
//   - the signature verifies with that jwk;
//   - htm is the request's method and htu its URI, without query and
//     fragment, compared after RFC 3986 syntax- and scheme-based
//     normalization;
//   - iat is within the window of now (default 60s either way);
//   - ath is the base64url SHA-256 of the access token;
//   - jti has not been used by the same key within the window, in a bounded
//     replay cache of this process ([Verifier.Record], called once the
//     access token is known to be bound to the proof's key).
//
// The proof's key is reported as its RFC 7638 thumbprint ([Proof.KeyThumbprint]);
// matching it with the access token's cnf "jkt" is the token verifier's
// job (jwtverify.Binding).
//
// # What it must not do
//
// It does not verify the access token, nor choose a partner. It never logs:
// the caller logs [Reason]. The replay cache is per process: a proof
// replayed to another replica within the window is not detected there (see
// docs/possession.md). It issues no DPoP-Nonce (RFC 9449 §8).
//
// # Concurrency
//
// A [Verifier] is safe for concurrent use. Verification takes no lock; the
// replay cache is sharded, and a shard's lock is held only to look up and
// record one jti, by proofs whose signature has already verified.
package dpop
