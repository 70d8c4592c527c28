package cache

// Test strategy for the token index: a real SQLite store in t.TempDir()
// feeds the cache through Load and Sync, so the snapshot, the change-feed
// kinds and their IDs are the store's own. Each case asserts what the Check
// path sees (Client, TokenRevoked, the partner's TokensNotBefore) after
// each write, including removals and the sweep of expired revocations.

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// memSource has no OAuth2 clients and no revocations.
func (m *memSource) GetClient(_ context.Context, issuer, clientID string) (*partner.Client, error) {
	return nil, fmt.Errorf("client %q of %q: %w", clientID, issuer, partner.ErrNotFound)
}

func (m *memSource) GetTokenRevocation(_ context.Context, issuer, jti string) (*partner.TokenRevocation, error) {
	return nil, fmt.Errorf("token %q of %q: %w", jti, issuer, partner.ErrNotFound)
}

const iss = "https://idp.example.com/"

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "pg.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func auditEv(action string) partner.AuditEvent {
	return partner.AuditEvent{Actor: "test", Action: action}
}

func TestTokenIndex(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	p := &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}
	if err := s.CreatePartner(ctx, p, auditEv("partner.create")); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddClient(ctx, &partner.Client{Issuer: iss, ClientID: "at-load", PartnerID: "acme"}, auditEv("client.add")))
	must(s.RevokeToken(ctx, &partner.TokenRevocation{Issuer: iss, JTI: "jti-load", ExpiresAt: time.Now().Add(time.Hour)}, auditEv("token.revoke")))
	must(s.RevokeToken(ctx, &partner.TokenRevocation{Issuer: iss, JTI: "jti-dead", ExpiresAt: time.Now().Add(-time.Hour)}, auditEv("token.revoke")))

	c, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	must(c.Load(ctx))

	steps := []struct {
		name  string
		write func()
		check func(t *testing.T)
	}{
		{"snapshot-has-client-and-live-revocation", func() {}, func(t *testing.T) {
			if id, ok := c.Client(iss, "at-load"); !ok || id != "acme" {
				t.Errorf("Client = %q, %v; want acme", id, ok)
			}
			if !c.TokenRevoked(iss, "jti-load") {
				t.Error("live revocation missing after Load")
			}
			if c.TokenRevoked(iss, "jti-dead") {
				t.Error("dead revocation loaded")
			}
		}},
		{"client-added-on-feed", func() {
			must(s.AddClient(ctx, &partner.Client{Issuer: iss, ClientID: "later", PartnerID: "acme"}, auditEv("client.add")))
		}, func(t *testing.T) {
			if id, ok := c.Client(iss, "later"); !ok || id != "acme" {
				t.Errorf("Client = %q, %v; want acme", id, ok)
			}
			if _, ok := c.Client("https://other.example.com/", "later"); ok {
				t.Error("client matched under another issuer")
			}
		}},
		{"client-removed-on-feed", func() {
			must(s.RemoveClient(ctx, "acme", iss, "at-load", auditEv("client.remove")))
		}, func(t *testing.T) {
			if _, ok := c.Client(iss, "at-load"); ok {
				t.Error("removed client still registered")
			}
		}},
		{"revocation-on-feed", func() {
			must(s.RevokeToken(ctx, &partner.TokenRevocation{Issuer: iss, JTI: "jti-2", ExpiresAt: time.Now().Add(time.Hour)}, auditEv("token.revoke")))
		}, func(t *testing.T) {
			if !c.TokenRevoked(iss, "jti-2") {
				t.Error("revocation not applied")
			}
			if c.TokenRevoked("https://other.example.com/", "jti-2") || c.TokenRevoked(iss, "") {
				t.Error("revocation matched another issuer or an empty jti")
			}
		}},
		{"cutoff-on-feed", func() {
			_, err := s.RevokeTokensBefore(ctx, "acme", time.Unix(1_700_000_000, 0), auditEv("partner.revoke_tokens"))
			must(err)
		}, func(t *testing.T) {
			p, ok := c.Partner("acme")
			if !ok || !p.TokensNotBefore.Equal(time.Unix(1_700_000_000, 0)) {
				t.Errorf("partner = %+v, want TokensNotBefore set", p)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.write()
			must(c.Sync(ctx))
			st.check(t)
		})
	}

	t.Run("sweep-drops-only-dead", func(t *testing.T) {
		c.sweepRevocations(time.Now().Add(2 * time.Hour))
		if c.TokenRevoked(iss, "jti-2") || c.RevokedTokens() != 0 {
			t.Errorf("after sweep past every exp: %d revocations held", c.RevokedTokens())
		}
	})
}

func TestTokenLookupsDoNotAllocate(t *testing.T) {
	c, err := New(newMemSource(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	issuer, client := "https://idp.example.com/", "client-1"
	n := testing.AllocsPerRun(100, func() {
		c.Client(issuer, client)
		c.TokenRevoked(issuer, "jti")
	})
	if n != 0 {
		t.Errorf("Client+TokenRevoked allocate %v times, want 0", n)
	}
}
