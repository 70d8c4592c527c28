package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

const testIssuer = "https://idp.example.com/realms/partners"

// lastChange returns the newest change-feed entry.
func lastChange(t *testing.T, s store.Store) store.Change {
	t.Helper()
	v := lastVersion(t, s)
	ch, err := s.Changes(ctxFor(t), v-1, 1)
	if err != nil || len(ch) != 1 {
		t.Fatalf("Changes(%d) = %v, %v", v-1, ch, err)
	}
	return ch[0]
}

func lastAudit(t *testing.T, s store.Store) partner.AuditEvent {
	t.Helper()
	evs, err := s.ListAudit(ctxFor(t), store.AuditFilter{Limit: 1000})
	if err != nil || len(evs) == 0 {
		t.Fatalf("ListAudit = %v, %v", evs, err)
	}
	return evs[len(evs)-1]
}

func testClients(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	before := time.Now()
	c := &partner.Client{Issuer: testIssuer, ClientID: "acme-billing", PartnerID: "acme"}
	if err := s.AddClient(ctx, c, ev("client.add", "acme", "acme-billing")); err != nil {
		t.Fatalf("AddClient: %v", err)
	}
	within(t, "CreatedAt", c.CreatedAt, before, time.Now())
	if got := lastChange(t, s); got.Kind != store.KindClient || got.ID != store.ClientChangeID(testIssuer, "acme-billing") {
		t.Errorf("change = %+v, want kind %q for the client", got, store.KindClient)
	}
	if iss, id, ok := store.SplitChangeID(lastChange(t, s).ID); !ok || iss != testIssuer || id != "acme-billing" {
		t.Errorf("SplitChangeID = %q, %q, %v", iss, id, ok)
	}
	if a := lastAudit(t, s); a.Action != "client.add" {
		t.Errorf("audit action = %q, want client.add", a.Action)
	}
	got, err := s.GetClient(ctx, testIssuer, "acme-billing")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Errorf("GetClient mismatch (-want +got):\n%s", d)
	}
	other := &partner.Client{Issuer: "https://other.example.com/", ClientID: "acme-billing", PartnerID: "acme"}
	if err := s.AddClient(ctx, other, ev("client.add", "acme", "acme-billing")); err != nil {
		t.Fatalf("AddClient(same id, other issuer): %v", err)
	}
	list, err := s.ListClients(ctx, "acme")
	if err != nil || len(list) != 2 || list[0].Issuer != "https://idp.example.com/realms/partners" && list[0].Issuer > list[1].Issuer {
		t.Errorf("ListClients = %v, %v; want 2 ordered by issuer", list, err)
	}
	if err := s.RemoveClient(ctx, "acme", testIssuer, "acme-billing", ev("client.remove", "acme", "acme-billing")); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	if got := lastChange(t, s); got.Kind != store.KindClient {
		t.Errorf("remove change kind = %q, want %q", got.Kind, store.KindClient)
	}
	if _, err := s.GetClient(ctx, testIssuer, "acme-billing"); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("GetClient after remove: %v, want ErrNotFound", err)
	}
}

func testClientErrors(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "beta")
	if err := s.AddClient(ctx, &partner.Client{Issuer: testIssuer, ClientID: "c1", PartnerID: "acme"}, ev("client.add", "acme", "")); err != nil {
		t.Fatal(err)
	}
	v, n := lastVersion(t, s), auditCount(t, s)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"taken-by-another-partner", func() error {
			return s.AddClient(ctx, &partner.Client{Issuer: testIssuer, ClientID: "c1", PartnerID: "beta"}, ev("client.add", "beta", ""))
		}, partner.ErrExists},
		{"unknown-partner", func() error {
			return s.AddClient(ctx, &partner.Client{Issuer: testIssuer, ClientID: "c2", PartnerID: "ghost"}, ev("client.add", "ghost", ""))
		}, partner.ErrNotFound},
		{"remove-from-wrong-partner", func() error {
			return s.RemoveClient(ctx, "beta", testIssuer, "c1", ev("client.remove", "beta", ""))
		}, partner.ErrNotFound},
		{"remove-unknown", func() error {
			return s.RemoveClient(ctx, "acme", testIssuer, "nope", ev("client.remove", "acme", ""))
		}, partner.ErrNotFound},
		{"revoke-tokens-unknown-partner", func() error {
			_, err := s.RevokeTokensBefore(ctx, "ghost", time.Now(), ev("partner.revoke_tokens", "ghost", ""))
			return err
		}, partner.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	var fe *partner.FieldError
	if err := s.AddClient(ctx, &partner.Client{Issuer: "not a url", ClientID: "c3", PartnerID: "acme"}, ev("client.add", "acme", "")); !errors.As(err, &fe) || fe.Field != "issuer" {
		t.Errorf("AddClient(bad issuer) = %v, want a FieldError naming issuer", err)
	}
	if got, gotN := lastVersion(t, s), auditCount(t, s); got != v || gotN != n {
		t.Errorf("failed writes left a trace: version %d→%d, audit %d→%d", v, got, n, gotN)
	}
	if c, err := s.GetClient(ctx, testIssuer, "c1"); err != nil || c.PartnerID != "acme" {
		t.Errorf("c1 = %v, %v; want still acme's", c, err)
	}
}

func testTokenRevocations(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	r := &partner.TokenRevocation{Issuer: testIssuer, JTI: "jti-1", ExpiresAt: exp}
	before := time.Now()
	if err := s.RevokeToken(ctx, r, ev("token.revoke", "", "")); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	within(t, "RevokedAt", r.RevokedAt, before, time.Now())
	if got := lastChange(t, s); got.Kind != store.KindTokenRevocation || got.ID != store.TokenRevocationChangeID(testIssuer, "jti-1") {
		t.Errorf("change = %+v, want the revocation", got)
	}
	if a := lastAudit(t, s); a.Action != "token.revoke" {
		t.Errorf("audit action = %q", a.Action)
	}
	got, err := s.GetTokenRevocation(ctx, testIssuer, "jti-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got); d != "" {
		t.Errorf("GetTokenRevocation mismatch (-want +got):\n%s", d)
	}

	// A repeat with an earlier exp keeps the later one; with a later exp,
	// extends it.
	first := r.RevokedAt
	again := &partner.TokenRevocation{Issuer: testIssuer, JTI: "jti-1", ExpiresAt: exp.Add(-30 * time.Minute)}
	if err := s.RevokeToken(ctx, again, ev("token.revoke", "", "")); err != nil {
		t.Fatal(err)
	}
	if !again.ExpiresAt.Equal(exp) || !again.RevokedAt.Equal(first) {
		t.Errorf("repeat with earlier exp: %+v, want exp %v and first RevokedAt", again, exp)
	}
	later := &partner.TokenRevocation{Issuer: testIssuer, JTI: "jti-1", ExpiresAt: exp.Add(time.Hour)}
	if err := s.RevokeToken(ctx, later, ev("token.revoke", "", "")); err != nil {
		t.Fatal(err)
	}
	if !later.ExpiresAt.Equal(exp.Add(time.Hour)) {
		t.Errorf("repeat with later exp: ExpiresAt %v, want %v", later.ExpiresAt, exp.Add(time.Hour))
	}

	// Purge drops only what is no longer live.
	old := &partner.TokenRevocation{Issuer: testIssuer, JTI: "jti-old", ExpiresAt: time.Now().Add(-partner.TokenRevocationGrace - time.Minute)}
	if err := s.RevokeToken(ctx, old, ev("token.revoke", "", "")); err != nil {
		t.Fatal(err)
	}
	inGrace := &partner.TokenRevocation{Issuer: testIssuer, JTI: "jti-grace", ExpiresAt: time.Now().Add(-time.Minute)}
	if err := s.RevokeToken(ctx, inGrace, ev("token.revoke", "", "")); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeTokenRevocations(ctx, time.Now())
	if err != nil || n != 1 {
		t.Errorf("PurgeTokenRevocations = %d, %v; want 1", n, err)
	}
	if _, err := s.GetTokenRevocation(ctx, testIssuer, "jti-old"); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("purged revocation: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTokenRevocation(ctx, testIssuer, "jti-grace"); err != nil {
		t.Errorf("revocation within grace was purged: %v", err)
	}

	var fe *partner.FieldError
	v := lastVersion(t, s)
	if err := s.RevokeToken(ctx, &partner.TokenRevocation{Issuer: testIssuer, JTI: "bad\njti", ExpiresAt: exp}, ev("token.revoke", "", "")); !errors.As(err, &fe) || fe.Field != "jti" {
		t.Errorf("RevokeToken(bad jti) = %v, want a FieldError naming jti", err)
	}
	if lastVersion(t, s) != v {
		t.Error("refused revocation reached the change feed")
	}
}

func testRevokeTokensBefore(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	p := mustCreatePartner(t, s, "acme")
	cut := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	got, err := s.RevokeTokensBefore(ctx, "acme", cut, ev("partner.revoke_tokens", "acme", ""))
	if err != nil {
		t.Fatalf("RevokeTokensBefore: %v", err)
	}
	if !got.TokensNotBefore.Equal(cut) || got.Version != p.Version+1 {
		t.Errorf("partner = %+v, want TokensNotBefore %v at version %d", got, cut, p.Version+1)
	}
	if c := lastChange(t, s); c.Kind != store.KindPartner || c.ID != "acme" {
		t.Errorf("change = %+v, want the partner", c)
	}
	// Never backwards: an earlier cutoff would readmit refused tokens.
	got, err = s.RevokeTokensBefore(ctx, "acme", cut.Add(-time.Hour), ev("partner.revoke_tokens", "acme", ""))
	if err != nil || !got.TokensNotBefore.Equal(cut) {
		t.Errorf("earlier cutoff: %v, %v; want it kept at %v", got, err, cut)
	}
	read, err := s.GetPartner(ctx, "acme")
	if err != nil || !read.TokensNotBefore.Equal(cut) {
		t.Errorf("GetPartner = %+v, %v", read, err)
	}
	// An ordinary update leaves the cutoff alone.
	read.State = partner.Suspended
	if err := s.UpdatePartner(ctx, read, ev("partner.suspend", "acme", "")); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.GetPartner(ctx, "acme"); !again.TokensNotBefore.Equal(cut) {
		t.Errorf("UpdatePartner changed TokensNotBefore to %v", again.TokensNotBefore)
	}
}

func testSnapshotTokens(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	for _, id := range []string{"c1", "c2"} {
		if err := s.AddClient(ctx, &partner.Client{Issuer: testIssuer, ClientID: id, PartnerID: "acme"}, ev("client.add", "acme", "")); err != nil {
			t.Fatal(err)
		}
	}
	for jti, exp := range map[string]time.Time{
		"live":  time.Now().Add(time.Hour),
		"grace": time.Now().Add(-time.Minute),
		"dead":  time.Now().Add(-partner.TokenRevocationGrace - time.Minute),
	} {
		if err := s.RevokeToken(ctx, &partner.TokenRevocation{Issuer: testIssuer, JTI: jti, ExpiresAt: exp}, ev("token.revoke", "", "")); err != nil {
			t.Fatal(err)
		}
	}
	var clients, jtis []string
	version, err := s.Snapshot(ctx, store.Visitor{
		Client:          func(c *partner.Client) error { clients = append(clients, c.ClientID+"@"+c.PartnerID); return nil },
		TokenRevocation: func(r *partner.TokenRevocation) error { jtis = append(jtis, r.JTI); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if version != lastVersion(t, s) {
		t.Errorf("version = %d, want %d", version, lastVersion(t, s))
	}
	slices.Sort(clients)
	slices.Sort(jtis)
	if got := strings.Join(clients, ","); got != "c1@acme,c2@acme" {
		t.Errorf("clients = %s", got)
	}
	if got := strings.Join(jtis, ","); got != "grace,live" {
		t.Errorf("revocations = %s, want the live ones (grace,live)", got)
	}
}
