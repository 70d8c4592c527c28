// Package telemetry owns what partnergate tells its operators: structured
// logs, the decision audit log, and (as they arrive) traces and metrics.
//
// Nothing here ever records a secret: decisions carry public key ids, and
// the logger's handler redacts credential-bearing attributes by name as a
// second line of defence. Everything is safe for concurrent use.
package telemetry
