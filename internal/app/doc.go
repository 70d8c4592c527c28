// Package app wires partnergate together: it opens the store, loads the
// pepper, policy and admin token, fills the hot cache, and serves Check,
// gRPC health and the admin API on their own listeners until its context
// ends, then drains in-flight Checks.
//
// It is the only package that knows every other; cmd/partnergate only
// parses the command line and calls it.
package app
