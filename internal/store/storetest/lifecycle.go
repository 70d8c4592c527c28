package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

func mustCIDRs(t *testing.T, s string) partner.CIDRs {
	t.Helper()
	c, err := partner.ParseCIDRs("allow_cidrs", s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testUpdateGrants: UpdatePartner changes the tier, narrows and widens the
// grants and sets the allow-list, each in one transaction with a
// change-feed entry; the keys' stored scopes are left as issued (the
// effective scopes are their intersection with the grants, at Check).
func testUpdateGrants(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	p := mustCreatePartner(t, s, "acme")
	k := mustCreateCredential(t, s, &partner.Credential{ID: "k1", PartnerID: "acme",
		Scopes: mustScopes(t, "orders:read orders:write"), Digest: randomDigest(), PepperVersion: 1})
	steps := []struct {
		name   string
		tier   string
		scopes string
		allow  string
	}{
		{"narrow", "gold", "orders:read", ""},
		{"widen", "gold", "orders:read orders:write refunds:write", ""},
		{"allow-list-v4-and-v6", "standard", "orders:read", "203.0.113.0/24,2001:db8::/32"},
		{"clear-allow-list", "standard", "orders:read", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			v := lastVersion(t, s)
			p.Tier, p.Scopes, p.AllowCIDRs = st.tier, mustScopes(t, st.scopes), mustCIDRs(t, st.allow)
			if err := s.UpdatePartner(ctx, p, ev("partner.update", "acme", "")); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetPartner(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if got.Tier != st.tier || got.Scopes.String() != mustScopes(t, st.scopes).String() ||
				got.AllowCIDRs.String() != mustCIDRs(t, st.allow).String() || got.Version != p.Version {
				t.Errorf("stored %+v, want tier %s scopes %q allow %q at version %d", got, st.tier, st.scopes, st.allow, p.Version)
			}
			if c := lastChange(t, s); c.Kind != store.KindPartner || c.ID != "acme" || c.Version != v+1 {
				t.Errorf("change = %+v, want one partner entry after %d", c, v)
			}
			key, err := s.GetCredential(ctx, "k1")
			if err != nil || key.Scopes.String() != k.Scopes.String() {
				t.Errorf("key scopes = %v, %v; want them as issued, %q", key.Scopes, err, k.Scopes)
			}
		})
	}
}

// testKeyUpdate: UpdateCredential stores a key's new name, narrower
// scopes and allow-list; the digest and partner stay.
func testKeyUpdate(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	k := mustCreateCredential(t, s, &partner.Credential{ID: "k1", PartnerID: "acme", Name: "old",
		Scopes: mustScopes(t, "orders:read orders:write"), Digest: randomDigest(), PepperVersion: 1})
	digest := k.Digest
	k.Name, k.Scopes, k.AllowCIDRs = "new", mustScopes(t, "orders:read"), mustCIDRs(t, "2001:db8:1::/48, 198.51.100.7/32")
	if err := s.UpdateCredential(ctx, k, ev("key.update", "acme", "k1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCredential(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "new" || got.Scopes.String() != "orders:read" || got.AllowCIDRs.String() != "198.51.100.7/32,2001:db8:1::/48" ||
		string(got.Digest) != string(digest) || got.Version != 2 {
		t.Errorf("stored %+v", got)
	}
	var snap []partner.CIDRs
	if _, err := s.Snapshot(ctx, store.Visitor{
		Partner:    func(*partner.Partner) error { return nil },
		Credential: func(c *partner.Credential) error { snap = append(snap, c.AllowCIDRs); return nil },
	}); err != nil || len(snap) != 1 || !snap[0].Equal(got.AllowCIDRs) {
		t.Errorf("snapshot allow-lists = %v, %v", snap, err)
	}
}

// testDeletePartner: DeletePartner refuses while credentials are live and
// changes nothing; with revokeAll it revokes every key, removes every
// client, moves the token cutoff and leaves a tombstone, in one
// transaction with one audit event; the tombstone refuses create, update
// and a second delete; ReuseDeletedPartner gives the id to a new tenant
// while the old keys stay revoked.
func testDeletePartner(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "other")
	live := mustCreateCredential(t, s, newCredential(t, "k1", "acme"))
	expired := newCredential(t, "k2", "acme")
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	mustCreateCredential(t, s, expired)
	mustCreateCredential(t, s, newCredential(t, "k3", "other"))
	if err := s.AddClient(ctx, &partner.Client{Issuer: "https://idp.example.com", ClientID: "c1", PartnerID: "acme"}, ev("client.add", "acme", "")); err != nil {
		t.Fatal(err)
	}

	v, audits := lastVersion(t, s), auditCount(t, s)
	_, _, err := s.DeletePartner(ctx, "acme", false, ev("partner.delete", "acme", ""))
	var live2 *store.LiveCredentialsError
	if !errors.As(err, &live2) || live2.Keys != 1 || live2.Clients != 1 {
		t.Fatalf("DeletePartner without revokeAll = %v, want a LiveCredentialsError with 1 key and 1 client", err)
	}
	if lastVersion(t, s) != v || auditCount(t, s) != audits {
		t.Fatal("a refused delete left a trace")
	}
	if _, _, err := s.DeletePartner(ctx, "nobody", true, ev("partner.delete", "nobody", "")); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("DeletePartner(unknown) = %v, want ErrNotFound", err)
	}

	before := time.Now()
	p, off, err := s.DeletePartner(ctx, "acme", true, ev("partner.delete", "acme", ""))
	if err != nil {
		t.Fatal(err)
	}
	if p.State != partner.Deleted || p.DeletedAt.IsZero() || p.TokensNotBefore.Before(before.Truncate(time.Second)) {
		t.Errorf("deleted partner = %+v", p)
	}
	if !equalStrings(off.RevokedKeys, []string{"k1", "k2"}) || len(off.RemovedClients) != 1 {
		t.Errorf("offboarding = %+v, want k1 and k2 revoked and one client removed", off)
	}
	for _, id := range []string{"k1", "k2"} {
		if c, err := s.GetCredential(ctx, id); err != nil || !c.Revoked() {
			t.Errorf("key %s after delete = %+v, %v; want revoked", id, c, err)
		}
	}
	if c, _ := s.GetCredential(ctx, "k3"); c.Revoked() {
		t.Error("another partner's key was revoked")
	}
	if cs, err := s.ListClients(ctx, "acme"); err != nil || len(cs) != 0 {
		t.Errorf("clients after delete = %v, %v", cs, err)
	}
	if n := auditCount(t, s); n != audits+1 {
		t.Errorf("%d audit events, want one more (%d)", n, audits+1)
	}
	if a := lastAudit(t, s); a.Detail["revoked_keys"] != "k1,k2" || a.Detail["removed_clients"] != "1" {
		t.Errorf("audit detail = %v", a.Detail)
	}
	changes, err := s.Changes(ctx, v, 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[store.Kind]int{}
	for _, c := range changes {
		kinds[c.Kind]++
	}
	if kinds[store.KindPartner] != 1 || kinds[store.KindCredential] != 2 || kinds[store.KindClient] != 1 {
		t.Errorf("changes = %+v, want 1 partner, 2 credentials, 1 client", changes)
	}
	_ = live

	// The tombstone.
	if err := s.CreatePartner(ctx, newPartner(t, "acme"), ev("partner.create", "acme", "")); !errors.Is(err, partner.ErrExists) {
		t.Errorf("CreatePartner(deleted id) = %v, want ErrExists", err)
	}
	stale := *p
	stale.State = partner.Active
	if err := s.UpdatePartner(ctx, &stale, ev("partner.resume", "acme", "")); !errors.Is(err, partner.ErrConflict) {
		t.Errorf("UpdatePartner(deleted) = %v, want ErrConflict", err)
	}
	if _, _, err := s.DeletePartner(ctx, "acme", true, ev("partner.delete", "acme", "")); !errors.Is(err, store.ErrDeleted) {
		t.Errorf("second DeletePartner = %v, want ErrDeleted", err)
	}
	if got, err := s.GetPartner(ctx, "acme"); err != nil || got.State != partner.Deleted {
		t.Errorf("tombstone = %+v, %v", got, err)
	}

	// Reuse.
	if err := s.ReuseDeletedPartner(ctx, newPartner(t, "other"), ev("partner.create", "other", "")); !errors.Is(err, partner.ErrExists) {
		t.Errorf("ReuseDeletedPartner(live id) = %v, want ErrExists", err)
	}
	if err := s.ReuseDeletedPartner(ctx, newPartner(t, "nobody"), ev("partner.create", "nobody", "")); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("ReuseDeletedPartner(unknown) = %v, want ErrNotFound", err)
	}
	fresh := newPartner(t, "acme")
	fresh.Tier, fresh.Scopes = "gold", mustScopes(t, "reports:read")
	if err := s.ReuseDeletedPartner(ctx, fresh, ev("partner.create", "acme", "")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPartner(ctx, "acme")
	if err != nil || got.State != partner.Active || got.Tier != "gold" || got.Scopes.String() != "reports:read" ||
		!got.DeletedAt.IsZero() || got.TokensNotBefore.IsZero() || got.Version != fresh.Version {
		t.Errorf("reused partner = %+v, %v (want active, no deleted_at, the old token cutoff kept, version %d)", got, err, fresh.Version)
	}
	if c, _ := s.GetCredential(ctx, "k1"); !c.Revoked() {
		t.Error("the old tenant's key came back with the id")
	}
}

// testFindCredentials: FindCredentials filters live keys across partners
// by pepper version and by expiry, soonest first, and never returns a
// revoked or expired key.
func testFindCredentials(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "other")
	now := time.Now()
	mk := func(id, pid string, pepper int, expires time.Duration) {
		c := newCredential(t, id, pid)
		c.PepperVersion = pepper
		if expires != 0 {
			c.ExpiresAt = now.Add(expires)
		}
		mustCreateCredential(t, s, c)
	}
	mk("old-soon", "acme", 1, 3*24*time.Hour)
	mk("old-late", "other", 1, 60*24*time.Hour)
	mk("new-soon", "other", 2, 10*24*time.Hour)
	mk("new-never", "acme", 2, 0)
	mk("old-expired", "acme", 1, -time.Hour)
	revoked := newCredential(t, "old-revoked", "acme")
	revoked.RevokedAt = now
	mustCreateCredential(t, s, revoked)

	tests := []struct {
		name string
		f    store.KeyFilter
		want []string
	}{
		{"everything-live", store.KeyFilter{}, []string{"old-soon", "new-soon", "old-late", "new-never"}},
		{"pepper-1", store.KeyFilter{PepperVersion: 1}, []string{"old-soon", "old-late"}},
		{"expiring-within-14d", store.KeyFilter{ExpiresBefore: now.Add(14 * 24 * time.Hour)}, []string{"old-soon", "new-soon"}},
		{"both", store.KeyFilter{PepperVersion: 2, ExpiresBefore: now.Add(14 * 24 * time.Hour)}, []string{"new-soon"}},
		{"none", store.KeyFilter{PepperVersion: 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := s.FindCredentials(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.ID)
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("FindCredentials(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

// testPruneChanges: PruneChanges deletes old entries but the newest; a
// reader behind the pruned entries gets ErrFeedPruned (never a silent gap),
// one at or past them reads on, and a snapshot reports a version a reader
// can follow from.
func testPruneChanges(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if n, err := s.PruneChanges(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("PruneChanges on an empty feed = %d, %v", n, err)
	}
	for _, id := range []string{"a", "b", "c"} {
		mustCreatePartner(t, s, id)
	}
	latest := lastVersion(t, s)
	if n, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("PruneChanges of nothing old enough = %d, %v", n, err)
	}
	n, err := s.PruneChanges(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneChanges = %d, %v; want 2 (the newest entry stays)", n, err)
	}
	if _, err := s.Changes(ctx, 0, 100); !errors.Is(err, store.ErrFeedPruned) {
		t.Errorf("Changes(0) after pruning = %v, want ErrFeedPruned", err)
	}
	if _, err := s.Changes(ctx, latest-2, 100); !errors.Is(err, store.ErrFeedPruned) {
		t.Errorf("Changes(%d) = %v, want ErrFeedPruned", latest-2, err)
	}
	got, err := s.Changes(ctx, latest-1, 100)
	if err != nil || len(got) != 1 || got[0].Version != latest {
		t.Errorf("Changes(%d) = %v, %v; want the newest entry", latest-1, got, err)
	}
	version, err := s.Snapshot(ctx, store.Visitor{Partner: func(*partner.Partner) error { return nil }, Credential: func(*partner.Credential) error { return nil }})
	if err != nil || version != latest {
		t.Fatalf("Snapshot version = %d, %v; want %d", version, err, latest)
	}
	mustCreatePartner(t, s, "d")
	got, err = s.Changes(ctx, version, 100)
	if err != nil || len(got) != 1 || got[0].ID != "d" || got[0].Version <= latest {
		t.Errorf("Changes after the snapshot = %v, %v; want d's entry, with a new version", got, err)
	}
}

// testRecordExpiredKeys: a key that expired unrotated is audited once,
// however often RecordExpiredKeys runs; rotated, revoked and live keys are
// not; nothing reaches the change feed.
func testRecordExpiredKeys(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	past := time.Now().Add(-time.Hour)
	mk := func(id string, edit func(*partner.Credential)) {
		c := newCredential(t, id, "acme")
		c.ExpiresAt = past
		edit(c)
		mustCreateCredential(t, s, c)
	}
	mk("expired", func(*partner.Credential) {})
	mk("rotated", func(c *partner.Credential) { c.LastRotatedAt = past.Add(-time.Hour) })
	mk("revoked", func(c *partner.Credential) { c.RevokedAt = past })
	mk("live", func(c *partner.Credential) { c.ExpiresAt = time.Now().Add(time.Hour) })
	v, audits := lastVersion(t, s), auditCount(t, s)

	got, err := s.RecordExpiredKeys(ctx, "partnergate")
	if err != nil || len(got) != 1 || got[0].ID != "expired" {
		t.Fatalf("RecordExpiredKeys = %v, %v; want only the unrotated expired key", got, err)
	}
	if a := lastAudit(t, s); a.Action != "key.expire" || a.CredentialID != "expired" || a.PartnerID != "acme" || a.Actor != "partnergate" {
		t.Errorf("audit = %+v", a)
	}
	again, err := s.RecordExpiredKeys(ctx, "partnergate")
	if err != nil || len(again) != 0 {
		t.Errorf("second RecordExpiredKeys = %v, %v; want nothing (recorded once)", again, err)
	}
	if n := auditCount(t, s); n != audits+1 {
		t.Errorf("%d audit events, want %d", n, audits+1)
	}
	if lastVersion(t, s) != v {
		t.Error("recording an expiry wrote to the change feed")
	}
}

// testApplyPartner: ApplyPartner creates a partner with its clients, then
// changes every declared field and swaps its clients in one transaction
// with one audit event; a client held by another partner fails the whole
// apply and changes nothing; a stale version conflicts.
func testApplyPartner(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "other")
	if err := s.AddClient(ctx, &partner.Client{Issuer: "https://idp.example.com", ClientID: "taken", PartnerID: "other"}, ev("client.add", "other", "")); err != nil {
		t.Fatal(err)
	}
	idp := "https://idp.example.com"
	p := &partner.Partner{ID: "acme", Tier: "gold", State: partner.Active, Scopes: mustScopes(t, "orders:read"),
		AllowCIDRs: mustCIDRs(t, "203.0.113.0/24"), Limits: partner.Limits{PerSecond: 10}}
	v, audits := lastVersion(t, s), auditCount(t, s)
	if err := s.ApplyPartner(ctx, p, []partner.Client{{Issuer: idp, ClientID: "c1"}, {Issuer: idp, ClientID: "c2"}}, true, ev("partner.apply", "acme", "")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPartner(ctx, "acme"); err != nil || got.Version != 1 || got.Limits.PerSecond != 10 || got.AllowCIDRs.String() != "203.0.113.0/24" {
		t.Fatalf("created %+v, %v", got, err)
	}
	if n := auditCount(t, s); n != audits+1 {
		t.Errorf("%d audit events for one apply, want 1", n-audits)
	}
	if ch, _ := s.Changes(ctx, v, 100); len(ch) != 3 {
		t.Errorf("changes = %v, want the partner and two clients", ch)
	}

	p.Tier, p.State, p.Scopes, p.AllowCIDRs, p.Limits = "silver", partner.Suspended, mustScopes(t, "orders:read orders:write"), nil, partner.Limits{}
	if err := s.ApplyPartner(ctx, p, []partner.Client{{Issuer: idp, ClientID: "c2"}, {Issuer: idp, ClientID: "c3"}}, false, ev("partner.apply", "acme", "")); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetPartner(ctx, "acme")
	if got.Tier != "silver" || got.State != partner.Suspended || got.Scopes.String() != "orders:read orders:write" || len(got.AllowCIDRs) != 0 ||
		!got.Limits.IsZero() || got.Version != 2 || p.Version != 2 {
		t.Errorf("updated %+v", got)
	}
	cs, _ := s.ListClients(ctx, "acme")
	if len(cs) != 2 || cs[0].ClientID != "c2" || cs[1].ClientID != "c3" {
		t.Errorf("clients = %v, want c2 and c3", cs)
	}

	v, audits = lastVersion(t, s), auditCount(t, s)
	p.Tier = "bronze"
	err := s.ApplyPartner(ctx, p, []partner.Client{{Issuer: idp, ClientID: "taken"}}, false, ev("partner.apply", "acme", ""))
	if !errors.Is(err, partner.ErrExists) {
		t.Errorf("apply with another partner's client = %v, want ErrExists", err)
	}
	if got, _ := s.GetPartner(ctx, "acme"); got.Tier != "silver" || lastVersion(t, s) != v || auditCount(t, s) != audits {
		t.Error("a failed apply changed something")
	}
	stale := *p
	stale.Version = 1
	if err := s.ApplyPartner(ctx, &stale, nil, false, ev("partner.apply", "acme", "")); !errors.Is(err, partner.ErrConflict) {
		t.Errorf("stale apply = %v, want ErrConflict", err)
	}
	if err := s.ApplyPartner(ctx, newPartner(t, "other"), nil, true, ev("partner.apply", "other", "")); !errors.Is(err, partner.ErrExists) {
		t.Errorf("create of a taken id = %v, want ErrExists", err)
	}
}

// testPruneAudit: PruneAudit deletes only events older than its cutoff,
// and a later call with an earlier cutoff deletes nothing more.
func testPruneAudit(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	now := time.Now().UTC()
	for i, age := range []time.Duration{400 * 24 * time.Hour, 100 * 24 * time.Hour, time.Hour} {
		e := ev("partner.suspend", "acme", "")
		e.At = now.Add(-age)
		e.Reason = fmt.Sprint(i)
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAudit(ctx, now.Add(-365*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneAudit(a year) = %d, %v; want 1", n, err)
	}
	evs, _ := s.ListAudit(ctx, store.AuditFilter{Limit: 100})
	if len(evs) != 2 || evs[0].Reason != "1" || evs[1].Reason != "2" {
		t.Fatalf("after pruning: %+v", evs)
	}
	if n, err := s.PruneAudit(ctx, now.Add(-500*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneAudit(an earlier cutoff) = %d, %v; want 0", n, err)
	}
}

// testDeleteCertificates: a client certificate registration is a live
// credential of the partner: DeletePartner refuses while one is left,
// and with revokeAll removes each (one change-feed entry apiece) and
// clears the requirement, so that no certificate of the old tenant
// authenticates as the id's next tenant. A deleted partner takes no new
// registration.
func testDeleteCertificates(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustCreatePartner(t, s, "acme")
	c := &partner.Certificate{PartnerID: "acme", Kind: partner.CertSPIFFEID, Value: "spiffe://partners.example/acme"}
	if err := s.AddCertificate(ctx, c, ev("certificate.add", "acme", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRequireCertificate(ctx, "acme", true, ev("partner.require_certificate", "acme", "")); err != nil {
		t.Fatal(err)
	}

	v := lastVersion(t, s)
	_, _, err := s.DeletePartner(ctx, "acme", false, ev("partner.delete", "acme", ""))
	var live *store.LiveCredentialsError
	if !errors.As(err, &live) || live.Certificates != 1 || live.Keys != 0 || live.Clients != 0 {
		t.Fatalf("DeletePartner without revokeAll = %v, want a LiveCredentialsError with 1 certificate", err)
	}
	if lastVersion(t, s) != v {
		t.Fatal("a refused delete left a trace")
	}

	p, off, err := s.DeletePartner(ctx, "acme", true, ev("partner.delete", "acme", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(off.RemovedCertificates, []string{c.ID}) || p.RequireCertificate {
		t.Errorf("offboarding = %+v, partner requires a certificate: %v; want %s removed and no requirement", off, p.RequireCertificate, c.ID)
	}
	if cs, err := s.ListCertificates(ctx, "acme"); err != nil || len(cs) != 0 {
		t.Errorf("certificates after delete = %v, %v", cs, err)
	}
	if _, err := s.GetCertificate(ctx, c.ID); !errors.Is(err, partner.ErrNotFound) {
		t.Errorf("GetCertificate after delete = %v, want ErrNotFound", err)
	}
	if a := lastAudit(t, s); a.Detail["removed_certificates"] != c.ID {
		t.Errorf("audit detail = %v", a.Detail)
	}
	changes, err := s.Changes(ctx, v, 100)
	if err != nil {
		t.Fatal(err)
	}
	certChanges := 0
	for _, ch := range changes {
		if ch.Kind == store.KindCertificate && ch.ID == c.ID {
			certChanges++
		}
	}
	if certChanges != 1 {
		t.Errorf("changes = %+v, want one for certificate %s", changes, c.ID)
	}

	again := &partner.Certificate{PartnerID: "acme", Kind: partner.CertDNSSAN, Value: "api.acme.example"}
	if err := s.AddCertificate(ctx, again, ev("certificate.add", "acme", "")); !errors.Is(err, store.ErrDeleted) {
		t.Errorf("AddCertificate(deleted partner) = %v, want ErrDeleted", err)
	}

	if err := s.ReuseDeletedPartner(ctx, newPartner(t, "acme"), ev("partner.create", "acme", "")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPartner(ctx, "acme"); err != nil || got.RequireCertificate {
		t.Errorf("reused partner = %+v, %v; want no certificate requirement", got, err)
	}
	if cs, err := s.ListCertificates(ctx, "acme"); err != nil || len(cs) != 0 {
		t.Errorf("the reused id has the old tenant's certificates: %v, %v", cs, err)
	}
}
