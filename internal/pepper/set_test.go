package pepper_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/pepper"
)

// TestRotation walks a pepper rotation on each backend: a store whose keys
// were hashed with version 1 accepts the set {2, 1}, whose highest version
// hashes new keys while version 1 still verifies the old ones; a file
// swapped under version 1 refuses to start; dropping version 1 while keys
// still need it starts, and logs how many keys are refused.
func TestRotation(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.open(t)
			dir := t.TempDir()
			v1, v2, other := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "other")
			p1 := writePepper(t, v1)
			writePepper(t, v2)
			writePepper(t, other)
			if _, err := pepper.Open(ctx, st, pepper.Options{Path: v1, Version: 1}); err != nil {
				t.Fatal(err)
			}
			addKey(t, st, "aaaaaaaaaaaa", 1)
			addKey(t, st, "bbbbbbbbbbbb", 1)

			entries := []pepper.Entry{{Version: 2, Path: v2}, {Version: 1, Path: v1}}
			set, err := pepper.ReadSet(entries)
			if err != nil {
				t.Fatal(err)
			}
			if set.Current != 2 || string(set.Peppers[1]) != string(p1) {
				t.Fatalf("set = current %d, want 2 with version 1's pepper kept", set.Current)
			}
			log := &logtest.Buffer{}
			bad, err := pepper.VerifySet(ctx, st, st, entries, set, slog.New(slog.NewTextHandler(log, nil)))
			if err != nil || len(bad) != 0 {
				t.Fatalf("VerifySet = %v, %v; want every live key verifiable", bad, err)
			}

			// The hasher the server builds from the set.
			h, err := apikey.NewHasher(set.Current, set.Peppers)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := apikey.NewFormat("pgtest_")
			k, _ := f.Generate(nil)
			old, _ := apikey.NewHasher(1, map[int][]byte{1: p1})
			d1, ver1 := old.Digest(k)
			if ok, err := h.Verify(k, d1, ver1); !ok || err != nil {
				t.Errorf("a version-1 digest does not verify under the set: %v, %v", ok, err)
			}
			if _, v := h.Digest(k); v != 2 {
				t.Errorf("new keys are hashed with version %d, want 2", v)
			}

			swapped := []pepper.Entry{{Version: 2, Path: v2}, {Version: 1, Path: other}}
			sset, err := pepper.ReadSet(swapped)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pepper.VerifySet(ctx, st, st, swapped, sset, nil); err == nil || !strings.Contains(err.Error(), "version 1") {
				t.Errorf("a different pepper under version 1: %v, want a refusal naming version 1", err)
			}

			only2 := []pepper.Entry{{Version: 2, Path: v2}}
			set2, _ := pepper.ReadSet(only2)
			log = &logtest.Buffer{}
			bad, err = pepper.VerifySet(ctx, st, st, only2, set2, slog.New(slog.NewTextHandler(log, nil)))
			if err != nil || bad[1] != 2 {
				t.Fatalf("without version 1: %v, %v; want 2 unverifiable keys of version 1", bad, err)
			}
			if out := log.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "version=1 keys=2") {
				t.Errorf("start-up log does not count the refused keys:\n%s", out)
			}
		})
	}
}

func TestReadSetRefuses(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1")
	writePepper(t, v1)
	tests := []struct {
		name    string
		entries []pepper.Entry
		want    string
	}{
		{"empty", nil, "empty"},
		{"missing-file", []pepper.Entry{{Version: 2, Path: filepath.Join(dir, "nope")}}, "version 2"},
		{"duplicate-version", []pepper.Entry{{Version: 1, Path: v1}, {Version: 1, Path: v1}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pepper.ReadSet(tt.entries); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadSet = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
