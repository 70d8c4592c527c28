// Package app wires partnergate together: it opens the store, loads the
// pepper, policy and admin token, fills the hot cache, and serves Check,
// gRPC health and the admin API on their own listeners until its context
// ends (SIGINT or SIGTERM; SIGHUP is logged and ignored), then reports
// NOT_SERVING, keeps serving for shutdown_delay and drains in-flight
// Checks. A pepper that does not match the store refuses start-up.
//
// It is the only package that knows every other; cmd/partnergate only
// parses the command line and calls it.
package app
