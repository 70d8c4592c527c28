package detectors

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/keyscan"
)

// benchTree writes a tree of about mib MiB of source-like text in 1 MiB
// files, with a few real keys planted, and returns its root and size.
func benchTree(b *testing.B, mib int) (string, int64) {
	b.Helper()
	dir := b.TempDir()
	f := mustFormatB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	const words = "func return if else for range var const type struct package import string int error nil true false config key token value name id user pg_live pg_test"
	ws := strings.Fields(words)
	var total int64
	for i := range mib {
		var buf bytes.Buffer
		for buf.Len() < 1<<20 {
			n := 4 + rng.IntN(12)
			for j := range n {
				if j > 0 {
					buf.WriteByte(' ')
				}
				buf.WriteString(ws[rng.IntN(len(ws))])
			}
			buf.WriteByte('\n')
		}
		if i%(max(1, mib/5)) == 0 { // a few keys, spread out
			k, err := f.Generate(nil)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&buf, "api_key = %q\n", k.Reveal())
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i/64), fmt.Sprintf("f%05d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(buf.Len())
	}
	return dir, total
}

func mustFormatB(b *testing.B) apikey.Format {
	b.Helper()
	f, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkScanTree scans one generated tree with partnergate scan's
// engine and with gitleaks (the partnergate rule alone, so both look for
// the same thing), and reports each one's throughput. The tree is 64 MiB,
// or PARTNERGATE_SCAN_BENCH_MIB.
func BenchmarkScanTree(b *testing.B) {
	mib := 64
	if v := os.Getenv("PARTNERGATE_SCAN_BENCH_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PARTNERGATE_SCAN_BENCH_MIB=%q: want a positive number", v)
		}
		mib = n
	}
	dir, size := benchTree(b, mib)
	want := (mib + max(1, mib/5) - 1) / max(1, mib/5)

	b.Run("partnergate-scan", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			found, err := keyscan.Scan(context.Background(), mustFormatB(b), []string{dir}, keyscan.Options{})
			if err != nil || len(found) != want {
				b.Fatalf("found %d keys (%v), want %d", len(found), err, want)
			}
		}
	})
	b.Run("gitleaks", func(b *testing.B) {
		bin := os.Getenv("PARTNERGATE_GITLEAKS_BIN")
		if bin == "" {
			b.Skip("PARTNERGATE_GITLEAKS_BIN is unset")
		}
		// The partnergate rule alone: gitleaks's default rules would make
		// it look for much more than scan does.
		rule, err := os.ReadFile("gitleaks.toml")
		if err != nil {
			b.Fatal(err)
		}
		only := strings.Replace(string(rule), "useDefault = true", "useDefault = false", 1)
		cfg := filepath.Join(b.TempDir(), "only.toml")
		if err := os.WriteFile(cfg, []byte(only), 0o644); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			cmd := exec.Command(bin, "dir", dir, "--config", cfg, "--no-banner", "--exit-code", "0",
				"--log-level", "error", "--report-format", "json", "--report-path", filepath.Join(b.TempDir(), "r.json"))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("gitleaks: %v\n%s", err, out)
			}
		}
	})
}
