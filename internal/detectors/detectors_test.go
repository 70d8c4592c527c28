package detectors

// Test strategy: the shipped rules are run, not read. A fixture of real
// generated keys and near-misses (one character short or long, a character
// outside base62, a word character glued on, another prefix, a wrong
// checksum) is written to a temporary tree; the real gitleaks (the pinned
// binary the Makefile installs, named by PARTNERGATE_GITLEAKS_BIN) scans
// it with gitleaks.toml, and `partnergate scan`'s engine (internal/keyscan)
// scans it too. They must report the same keys at the same lines, but for
// the wrong-checksum look-alike, which only partnergate can tell from a
// key. The trufflehog rule is checked for shape and for the same regex.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/keyscan"
)

func gitleaksBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PARTNERGATE_GITLEAKS_BIN")
	if bin == "" {
		if testing.Short() {
			t.Skip("-short: the detector tests need gitleaks (PARTNERGATE_GITLEAKS_BIN)")
		}
		t.Fatal("PARTNERGATE_GITLEAKS_BIN is unset: run `make test`, which installs the pinned gitleaks and sets it")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("PARTNERGATE_GITLEAKS_BIN: %v", err)
	}
	return bin
}

// fixture writes planted keys and near-misses under a new directory and
// returns it, the places keys were planted ("file:line id"), and the
// place of the wrong-checksum look-alike.
func fixture(t *testing.T) (dir string, planted []string, badChecksum string) {
	t.Helper()
	f, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	gen := func() apikey.Key {
		k, err := f.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	other, _ := apikey.NewFormat("pg_test_")
	otherKey, _ := other.Generate(nil)
	k1, k2, k3, near := gen(), gen(), gen(), gen().Reveal()
	flipLast := near[:len(near)-1] + map[bool]string{true: "B", false: "A"}[near[len(near)-1] == 'A']
	files := map[string][]string{
		"service/config.yml": {"db: postgres", "partner_key: " + k1.Reveal(), "timeout: 3s"},
		"scripts/deploy.sh":  {"#!/bin/sh", "export PG_KEY=\"" + k2.Reveal() + "\"", "curl -H \"x-api-key: " + k3.Reveal() + "\" https://api"},
		"near/misses.txt": {
			"short " + near[:len(near)-1],
			"long " + near + "A",
			"dash " + near[:len(near)-20] + "-" + near[len(near)-19:],
			"glued x" + near,
			"underscore " + near + "_",
			"other " + otherKey.Reveal(),
			"upper " + strings.ToUpper(near[:len(apikey.DefaultPrefix)]) + near[len(apikey.DefaultPrefix):],
			"checksum " + flipLast,
		},
	}
	dir = t.TempDir()
	for rel, lines := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planted = []string{
		"scripts/deploy.sh:2 " + k2.ID(), "scripts/deploy.sh:3 " + k3.ID(), "service/config.yml:2 " + k1.ID(),
	}
	return dir, planted, "near/misses.txt:8 " + flipLast[len(apikey.DefaultPrefix):len(apikey.DefaultPrefix)+apikey.IDLen]
}

func TestGitleaksAgreesWithScan(t *testing.T) {
	bin := gitleaksBin(t)
	dir, planted, badChecksum := fixture(t)

	found, err := keyscan.Scan(context.Background(), mustFormat(t), []string{dir}, keyscan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var scan []string
	for _, f := range found {
		rel, _ := filepath.Rel(dir, f.Path)
		scan = append(scan, rel+":"+strconv.Itoa(f.Line)+" "+f.KeyID)
	}
	slices.Sort(scan)
	if !slices.Equal(scan, planted) {
		t.Errorf("partnergate scan found %v, want the planted %v", scan, planted)
	}

	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(bin, "dir", dir, "--config", "gitleaks.toml", "--report-format", "json",
		"--report-path", report, "--no-banner", "--exit-code", "0", "--log-level", "error")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gitleaks: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var findings []struct {
		RuleID    string
		File      string
		StartLine int
		Secret    string
	}
	if err := json.Unmarshal(b, &findings); err != nil {
		t.Fatalf("gitleaks report: %v", err)
	}
	var leaks []string
	for _, f := range findings {
		if f.RuleID != "partnergate-api-key" {
			continue // gitleaks's own rules, on the near-misses' surroundings
		}
		rel, _ := filepath.Rel(dir, f.File)
		id := f.Secret[len(apikey.DefaultPrefix) : len(apikey.DefaultPrefix)+apikey.IDLen]
		leaks = append(leaks, rel+":"+strconv.Itoa(f.StartLine)+" "+id)
	}
	slices.Sort(leaks)
	want := slices.Sorted(slices.Values(append(slices.Clone(planted), badChecksum)))
	if !slices.Equal(leaks, want) {
		t.Errorf("gitleaks found %v\nwant the planted keys and the wrong-checksum look-alike %v", leaks, want)
	}
}

func mustFormat(t *testing.T) apikey.Format {
	t.Helper()
	f, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTrufflehogRule checks the custom detector's shape and that its
// regex is gitleaks's, so both tools match the same strings.
func TestTrufflehogRule(t *testing.T) {
	b, err := os.ReadFile("trufflehog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Detectors []struct {
			Name     string            `yaml:"name"`
			Keywords []string          `yaml:"keywords"`
			Regex    map[string]string `yaml:"regex"`
		} `yaml:"detectors"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Detectors) != 1 {
		t.Fatalf("%d detectors, want 1", len(doc.Detectors))
	}
	d := doc.Detectors[0]
	if d.Name == "" || !slices.Equal(d.Keywords, []string{apikey.DefaultPrefix}) || len(d.Regex) != 1 {
		t.Fatalf("detector %+v: want a name, keyword %q and one regex", d, apikey.DefaultPrefix)
	}
	toml, err := os.ReadFile("gitleaks.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^regex = '''(.*)'''$`).FindSubmatch(toml)
	if m == nil {
		t.Fatal("gitleaks.toml has no regex line")
	}
	if d.Regex["key"] != string(m[1]) {
		t.Errorf("trufflehog regex %q differs from gitleaks's %q", d.Regex["key"], m[1])
	}
	re := regexp.MustCompile(d.Regex["key"])
	k, _ := mustFormat(t).Generate(nil)
	key := k.Reveal()
	if !re.MatchString("key=" + key + "\n") {
		t.Error("the regex does not match a key")
	}
	for _, miss := range []string{key[:len(key)-1], key + "A", "x" + key, key + "_"} {
		if re.MatchString(miss) {
			t.Errorf("the regex matches the near-miss %q", miss[:len(apikey.DefaultPrefix)+apikey.IDLen])
		}
	}
}
