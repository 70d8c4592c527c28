// Test strategy: the key format is the first thing untrusted input meets,
// so the tests pin it from both sides. Generation: round trip through
// Parse, fixed length, prefix and alphabet, unique ids, and a rejection
// sampler that is exactly uniform when fed every byte value and
// statistically flat over many real keys. Parsing: one table row per way a
// string can fail to be a key, asserting which of ErrMalformed and
// ErrChecksum it returns, plus a fuzz target that checks Parse never panics
// and accepts only what it would itself produce. Redaction: every printed
// form of a Key (String, GoString, LogValue, fmt verbs, slog JSON) is
// searched for any piece of the secret. Hashing: digests verify only under
// the right key and pepper, and an unknown pepper version is an error, not
// a silent false.
package apikey

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// counterReader yields 0, 1, …, 255, 0, 1, … forever: every byte value
// equally often, so a sampler fed from it must come out exactly uniform.
type counterReader struct{ next byte }

func (r *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func mustFormat(t testing.TB, prefix string) Format {
	t.Helper()
	f, err := NewFormat(prefix)
	if err != nil {
		t.Fatalf("NewFormat(%q): %v", prefix, err)
	}
	return f
}

func mustGenerateKey(t testing.TB, f Format, r io.Reader) Key {
	t.Helper()
	k, err := f.Generate(r)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

// secretOf returns the secret part of a raw key of format f.
func secretOf(f Format, raw string) string {
	start := len(f.Prefix()) + IDLen + 1
	return raw[start : start+SecretLen]
}

// withChecksum returns body followed by its correct checksum, so that a
// table row can build a string that fails only for the reason it names.
func withChecksum(body string) string {
	return string(appendChecksum([]byte(body), crc32.ChecksumIEEE([]byte(body))))
}

// replaceAt returns s with the byte at i replaced by c.
func replaceAt(s string, i int, c byte) string {
	b := []byte(s)
	b[i] = c
	return string(b)
}

// flipAt returns s with the base62 character at i replaced by another
// base62 character.
func flipAt(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return replaceAt(s, i, c)
}

// swapAt returns s with the bytes at i and i+1 exchanged.
func swapAt(s string, i int) string {
	b := []byte(s)
	b[i], b[i+1] = b[i+1], b[i]
	return string(b)
}

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, prefix := range []string{DefaultPrefix, "pg_test_", "acme_", "a_b_", "abcdefghij_0123456789_"} {
		t.Run(strings.Trim(prefix, "_"), func(t *testing.T) {
			f := mustFormat(t, prefix)
			k := mustGenerateKey(t, f, nil)
			got, err := f.Parse(k.Reveal())
			if err != nil {
				t.Fatalf("Parse(Generate()) = %v", err)
			}
			if diff := cmp.Diff(k, got, cmp.AllowUnexported(Key{})); diff != "" {
				t.Errorf("Parse(Generate()) differs (-generated +parsed):\n%s", diff)
			}
			if got.ID() != k.Reveal()[len(prefix):len(prefix)+IDLen] {
				t.Errorf("ID() = %q, not the id part of the key", got.ID())
			}
		})
	}
}

func TestGeneratedKeyShape(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	const n = 1000
	ids := make(map[string]bool, n)
	for range n {
		k := mustGenerateKey(t, f, nil)
		raw := k.Reveal()
		if len(raw) != f.Len() || len(raw) != len(DefaultPrefix)+IDLen+1+SecretLen+ChecksumLen {
			t.Fatalf("len(%q) = %d, want %d", raw, len(raw), f.Len())
		}
		if len(raw) > MaxLen {
			t.Fatalf("key is %d characters, over MaxLen %d", len(raw), MaxLen)
		}
		if !strings.HasPrefix(raw, DefaultPrefix) {
			t.Fatalf("key %q lacks prefix %q", raw, DefaultPrefix)
		}
		rest := raw[len(DefaultPrefix):]
		if rest[IDLen] != '_' {
			t.Fatalf("key %q: no '_' after the id", raw)
		}
		if !isBase62(rest[:IDLen]) || !isBase62(rest[IDLen+1:]) {
			t.Fatalf("key %q: id, secret or checksum outside base62", raw)
		}
		if !ValidID(k.ID()) {
			t.Fatalf("ValidID(%q) = false for a generated id", k.ID())
		}
		if ids[k.ID()] {
			t.Fatalf("id %q generated twice in %d keys", k.ID(), n)
		}
		ids[k.ID()] = true
	}
}

// TestRejectionSamplerExactlyUniform feeds appendRandom every byte value
// equally often: with bytes ≥ 248 rejected, each of the 62 characters must
// come out exactly as often as every other. Without the rejection, '0'-'7'
// would come out 5 times per 256 bytes and the rest 4.
func TestRejectionSamplerExactlyUniform(t *testing.T) {
	// 40 reads of 64 bytes cover 10 full cycles of 256 byte values, which
	// yield 10 × 248 accepted characters.
	const cycles = 10
	out, err := appendRandom(nil, &counterReader{}, cycles*248)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[byte]int{}
	for _, c := range out {
		counts[c]++
	}
	if len(counts) != len(alphabet) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(alphabet))
	}
	for _, c := range []byte(alphabet) {
		if counts[c] != cycles*4 {
			t.Errorf("character %q came out %d times, want %d", c, counts[c], cycles*4)
		}
	}
}

// TestSecretEntropy checks the distribution of secret characters over many
// real keys with a chi-squared test. The bound is very loose: for 61
// degrees of freedom the statistic's mean is 61 and its standard deviation
// about 11, so 250 is some 17 deviations out and never flakes, while a
// modulo bias (8 characters 25% more likely) scores in the thousands here.
func TestSecretEntropy(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	const keys = 3000
	counts := make(map[rune]int, len(alphabet))
	total := 0
	for range keys {
		k := mustGenerateKey(t, f, nil)
		for _, c := range secretOf(f, k.Reveal()) {
			counts[c]++
			total++
		}
	}
	want := float64(total) / float64(len(alphabet))
	var chi2 float64
	for _, c := range alphabet {
		d := float64(counts[c]) - want
		chi2 += d * d / want
	}
	if chi2 > 250 || math.IsNaN(chi2) {
		t.Errorf("chi-squared over %d secret characters = %.1f, want < 250 (expected about 61)", total, chi2)
	}
}

func TestParseRejects(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	k := mustGenerateKey(t, f, &counterReader{})
	good := k.Reveal()
	p := len(DefaultPrefix)
	idEnd := p + IDLen                  // index of the '_' after the id
	sumStart := len(good) - ChecksumLen // first checksum character
	// Find adjacent, different characters inside the secret to swap.
	swapSecret := -1
	for i := idEnd + 1; i < sumStart-1; i++ {
		if good[i] != good[i+1] {
			swapSecret = i
			break
		}
	}
	if swapSecret < 0 {
		t.Fatal("test key has no two different adjacent secret characters")
	}
	body := good[:sumStart]

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"prefix-only", DefaultPrefix, ErrMalformed},
		{"wrong-prefix", "xx_live_" + good[p:], ErrMalformed},
		{"other-env-prefix", "pg_test_" + good[p:], ErrMalformed},
		{"other-env-prefix-valid-checksum", withChecksum("pg_test_" + body[p:]), ErrMalformed},
		{"upper-case-prefix", strings.ToUpper(DefaultPrefix) + good[p:], ErrMalformed},
		{"no-prefix", good[p:], ErrMalformed},
		{"too-short-by-one", good[:len(good)-1], ErrMalformed},
		{"too-long-by-one", good + "A", ErrMalformed},
		{"too-long-valid-checksum", withChecksum(body + "A"), ErrMalformed},
		{"over-max-len", good + strings.Repeat("A", MaxLen), ErrMalformed},
		{"exactly-256", DefaultPrefix + strings.Repeat("A", 256-p), ErrMalformed},
		{"missing-underscore", withChecksum(body[:idEnd] + body[idEnd+1:]), ErrMalformed},
		{"underscore-replaced", replaceAt(good, idEnd, 'A'), ErrMalformed},
		{"underscore-moved", withChecksum(swapAt(body, idEnd-1)), ErrMalformed},
		{"dash-in-id", withChecksum(replaceAt(body, p+3, '-')), ErrMalformed},
		{"underscore-in-secret", withChecksum(replaceAt(body, idEnd+5, '_')), ErrMalformed},
		{"plus-in-secret", withChecksum(replaceAt(body, idEnd+5, '+')), ErrMalformed},
		{"space-in-secret", replaceAt(good, idEnd+5, ' '), ErrMalformed},
		{"nul-in-secret", replaceAt(good, idEnd+5, 0), ErrMalformed},
		{"non-ascii-in-checksum", replaceAt(good, sumStart, 0xc3), ErrMalformed},
		{"dot-in-checksum", replaceAt(good, len(good)-1, '.'), ErrMalformed},
		{"trailing-newline", good[:len(good)-1] + "\n", ErrMalformed},
		{"leading-space", " " + good[:len(good)-1], ErrMalformed},
		{"flipped-id-first", flipAt(good, p), ErrChecksum},
		{"flipped-id-last", flipAt(good, idEnd-1), ErrChecksum},
		{"flipped-secret-first", flipAt(good, idEnd+1), ErrChecksum},
		{"flipped-secret-middle", flipAt(good, idEnd+1+SecretLen/2), ErrChecksum},
		{"flipped-secret-last", flipAt(good, sumStart-1), ErrChecksum},
		{"flipped-checksum-first", flipAt(good, sumStart), ErrChecksum},
		{"flipped-checksum-last", flipAt(good, len(good)-1), ErrChecksum},
		{"case-flipped-secret", replaceAt(good, swapSecret, toggleCase(good[swapSecret])), ErrChecksum},
		{"swapped-adjacent-secret", swapAt(good, swapSecret), ErrChecksum},
		{"swapped-checksum", swapAt(good, firstDiffPair(t, good, sumStart, len(good))), ErrChecksum},
		{"swapped-id", swapAt(good, firstDiffPair(t, good, p, idEnd)), ErrChecksum},
		{"checksum-over-32-bits", good[:sumStart] + "zzzzzz", ErrChecksum},
		{"checksum-all-zero", good[:sumStart] + "000000", ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("bad test: input is the valid key")
			}
			got, err := f.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
			other := ErrChecksum
			if tt.want == ErrChecksum {
				other = ErrMalformed
			}
			if !errors.Is(err, tt.want) || errors.Is(err, other) {
				t.Errorf("Parse(%q) error = %v, want exactly %v", tt.in, err, tt.want)
			}
			if got != (Key{}) {
				t.Errorf("Parse(%q) returned a non-zero key with its error: %v", tt.in, got)
			}
		})
	}
	t.Run("control-valid-key", func(t *testing.T) {
		if _, err := f.Parse(good); err != nil {
			t.Fatalf("Parse(valid) = %v", err)
		}
	})
}

func toggleCase(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return c - 'a' + 'A'
	case 'A' <= c && c <= 'Z':
		return c - 'A' + 'a'
	case c == '9':
		return '8'
	}
	return c + 1
}

// firstDiffPair returns the first i in [from, to-1) with s[i] != s[i+1].
func firstDiffPair(t *testing.T, s string, from, to int) int {
	t.Helper()
	for i := from; i < to-1; i++ {
		if s[i] != s[i+1] {
			return i
		}
	}
	t.Fatalf("no two different adjacent characters in %q", s[from:to])
	return 0
}

func TestZeroFormat(t *testing.T) {
	var f Format
	if _, err := f.Generate(nil); err == nil {
		t.Error("zero Format generated a key")
	}
	k := mustGenerateKey(t, mustFormat(t, DefaultPrefix), nil)
	if _, err := f.Parse(k.Reveal()); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero Format Parse = %v, want %v", err, ErrMalformed)
	}
	if _, err := f.Parse(""); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero Format Parse(\"\") = %v, want %v", err, ErrMalformed)
	}
}

var errBoom = errors.New("entropy source failed")

func TestGenerateFailingReader(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"error-at-once", iotest.ErrReader(errBoom), errBoom},
		{"error-after-id", io.MultiReader(io.LimitReader(&counterReader{}, 64), iotest.ErrReader(errBoom)), errBoom},
		{"short-then-eof", io.LimitReader(&counterReader{}, 10), io.ErrUnexpectedEOF},
		{"empty", strings.NewReader(""), io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.Generate(tt.r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Generate error = %v, want %v", err, tt.want)
			}
			if k != (Key{}) {
				t.Errorf("Generate returned key %v with its error", k)
			}
		})
	}
}

// TestKeyNeverPrintsSecret formats a key every way code might log it and
// checks that no 8-character run of its secret appears.
func TestKeyNeverPrintsSecret(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	k := mustGenerateKey(t, f, nil)
	secret := secretOf(f, k.Reveal())
	checksum := k.Reveal()[f.Len()-ChecksumLen:]

	var jsonBuf, textBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonBuf, nil)).Info("issued", "key", k, slog.Group("g", "ptr", &k), slog.Any("any", k))
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("issued", "key", k)

	forms := []struct {
		name string
		out  string
	}{
		{"string", k.String()},
		{"go-string", k.GoString()},
		{"log-value", k.LogValue().String()},
		{"fmt-v", fmt.Sprintf("%v", k)},
		{"fmt-plus-v", fmt.Sprintf("%+v", k)},
		{"fmt-sharp-v", fmt.Sprintf("%#v", k)},
		//lint:ignore S1025 the row tests fmt's %s verb, not Key.String
		{"fmt-s", fmt.Sprintf("%s", k)},
		{"fmt-q", fmt.Sprintf("%q", k)},
		{"fmt-v-pointer", fmt.Sprintf("%v", &k)},
		{"fmt-sharp-v-pointer", fmt.Sprintf("%#v", &k)},
		{"fmt-in-struct", fmt.Sprintf("%+v", struct{ K Key }{k})},
		{"fmt-sharp-in-struct", fmt.Sprintf("%#v", struct{ K Key }{k})},
		{"fmt-in-slice", fmt.Sprintf("%v", []Key{k})},
		{"error-wrap", fmt.Errorf("bad key %v", k).Error()},
		{"slog-json", jsonBuf.String()},
		{"slog-text", textBuf.String()},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			for i := 0; i+8 <= len(secret); i++ {
				if strings.Contains(form.out, secret[i:i+8]) {
					t.Fatalf("output contains secret characters %q: %s", secret[i:i+8], form.out)
				}
			}
			if strings.Contains(form.out, checksum) {
				t.Errorf("output contains the checksum: %s", form.out)
			}
			if !strings.Contains(form.out, k.ID()) {
				t.Errorf("output lacks the key id %q that makes it useful: %s", k.ID(), form.out)
			}
		})
	}
	t.Run("zero-key", func(t *testing.T) {
		if got := (Key{}).String(); got != "<invalid key>" {
			t.Errorf("Key{}.String() = %q", got)
		}
	})
}

func TestNewFormat(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		ok     bool
	}{
		{"default", DefaultPrefix, true},
		{"one-word", "acme_", true},
		{"one-letter", "a_", true},
		{"digits-after-letter", "a1_", true},
		{"two-words", "pg_test_", true},
		{"longest-words", "abcdefghij_0123456789_", true},
		{"second-word-digits", "pg_2024_", true},
		{"empty", "", false},
		{"no-trailing-underscore", "pg_live", false},
		{"underscore-only", "_", false},
		{"leading-underscore", "_pg_", false},
		{"leading-digit", "1pg_", false},
		{"upper-case", "PG_LIVE_", false},
		{"dash", "pg-live_", false},
		{"three-words", "pg_live_eu_", false},
		{"double-underscore", "pg__", false},
		{"first-word-too-long", "abcdefghijk_", false},
		{"second-word-too-long", "pg_abcdefghijk_", false},
		{"space", "pg live_", false},
		{"newline-after", "pg_\n", false},
		{"non-ascii", "pé_", false},
		{"base62-upper-inside", "pgA_", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFormat(tt.prefix)
			if (err == nil) != tt.ok {
				t.Fatalf("NewFormat(%q) error = %v, want ok=%v", tt.prefix, err, tt.ok)
			}
			if tt.ok {
				if f.Prefix() != tt.prefix {
					t.Errorf("Prefix() = %q, want %q", f.Prefix(), tt.prefix)
				}
				if f.Len() > MaxLen {
					t.Errorf("Len() = %d, over MaxLen", f.Len())
				}
			}
		})
	}
}

func pepper(b byte) []byte { return bytes.Repeat([]byte{b}, MinPepperLen) }

func mustHasher(t testing.TB, current int, peppers map[int][]byte) *Hasher {
	t.Helper()
	h, err := NewHasher(current, peppers)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHasher(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	k := mustGenerateKey(t, f, nil)
	other := mustGenerateKey(t, f, nil)
	h1 := mustHasher(t, 1, map[int][]byte{1: pepper(1), 2: pepper(2)})
	h2 := mustHasher(t, 2, map[int][]byte{1: pepper(1), 2: pepper(2)})

	d1, v1 := h1.Digest(k)
	d2, v2 := h2.Digest(k)
	if v1 != 1 || v2 != 2 {
		t.Fatalf("Digest versions = %d, %d; want 1, 2", v1, v2)
	}
	if len(d1) != 32 {
		t.Fatalf("digest is %d bytes, want 32", len(d1))
	}
	if bytes.Equal(d1, d2) {
		t.Fatal("digests under different peppers are equal")
	}
	if again, _ := h1.Digest(k); !bytes.Equal(again, d1) {
		t.Fatal("Digest is not deterministic")
	}

	tests := []struct {
		name    string
		h       *Hasher
		key     Key
		digest  []byte
		version int
		want    bool
		wantErr error
	}{
		{"round-trip", h1, k, d1, 1, true, nil},
		{"round-trip-other-hasher", h2, k, d1, 1, true, nil},
		{"old-pepper-version", h2, k, d1, 1, true, nil},
		{"current-pepper-version", h1, k, d2, 2, true, nil},
		{"wrong-key", h1, other, d1, 1, false, nil},
		{"digest-under-other-version", h1, k, d1, 2, false, nil},
		{"truncated-digest", h1, k, d1[:31], 1, false, nil},
		{"empty-digest", h1, k, nil, 1, false, nil},
		{"flipped-bit", h1, k, append(append([]byte(nil), d1[:31]...), d1[31]^1), 1, false, nil},
		{"unknown-pepper", h1, k, d1, 3, false, ErrUnknownPepper},
		{"version-zero", h1, k, d1, 0, false, ErrUnknownPepper},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := tt.h.Verify(tt.key, tt.digest, tt.version)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if ok != tt.want {
				t.Errorf("Verify = %v, want %v", ok, tt.want)
			}
		})
	}

	t.Run("pepper-copied", func(t *testing.T) {
		p := pepper(7)
		h := mustHasher(t, 1, map[int][]byte{1: p})
		before, _ := h.Digest(k)
		p[0] ^= 0xff
		after, _ := h.Digest(k)
		if !bytes.Equal(before, after) {
			t.Error("changing the caller's pepper slice changed the Hasher")
		}
	})
}

func TestNewHasherRefuses(t *testing.T) {
	tests := []struct {
		name    string
		current int
		peppers map[int][]byte
	}{
		{"no-peppers", 1, nil},
		{"current-missing", 2, map[int][]byte{1: pepper(1)}},
		{"short-current", 1, map[int][]byte{1: pepper(1)[:MinPepperLen-1]}},
		{"short-old", 2, map[int][]byte{1: []byte("short"), 2: pepper(2)}},
		{"empty-pepper", 1, map[int][]byte{1: {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := NewHasher(tt.current, tt.peppers); err == nil {
				t.Errorf("NewHasher accepted %v: %v", tt.peppers, h)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	f := mustFormat(t, DefaultPrefix)
	raw := mustGenerateKey(t, f, nil).Reveal()
	if n := testing.AllocsPerRun(100, func() { _, _ = f.Parse(raw) }); n != 0 {
		t.Errorf("Parse allocates %.0f times per call; its doc promises none", n)
	}
}

func FuzzParse(f *testing.F) {
	format := mustFormat(f, DefaultPrefix)
	k := mustGenerateKey(f, format, &counterReader{})
	good := k.Reveal()
	sumStart := len(good) - ChecksumLen
	// A valid key: the one input that must be accepted.
	f.Add(good)
	// The same key with one checksum character changed: right shape,
	// wrong CRC.
	f.Add(flipAt(good, sumStart))
	// A valid checksum over a body with a non-base62 byte: the alphabet
	// check must come before trusting the CRC.
	f.Add(withChecksum(replaceAt(good[:sumStart], len(DefaultPrefix)+2, '-')))
	// Empty input and the bare prefix: length checks before slicing.
	f.Add("")
	f.Add(DefaultPrefix)
	// Right length, wrong prefix: the prefix comparison must not index
	// past a short string.
	f.Add(strings.Repeat("x", format.Len()))
	// Right length, no '_' after the id.
	f.Add(replaceAt(good, len(DefaultPrefix)+IDLen, 'Q'))
	// Multi-byte UTF-8 of the right byte length.
	f.Add(DefaultPrefix + strings.Repeat("é", (format.Len()-len(DefaultPrefix))/2))
	// MaxLen and one more: the documented upper bound.
	f.Add(strings.Repeat("A", MaxLen))
	f.Add(strings.Repeat("A", MaxLen+1))
	// Another environment's key: valid shape, other prefix.
	f.Add(withChecksum("pg_test_" + good[len(DefaultPrefix):sumStart]))
	// A checksum that decodes above 2^32.
	f.Add(good[:sumStart] + "zzzzzz")

	f.Fuzz(func(t *testing.T, s string) {
		if got, want := crc32String(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Fatalf("crc32String(%q) = %#x, crc32.ChecksumIEEE = %#x", s, got, want)
		}
		k, err := format.Parse(s)
		if err != nil {
			if errors.Is(err, ErrMalformed) == errors.Is(err, ErrChecksum) {
				t.Fatalf("Parse(%q) error %v is not exactly one of ErrMalformed, ErrChecksum", s, err)
			}
			if k != (Key{}) {
				t.Fatalf("Parse(%q) returned key %v with error", s, k)
			}
			return
		}
		if k.Reveal() != s {
			t.Fatalf("Parse(%q).Reveal() = %q", s, k.Reveal())
		}
		if len(s) > MaxLen || len(s) != format.Len() || !strings.HasPrefix(s, DefaultPrefix) {
			t.Fatalf("Parse accepted %q of length %d", s, len(s))
		}
		if !ValidID(k.ID()) || k.ID() != s[len(DefaultPrefix):len(DefaultPrefix)+IDLen] {
			t.Fatalf("Parse(%q).ID() = %q, not a valid id from the key", s, k.ID())
		}
		if re := withChecksum(s[:len(s)-ChecksumLen]); re != s {
			t.Fatalf("accepted %q re-encodes as %q", s, re)
		}
		if strings.Contains(k.String(), secretOf(format, s)) {
			t.Fatalf("String() of accepted key shows its secret: %s", k)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	f := mustFormat(b, DefaultPrefix)
	raw := mustGenerateKey(b, f, rand.Reader).Reveal()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Parse(raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	f := mustFormat(b, DefaultPrefix)
	k := mustGenerateKey(b, f, rand.Reader)
	h := mustHasher(b, 1, map[int][]byte{1: pepper(1)})
	d, v := h.Digest(k)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := h.Verify(k, d, v); !ok || err != nil {
				b.Errorf("Verify = %v, %v", ok, err)
				return
			}
		}
	})
}

func TestFingerprint(t *testing.T) {
	a := bytes.Repeat([]byte{1}, MinPepperLen)
	b := bytes.Repeat([]byte{2}, MinPepperLen)
	fa := Fingerprint(a)
	tests := []struct {
		name string
		ok   bool
	}{
		{"stable", Fingerprint(a) == fa},
		{"differs-by-pepper", Fingerprint(b) != fa},
		{"sha256-hex", len(fa) == 64},
		{"not-the-pepper", !strings.Contains(fa, hex.EncodeToString(a)) && !strings.Contains(fa, hex.EncodeToString(a[:8]))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("Fingerprint = %s", fa)
			}
		})
	}
}
