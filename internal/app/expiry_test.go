package app

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/config"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// TestKeyExpiryGauge: a key issued to expire in three days shows in
// partnergate_keys_expiring for its partner in both windows, and the
// server logs a warning for it.
func TestKeyExpiryGauge(t *testing.T) {
	old := expiryInterval
	expiryInterval = 50 * time.Millisecond
	t.Cleanup(func() { expiryInterval = old })
	h := startReady(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	if _, err := h.admin.CreatePartner(adminCtx(), &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.IssueKey(adminCtx(), &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true, ExpiresIn: durationpb.New(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`partnergate_keys_expiring{partner_id="acme",within="7d"} 1`,
		`partnergate_keys_expiring{partner_id="acme",within="30d"} 1`,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := scrape(t, h)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(h.logs.String(), "API key expires soon") {
		t.Error("no expiry warning in the log")
	}
}
