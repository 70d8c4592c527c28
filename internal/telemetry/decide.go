package telemetry

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/partnergate/partnergate/authz"
)

// DecideFunc is the signature of authz's Decide, and of what wraps it.
type DecideFunc = func(context.Context, authz.Request) (authz.Decision, error)

// ObserveDecide returns decide observed as [ObserveCheck] observes Check,
// for the transports that call Decide directly (the HTTP forward-auth
// server): each decision's latency and outcome into m, in the same
// histogram, and, with tracing enabled, a [CheckSpanName] span that
// continues the trace of the request being authorized, from the
// traceparent header the proxy forwarded. m and t may each be nil.
func ObserveDecide(m *Metrics, t *Tracing, decide DecideFunc) DecideFunc {
	tracing := t.Enabled()
	return func(ctx context.Context, req authz.Request) (authz.Decision, error) {
		var span trace.Span
		if tracing {
			ctx, span = t.startDecide(ctx, req)
		}
		start := time.Now()
		d, err := decide(ctx, req)
		result := resultError
		if err == nil {
			result = resultDeny
			if d.Allowed() {
				result = resultAllow
			}
		}
		if m != nil {
			m.observeCheck(time.Since(start), result)
		}
		if span != nil {
			if err != nil {
				span.SetStatus(codes.Error, "check failed")
			}
			span.End()
		}
		return d, err
	}
}

// startDecide starts the span of one decision, as a child of the
// request's own trace when its headers carry one.
func (t *Tracing) startDecide(ctx context.Context, req authz.Request) (context.Context, trace.Span) {
	if req.Headers != nil {
		if sc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), requestCarrier{req.Headers})); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	return t.tracer.Start(ctx, CheckSpanName, trace.WithSpanKind(trace.SpanKindInternal))
}

// requestCarrier reads trace context from a request's headers. It is
// read-only: partnergate never injects into the request it authorizes.
type requestCarrier struct{ h authz.Headers }

func (c requestCarrier) Get(key string) string {
	v, _ := c.h.Get(strings.ToLower(key))
	return v
}

func (requestCarrier) Set(string, string) {}

func (requestCarrier) Keys() []string { return nil }
