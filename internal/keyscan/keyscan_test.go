package keyscan_test

// Test strategy: keyscan decides what `partnergate scan` reports as a
// leaked key, and what the shipped gitleaks and trufflehog rules must
// agree with. Every planted key is a real generated key; every near-miss
// differs from one in a single way (length, alphabet, checksum, prefix, a
// word character next to it), and must not be reported. Long lines are
// scanned across the reader's buffer boundary at every offset near it.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/keyscan"
)

func format(t *testing.T) apikey.Format {
	t.Helper()
	f, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func key(t *testing.T, f apikey.Format) apikey.Key {
	t.Helper()
	k, err := f.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NearMisses returns strings that each differ from a key of f in one way
// that makes it not a key.
func nearMisses(t *testing.T, f apikey.Format) map[string]string {
	t.Helper()
	k := key(t, f).Reveal()
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	other, _ := apikey.NewFormat("pg_test_")
	return map[string]string{
		"one-char-short":       k[:len(k)-1],
		"one-char-long":        k + "A",
		"bad-checksum":         flip(k, len(k)-1),
		"secret-changed":       flip(k, len(k)-10),
		"dash-in-secret":       k[:len(k)-20] + "-" + k[len(k)-19:],
		"other-prefix":         key(t, other).Reveal(),
		"word-char-before":     "x" + k,
		"underscore-after":     k + "_",
		"upper-case-prefix":    strings.ToUpper(k[:len(apikey.DefaultPrefix)]) + k[len(apikey.DefaultPrefix):],
		"id-separator-missing": k[:len(apikey.DefaultPrefix)+apikey.IDLen] + "A" + k[len(apikey.DefaultPrefix)+apikey.IDLen+1:],
	}
}

func scanString(t *testing.T, f apikey.Format, s string) []string {
	t.Helper()
	var got []string
	if err := keyscan.ScanReader(f, strings.NewReader(s), func(line int, id string) {
		got = append(got, id)
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestNearMissesAreNotKeys(t *testing.T) {
	f := format(t)
	for name, s := range nearMisses(t, f) {
		t.Run(name, func(t *testing.T) {
			for _, ctx := range []string{"%s", "token: %s\n", `"%s"`, "a %s b"} {
				if got := scanString(t, f, strings.Replace(ctx, "%s", s, 1)); len(got) != 0 {
					t.Errorf("%q: found %v", ctx, got)
				}
			}
		})
	}
}

func TestPlantedKeysAreFound(t *testing.T) {
	f := format(t)
	k := key(t, f)
	tests := []struct {
		name, text string
		line       int
	}{
		{"alone", k.Reveal(), 1},
		{"yaml", "a: 1\napi_key: " + k.Reveal() + "\n", 2},
		{"quoted", `{"key":"` + k.Reveal() + `"}`, 1},
		{"env", "\n\nPG_KEY=" + k.Reveal(), 3},
		{"crlf", "x\r\n" + k.Reveal() + "\r\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var lines []int
			var ids []string
			if err := keyscan.ScanReader(f, strings.NewReader(tc.text), func(line int, id string) {
				lines, ids = append(lines, line), append(ids, id)
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, []string{k.ID()}) || !slices.Equal(lines, []int{tc.line}) {
				t.Errorf("found %v on lines %v, want %s on line %d", ids, lines, k.ID(), tc.line)
			}
		})
	}
}

// TestLongLines puts a key at every offset around the reader's 64 KiB
// buffer boundary, and near-misses there too.
func TestLongLines(t *testing.T) {
	f := format(t)
	k := key(t, f)
	const buf = 64 << 10
	for off := buf - f.Len() - 3; off <= buf+3; off++ {
		text := strings.Repeat(" ", off) + k.Reveal() + strings.Repeat(" ", 100) + "\nnext " + k.Reveal() + "\n"
		var lines []int
		if err := keyscan.ScanReader(f, strings.NewReader(text), func(line int, id string) { lines = append(lines, line) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lines, []int{1, 2}) {
			t.Fatalf("offset %d: found on lines %v, want [1 2]", off, lines)
		}
		long := strings.Repeat("a", off) + k.Reveal() + "A\n" // one char long, across the boundary
		if got := scanString(t, f, long); len(got) != 0 {
			t.Fatalf("offset %d: a key one character long was found", off)
		}
		glued := strings.Repeat("a", off) + k.Reveal() + "\n" // a word character before
		if got := scanString(t, f, glued); len(got) != 0 {
			t.Fatalf("offset %d: a key glued to a word was found", off)
		}
	}
}

func TestScanTree(t *testing.T) {
	f := format(t)
	dir := t.TempDir()
	a, b, inGit, inBinary := key(t, f), key(t, f), key(t, f), key(t, f)
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app/config.yml", "db: x\nkey: "+a.Reveal()+"\n")
	write("deep/er/notes.md", "# notes\n\n\n"+b.Reveal()+" and "+nearMisses(t, f)["bad-checksum"]+"\n")
	write(".git/objects/ab/cdef", inGit.Reveal())
	write("image.bin", "\x89PNG\x00\x00"+inBinary.Reveal())
	var skipped []string
	got, err := keyscan.Scan(context.Background(), f, []string{dir, "-"}, keyscan.Options{
		Workers: 2,
		Stdin:   strings.NewReader("from stdin " + a.Reveal()),
		Skipped: func(p, _ string) { skipped = append(skipped, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []keyscan.Finding{
		{Path: "-", Line: 1, KeyID: a.ID(), Key: a},
		{Path: filepath.Join(dir, "app/config.yml"), Line: 2, KeyID: a.ID(), Key: a},
		{Path: filepath.Join(dir, "deep/er/notes.md"), Line: 4, KeyID: b.ID(), Key: b},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Scan = %v\nwant %v", got, want)
	}
	if !slices.Equal(skipped, []string{filepath.Join(dir, "image.bin")}) {
		t.Errorf("skipped %v, want the binary file", skipped)
	}
	if _, err := keyscan.Scan(context.Background(), f, []string{filepath.Join(dir, "missing")}, keyscan.Options{}); err == nil {
		t.Error("a missing path is no error")
	}
}
