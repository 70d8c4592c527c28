// Test strategy: the per-partner decision counter is the one metric
// labelled by partner, so what it may carry is tested through a real
// Prometheus scrape: a series per partner and result for decisions that
// name a partner, nothing for a denial that names none (authz sets a
// partner only from a validated credential), a bound past which partners
// share one series, the bound kept under concurrent first sightings, and
// no allocation per decision (AllocsPerRun) so Check's cost is unchanged.
package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// scrape returns the metrics page m's handler serves, over a real HTTP
// server.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// partnerSeries scrapes m and returns every partnergate_partner_decisions
// series, as `partner_id/result`, with its value.
func partnerSeries(t *testing.T, m *telemetry.Metrics) map[string]int {
	t.Helper()
	page := scrape(t, m)
	re := regexp.MustCompile(`(?m)^partnergate_partner_decisions_total\{partner_id="([^"]*)",result="([^"]*)"\} (\d+)$`)
	got := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		var n int
		fmt.Sscan(m[3], &n)
		got[m[1]+"/"+m[2]] = n
	}
	if n := regexp.MustCompile(`(?m)^partnergate_partner_decisions_total`).FindAllStringIndex(page, -1); len(n) != len(got) {
		t.Errorf("%d partner series on the page, %d of them with exactly partner_id and result:\n%s", len(n), len(got), page)
	}
	return got
}

func TestMetricsPartnerDecisions(t *testing.T) {
	allow := func(p string) authz.Decision { return authz.Decision{Reason: authz.ReasonAllowed, PartnerID: p} }
	deny := func(p string, r authz.Reason) authz.Decision { return authz.Decision{Reason: r, PartnerID: p} }
	tests := []struct {
		name      string
		max       int
		decisions []authz.Decision
		want      map[string]int
	}{
		{
			name: "allow-and-deny-by-partner", max: 10,
			decisions: []authz.Decision{
				allow("acme"), allow("acme"), deny("acme", authz.ReasonInsufficientScope),
				deny("globex", authz.ReasonRevokedCredential), deny("globex", authz.ReasonPartnerSuspended),
			},
			want: map[string]int{"acme/allow": 2, "acme/deny": 1, "globex/allow": 0, "globex/deny": 2},
		},
		{
			// authz names no partner until the credential is validated:
			// malformed, unknown, wrong secret, a refused token.
			name: "a-denial-with-no-partner-counts-nowhere", max: 10,
			decisions: []authz.Decision{
				deny("", authz.ReasonMalformedCredential), deny("", authz.ReasonWrongSecret),
				deny("", authz.ReasonInvalidToken), {Reason: authz.ReasonUnknownCredential, CredentialID: "AbCdEfGhIjKl"},
			},
			want: map[string]int{},
		},
		{
			name: "partners-past-the-bound-count-as-other", max: 2,
			decisions: []authz.Decision{
				allow("a"), allow("b"), allow("c"), deny("d", authz.ReasonTenantMismatch), allow("a"), deny("c", authz.ReasonInsufficientScope),
			},
			want: map[string]int{
				"a/allow": 2, "a/deny": 0, "b/allow": 1, "b/deny": 0,
				telemetry.OtherPartner + "/allow": 1, telemetry.OtherPartner + "/deny": 2,
			},
		},
		{
			name: "nothing-past-the-bound-shows-no-other", max: 2,
			decisions: []authz.Decision{allow("a"), allow("b"), allow("a")},
			want:      map[string]int{"a/allow": 2, "a/deny": 0, "b/allow": 1, "b/deny": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := telemetry.NewMetrics(telemetry.MetricsOptions{MaxPartners: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Shutdown(context.Background())
			for _, d := range tc.decisions {
				m.Decision(context.Background(), d)
			}
			got := partnerSeries(t, m)
			if len(got) != len(tc.want) {
				t.Errorf("series = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("series %s = %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// TestMetricsPartnerBoundUnderConcurrency adds more partners than the
// bound from many goroutines at once: exactly the bound get a series, and
// no decision is lost.
func TestMetricsPartnerBoundUnderConcurrency(t *testing.T) {
	const max, partners, workers = 50, 200, 8
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{MaxPartners: max})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range partners {
				m.Decision(context.Background(), authz.Decision{Reason: authz.ReasonAllowed, PartnerID: fmt.Sprintf("p%d", (i+w*17)%partners)})
			}
		})
	}
	wg.Wait()
	got := partnerSeries(t, m)
	total, named := 0, 0
	for k, v := range got {
		total += v
		if k != telemetry.OtherPartner+"/allow" && k != telemetry.OtherPartner+"/deny" {
			named++
		}
	}
	if named != 2*max {
		t.Errorf("%d named partner series, want %d (2 per partner, bound %d)", named, 2*max, max)
	}
	if total != workers*partners {
		t.Errorf("%d decisions counted, want %d", total, workers*partners)
	}
}

// TestMetricsDecisionAllocatesNothing guards Check's allocations: counting
// a decision, by partner or not, past the bound or not, allocates nothing
// once the partner is known.
func TestMetricsDecisionAllocatesNothing(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{MaxPartners: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	ctx := context.Background()
	m.Decision(ctx, authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme"}) // the one partner the bound admits
	for _, d := range []struct {
		name string
		d    authz.Decision
	}{
		{"no-partner", authz.Decision{Reason: authz.ReasonMalformedCredential}},
		{"known-partner-allow", authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme"}},
		{"known-partner-deny", authz.Decision{Reason: authz.ReasonInsufficientScope, PartnerID: "acme"}},
		{"partner-past-the-bound", authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "globex"}},
	} {
		t.Run(d.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { m.Decision(ctx, d.d) }); n != 0 {
				t.Errorf("Decision allocates %v times, want 0", n)
			}
		})
	}
}
