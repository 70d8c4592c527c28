// Package telemetry owns what partnergate tells its operators: structured
// logs, the decision audit log ([DecisionLog]), metrics served for
// Prometheus ([Metrics]: OpenTelemetry instruments, and Check's latency
// as a Prometheus histogram) and OpenTelemetry traces exported over
// OTLP ([Tracing], off unless the OTEL_* environment asks for it).
//
// Each of [DecisionLog], [Metrics] and [Tracing] is an authz.Auditor that
// the decision calls with every decision; [Auditors] chains them. None may block
// Check: the decision log hands off to a bounded queue and drops (and
// counts) when it is full; metrics add to an atomic count per reason and,
// for a decision that names a partner, to that partner's count in a
// copy-on-write map behind an atomic pointer (a partner seen for the first
// time takes a lock and swaps in a copy), and read everything else from
// existing counters at scrape time; tracing annotates the current span
// only when it records.
// A transport starts each check's span with [Tracing.StartCheck] and
// records its latency with [Metrics.ObserveCheck].
//
// Nothing here ever records a secret: decisions carry public key ids, and
// the logger's handler redacts credential-bearing attributes by name as a
// second line of defence. Everything is safe for concurrent use.
package telemetry
