package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/authz"
)

// CheckSpanName names the span partnergate starts for each Check, inside
// the RPC span of the gRPC instrumentation.
const CheckSpanName = "partnergate.Check"

// Span attributes set on the Check span. None ever holds a secret.
const (
	AttrDecision     = "partnergate.decision" // allow or deny
	AttrReason       = "partnergate.reason"
	AttrPartnerID    = "partnergate.partner_id"
	AttrCredentialID = "partnergate.credential_id"
	AttrRequestID    = "partnergate.request_id"
)

// Tracing is partnergate's tracing: off (the zero value, which costs
// nothing: no stats handler, no interceptor work) or exporting through a
// tracer provider. Build it from the environment with [TracingFromEnv].
type Tracing struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	shutdown func(context.Context) error
	prop     propagation.TextMapPropagator
}

// TracingFromEnv builds tracing from the standard OpenTelemetry variables.
// Tracing is off unless OTEL_TRACES_EXPORTER is "otlp" or, with it unset,
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
// The protocol comes from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL ("grpc", or "http/protobuf", the default);
// the exporter, sampler (OTEL_TRACES_SAMPLER) and resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) read the rest themselves.
func TracingFromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	switch exporter {
	case "", "otlp":
	case "none":
		return &Tracing{}, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (use otlp or none)", exporter)
	}
	if exporter == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return &Tracing{}, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (use grpc or http/protobuf)", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// Later options win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the default service name.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", "partnergate")),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return NewTracing(tp, tp.Shutdown), nil
}

// NewTracing returns tracing that records through tp; shutdown, if not
// nil, flushes it. Tests pass a provider with an in-memory exporter.
func NewTracing(tp trace.TracerProvider, shutdown func(context.Context) error) *Tracing {
	return &Tracing{
		provider: tp,
		tracer:   tp.Tracer("github.com/partnergate/partnergate"),
		shutdown: shutdown,
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Enabled reports whether spans are recorded.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// ServerOptions returns the gRPC server options for the Check server: the
// otelgrpc stats handler when enabled, nothing otherwise.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if !t.Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(t.prop),
	))}
}

// Shutdown flushes and stops the exporter, if any.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Decision implements [authz.Auditor]: it records the decision on the
// Check span. Partner and credential appear by public id only.
func (t *Tracing) Decision(ctx context.Context, d authz.Decision) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	decision := "deny"
	if d.Allowed() {
		decision = "allow"
	}
	attrs := []attribute.KeyValue{
		attribute.String(AttrDecision, decision),
		attribute.String(AttrReason, string(d.Reason)),
	}
	if d.PartnerID != "" {
		attrs = append(attrs, attribute.String(AttrPartnerID, d.PartnerID))
	}
	if d.CredentialID != "" {
		attrs = append(attrs, attribute.String(AttrCredentialID, d.CredentialID))
	}
	if d.RequestID != "" {
		attrs = append(attrs, attribute.String(AttrRequestID, d.RequestID))
	}
	span.SetAttributes(attrs...)
}

var _ authz.Auditor = (*Tracing)(nil)

// StartCheck starts the span of one authorization check, and returns the
// function that ends it with the check's error (nil for a decision, allow
// or deny). When the caller traces its call (a traceparent in the gRPC
// metadata) the span continues that trace, as a child of the RPC span;
// when it does not, the span continues the trace of the HTTP request
// being authorized, read from request (its headers), linked to the RPC
// span.
func (t *Tracing) StartCheck(ctx context.Context, request propagation.TextMapCarrier) (context.Context, func(error)) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("traceparent")) == 0 {
		if sc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), request)); sc.IsValid() {
			if rpc := trace.SpanContextFromContext(ctx); rpc.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: rpc}))
			}
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	ctx, span := t.tracer.Start(ctx, CheckSpanName, opts...)
	return ctx, func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, "check failed")
		}
		span.End()
	}
}
