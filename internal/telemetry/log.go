package telemetry

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"

	"github.com/partnergate/partnergate/authz"
)

// NewLogger returns a JSON or text logger at level, writing to w, that
// redacts attributes whose names suggest a credential.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// sensitive lists attribute-name fragments that never reach a log.
var sensitive = []string{"authorization", "api-key", "api_key", "apikey", "secret", "token", "password", "pepper", "cookie"}

func redact(_ []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range sensitive {
		if strings.Contains(key, s) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

// DecisionLog writes Check decisions to an audit logger: every denial,
// and allows at a sample rate. Use of a revoked or expired key and
// cross-tenant attempts are logged at warning level.
type DecisionLog struct {
	Logger *slog.Logger
	// AllowSample is the fraction of allows logged, 0 to 1.
	AllowSample float64
}

var _ authz.Auditor = (*DecisionLog)(nil)

// Decision implements [authz.Auditor].
func (l *DecisionLog) Decision(ctx context.Context, d *authz.Decision) {
	if d.Allowed() && (l.AllowSample <= 0 || rand.Float64() >= l.AllowSample) {
		return
	}
	level := slog.LevelInfo
	if d.Reason.HighSeverity() {
		level = slog.LevelWarn
	}
	l.Logger.LogAttrs(ctx, level, "decision", slog.Any("decision", d))
}
