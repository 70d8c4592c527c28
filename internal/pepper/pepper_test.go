// Test strategy: the pepper keys every API key digest, so a wrong or lost
// pepper is an outage that looks healthy. These tests open real SQLite and
// PostgreSQL stores, put live keys in them, and check that Open refuses a
// missing pepper file and a different pepper — naming the file and the
// version, and writing nothing — and generates one only for a fresh store.
package pepper_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/pepper"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// backends opens a fresh store of each kind; PostgreSQL only when
// pgtest.Env names a server.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		return open(t, "sqlite://"+filepath.Join(t.TempDir(), "partnergate.db"))
	}},
	{"postgres", func(t *testing.T) store.Store {
		return open(t, pgtest.NewDatabase(t))
	}},
}

func open(t *testing.T, url string) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writePepper writes a random hex pepper to dir/name and returns it.
func writePepper(t *testing.T, path string) []byte {
	t.Helper()
	p := make([]byte, 32)
	rand.Read(p)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(p)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// addKey stores a live key hashed with pepper version v.
func addKey(t *testing.T, st store.Store, id string, v int) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.GetPartner(ctx, "acme"); errors.Is(err, partner.ErrNotFound) {
		p := &partner.Partner{ID: "acme", Tier: partner.DefaultTier, State: partner.Active}
		if err := st.CreatePartner(ctx, p, partner.AuditEvent{Actor: "test", Action: "partner.create", PartnerID: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	c := &partner.Credential{ID: id, PartnerID: "acme", Digest: make([]byte, 32), PepperVersion: v, ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateCredential(ctx, c, partner.AuditEvent{Actor: "test", Action: "key.issue", PartnerID: "acme", CredentialID: id}); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares the store and the pepper directory; it returns
		// the pepper expected back, or nil for a refusal.
		setup    func(t *testing.T, st store.Store, path string) []byte
		generate bool
		// wantErr lists what the refusal must name.
		wantErr []string
	}{
		{
			name:     "fresh-store-generates-a-pepper",
			setup:    func(*testing.T, store.Store, string) []byte { return nil },
			generate: true,
		},
		{
			name: "same-pepper-again",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				p := writePepper(t, path)
				if _, err := st.InitMeta(context.Background(), pepper.MetaKey(1), apikey.Fingerprint(p)); err != nil {
					t.Fatal(err)
				}
				addKey(t, st, "key000000001", 1)
				return p
			},
		},
		{
			name: "store-from-before-fingerprints-records-one",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				addKey(t, st, "key000000001", 1)
				return writePepper(t, path)
			},
		},
		{
			name: "missing-pepper-with-live-keys-refused",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				addKey(t, st, "key000000001", 1)
				return nil
			},
			generate: true,
			wantErr:  []string{"does not exist", "pepper version 1", "restore"},
		},
		{
			name: "missing-pepper-the-store-recorded-refused",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				if _, err := st.InitMeta(context.Background(), pepper.MetaKey(1), apikey.Fingerprint(make([]byte, 32))); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			generate: true,
			wantErr:  []string{"does not exist", "pepper version 1"},
		},
		{
			name:    "missing-pepper-without-generate-refused",
			setup:   func(*testing.T, store.Store, string) []byte { return nil },
			wantErr: []string{"does not exist"},
		},
		{
			name: "wrong-pepper-refused",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				first := writePepper(t, path)
				if _, err := st.InitMeta(context.Background(), pepper.MetaKey(1), apikey.Fingerprint(first)); err != nil {
					t.Fatal(err)
				}
				addKey(t, st, "key000000001", 1)
				writePepper(t, path) // a different pepper in its place
				return nil
			},
			generate: true,
			wantErr:  []string{"is not pepper version 1", "fingerprint"},
		},
		{
			name: "keys-of-an-unconfigured-version-refused",
			setup: func(t *testing.T, st store.Store, path string) []byte {
				addKey(t, st, "key000000001", 2)
				return writePepper(t, path)
			},
			wantErr: []string{"pepper version 2", "not configured"},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					st := b.open(t)
					path := filepath.Join(t.TempDir(), "pepper")
					want := tc.setup(t, st, path)
					before, _ := os.ReadFile(path)
					ctx := context.Background()
					got, err := pepper.Open(ctx, st, pepper.Options{Path: path, Version: 1, Generate: tc.generate})
					if len(tc.wantErr) > 0 {
						if err == nil {
							t.Fatal("Open succeeded; want a refusal")
						}
						for _, w := range append([]string{path}, tc.wantErr...) {
							if !strings.Contains(err.Error(), w) {
								t.Errorf("error %q does not name %q", err, w)
							}
						}
						after, _ := os.ReadFile(path)
						if string(after) != string(before) {
							t.Error("a refused Open changed the pepper file")
						}
						return
					}
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					if want != nil && string(got) != string(want) {
						t.Error("Open returned another pepper than the file's")
					}
					fp, err := st.Meta(ctx, pepper.MetaKey(1))
					if err != nil || fp != apikey.Fingerprint(got) {
						t.Errorf("stored fingerprint %q, %v; want the pepper's", fp, err)
					}
					// Opening again finds the file and its fingerprint.
					again, err := pepper.Open(ctx, st, pepper.Options{Path: path, Version: 1})
					if err != nil || string(again) != string(got) {
						t.Errorf("second Open: %v", err)
					}
				})
			}
		})
	}
}

func TestReadRefusesShortAndMissing(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pepper.Read(short); err == nil || !strings.Contains(err.Error(), short) {
		t.Errorf("Read(short) = %v; want an error naming the file", err)
	}
	if _, err := pepper.Read(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) = %v; want fs.ErrNotExist", err)
	}
}

func TestPath(t *testing.T) {
	cases := []struct {
		name, configured, store, want string
		wantErr                       bool
	}{
		{"configured-wins", "/run/secrets/pepper", "sqlite:///var/lib/pg/p.db", "/run/secrets/pepper", false},
		{"beside-the-sqlite-file", "", "sqlite:///var/lib/pg/p.db", "/var/lib/pg/pepper", false},
		{"relative-sqlite-path", "", "sqlite://data/p.db", "data/pepper", false},
		{"postgres-needs-a-file", "", "postgres://db/x", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pepper.Path(tc.configured, tc.store)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("Path = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
