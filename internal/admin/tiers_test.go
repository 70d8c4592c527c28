package admin_test

import (
	"testing"

	"github.com/partnergate/partnergate/internal/admin"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestCreatePartnerTiers(t *testing.T) {
	configured := func(s *admin.Server) { s.Tiers = []string{"free", "standard", "gold"} }
	tests := []struct {
		name     string
		adjust   []func(*admin.Server)
		tier     string
		wantTier string // "" means the create must fail naming tier
	}{
		{name: "configured-tier", adjust: []func(*admin.Server){configured}, tier: "free", wantTier: "free"},
		{name: "default-tier-when-configured", adjust: []func(*admin.Server){configured}, tier: "", wantTier: "standard"},
		{name: "unconfigured-tier-refused", adjust: []func(*admin.Server){configured}, tier: "platinum"},
		{name: "malformed-tier-refused", adjust: []func(*admin.Server){configured}, tier: "Gold Tier"},
		{name: "any-valid-tier-without-config", tier: "platinum", wantTier: "platinum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.adjust...)
			resp, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: "acme", Tier: tc.tier, Scopes: []string{"orders:read"}})
			if tc.wantTier == "" {
				wantField(t, err, "tier")
				if _, err := e.client.GetPartner(e.ctx(t), &adminv1.GetPartnerRequest{Id: "acme"}); err == nil {
					t.Error("a refused create still created the partner")
				}
				return
			}
			if err != nil {
				t.Fatalf("CreatePartner: %v", err)
			}
			if got := resp.GetPartner().GetTier(); got != tc.wantTier {
				t.Errorf("tier = %q, want %q", got, tc.wantTier)
			}
		})
	}
}
