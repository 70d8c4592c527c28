package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite the README's configuration table")

// TestREADMETableMatchesFlags guards the one source of the settings'
// descriptions: the README's configuration table is the one Table builds
// from the same help tags --help prints.
func TestREADMETableMatchesFlags(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	before, rest, ok := strings.Cut(readme, TableBegin+"\n")
	if !ok {
		t.Fatalf("README has no %q marker", TableBegin)
	}
	got, after, ok := strings.Cut(rest, TableEnd)
	if !ok {
		t.Fatalf("README has no %q marker", TableEnd)
	}
	want := Table()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+TableBegin+"\n"+want+TableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the README's configuration table is stale; run go test ./internal/config -run TestREADMETableMatchesFlags -update\ngot:\n%s\nwant:\n%s", got, want)
}

// TestFlagsAreTypedAndDescribed guards serve --help: every setting has a
// description, and its flag says what kind of value it takes.
func TestFlagsAreTypedAndDescribed(t *testing.T) {
	fs := flags(t)
	def := Default()
	for _, s := range def.settings() {
		if strings.TrimSpace(s.help) == "" {
			t.Errorf("%s has no help tag", s.key)
		}
		if s.list {
			if fs.Lookup(s.flag) != nil {
				t.Errorf("list setting %s has a flag", s.key)
			}
			continue
		}
		f := fs.Lookup(s.flag)
		if f == nil {
			t.Errorf("%s has no flag --%s", s.key, s.flag)
			continue
		}
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Int: "int", reflect.Float64: "float", reflect.Bool: "bool"}[s.v.Kind()]
		if s.v.Type() == durationType {
			want = "duration"
		}
		if name, usage := pflag.UnquoteUsage(f); f.Value.Type() != want || !strings.Contains(usage, s.help) || want != "bool" && name == "" {
			t.Errorf("--%s is %s %q, want type %s and usage %q", s.flag, f.Value.Type(), usage, want, s.help)
		}
	}
	t.Run("every-flag-is-a-setting", func(t *testing.T) {
		n := 0
		fs.VisitAll(func(*pflag.Flag) { n++ })
		if want := len(def.scalars()) + 1; n != want { // + --config
			t.Errorf("%d flags, want %d", n, want)
		}
	})
}

// TestBadFlagsAreAllReported: typed flags are parsed by Load, not by the
// flag set, so two bad flags are two problems, not the first one alone.
func TestBadFlagsAreAllReported(t *testing.T) {
	_, err := Resolve(flags(t, "--shutdown-grace=soon", "--jwt-cache-size=lots", "--audit-allow-sample=half"), fakeEnv(nil))
	if err == nil {
		t.Fatal("Resolve accepted bad flags")
	}
	for _, w := range []string{"--shutdown-grace", "--jwt-cache-size", "--audit-allow-sample"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not name %s:\n%v", w, err)
		}
	}
}
