package cli_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/partner"
)

func TestPartnerSetLimits(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--tier", "free", "--scopes", "orders:read")
	mustRun(t, "partner", "create", "other", "--tier", "free")

	out := mustRun(t, "partner", "set-limits", "acme", "--per-second", "50", "--per-day", "10000", "--reason", "launch")
	if !regexp.MustCompile(`(?m)^LIMITS\s+50/s,10000/day$`).MatchString(out) {
		t.Errorf("set-limits text:\n%s", out)
	}
	if p, err := st.GetPartner(context.Background(), "acme"); err != nil || p.Limits != (partner.Limits{PerSecond: 50, PerDay: 10_000}) {
		t.Fatalf("stored partner = %+v, %v", p, err)
	}

	get := mustRun(t, "partner", "get", "acme")
	if !regexp.MustCompile(`(?m)^LIMITS\s+50/s,10000/day$`).MatchString(get) {
		t.Errorf("partner get text:\n%s", get)
	}
	list := mustRun(t, "partner", "list")
	if !regexp.MustCompile(`(?m)^acme\s+free\s+50/s,10000/day\s+active\s`).MatchString(list) ||
		!regexp.MustCompile(`(?m)^other\s+free\s+-\s+active\s`).MatchString(list) {
		t.Errorf("partner list text:\n%s", list)
	}

	js := object(t, mustRun(t, "partner", "set-limits", "acme", "--per-minute", "600", "-o", "json"))
	l, _ := js["partner"].(map[string]any)["limits"].(map[string]any)
	if len(l) != 1 || l["per_minute"] != "600" {
		t.Errorf("set-limits json limits = %v, want only per_minute 600 (the set replaces)", l)
	}
	lines := strings.Split(strings.TrimSuffix(mustRun(t, "partner", "list", "-o", "jsonl"), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"limits":{"per_minute":"600"}`) || !strings.Contains(lines[1], `"limits":null`) {
		t.Errorf("partner list jsonl:\n%s", strings.Join(lines, "\n"))
	}

	cleared := object(t, mustRun(t, "partner", "set-limits", "acme", "--clear", "-o", "json"))
	if l := cleared["partner"].(map[string]any)["limits"]; l != nil {
		t.Errorf("after --clear, limits = %v, want null", l)
	}
	if out := mustRun(t, "partner", "get", "acme"); !regexp.MustCompile(`(?m)^LIMITS\s+-$`).MatchString(out) {
		t.Errorf("partner get after --clear:\n%s", out)
	}
	if p, _ := st.GetPartner(context.Background(), "acme"); !p.Limits.IsZero() {
		t.Errorf("stored limits after --clear: %+v", p.Limits)
	}
}

func TestPartnerSetLimitsErrors(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"nothing-given", []string{"partner", "set-limits", "acme"},
			cli.ExitUsage, `^partnergate: partnergate partner set-limits: give --per-second, --per-minute or --per-day, or --clear`},
		{"clear-with-a-limit", []string{"partner", "set-limits", "acme", "--clear", "--per-day", "5"},
			cli.ExitUsage, `^partnergate: partnergate partner set-limits: --clear cannot be combined with --per-day`},
		{"not-a-number", []string{"partner", "set-limits", "acme", "--per-second", "lots"},
			cli.ExitUsage, `^partnergate: invalid argument "lots" for "--per-second" flag`},
		{"missing-id", []string{"partner", "set-limits", "--per-second", "5"},
			cli.ExitUsage, `^partnergate: partnergate partner set-limits: missing ID`},
		{"zero", []string{"partner", "set-limits", "acme", "--per-second", "0"},
			cli.ExitError, `^partnergate: invalid argument: limits\.per_second: must be positive`},
		{"negative", []string{"partner", "set-limits", "acme", "--per-minute", "-3"},
			cli.ExitError, `^partnergate: invalid argument: limits\.per_minute: must be positive`},
		{"above-bound", []string{"partner", "set-limits", "acme", "--per-day", "5000000000"},
			cli.ExitError, `^partnergate: invalid argument: limits\.per_day: must be at most 1000000000$`},
		{"unknown-partner", []string{"partner", "set-limits", "ghost", "--per-day", "5"},
			cli.ExitError, `^partnergate: not found: partner "ghost" not found$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runFails(t, tt.wantCode, tt.wantErr, tt.args...)
		})
	}
	if p, _ := st.GetPartner(context.Background(), "acme"); !p.Limits.IsZero() {
		t.Errorf("a failed set-limits stored %+v", p.Limits)
	}
}
