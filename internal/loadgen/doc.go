// Package loadgen is partnergate's load benchmark: a cheap gRPC Check
// client (pre-marshalled requests through a pass-through codec), closed-
// and open-loop drivers, a baseline ext_authz server that does no work, a
// seeder that bulk-loads credentials into a SQLite store, a token issuer
// (RS256 and ES256 keys, its JWKS on loopback HTTP) for JWT allows, and the
// runner that alternates partnergate and the baseline in one run.
//
// It is a tool, never imported by the server. Servers run as child
// processes of the tool (the same binary, re-executed), pinned to a CPU
// with taskset when asked, so their CPU time per Check can be read from
// /proc and compared without the client's cost in it. Everything binds to
// loopback.
package loadgen
