package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"regexp"
	"unsafe"
)

const (
	// IDLen is the length of the public key id.
	IDLen = 12
	// SecretLen is the length of the secret: 43 base62 characters carry
	// 256 bits (43 × log2 62 ≈ 256.03).
	SecretLen = 43
	// ChecksumLen is the length of the base62 CRC32 checksum; 62^6 > 2^32.
	ChecksumLen = 6
	// MaxLen is the longest input any parser here looks at.
	MaxLen = 255
	// DefaultPrefix is the prefix of a server configured with none.
	DefaultPrefix = "pg_live_"

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Errors returned by [Format.Parse]. Both mean "not a key of ours"; the
// Check edge reports them to callers as one public reason.
var (
	ErrMalformed = errors.New("apikey: malformed key")
	ErrChecksum  = errors.New("apikey: checksum mismatch")
)

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,9}_(?:[a-z0-9]{1,10}_)?$`)

// Format is a key format with a fixed prefix. Its zero value is not usable;
// build one with [NewFormat].
type Format struct {
	prefix string
}

// NewFormat returns the format with the given prefix, such as "pg_live_":
// lower-case letters and digits ending in '_', with at most one inner '_'.
func NewFormat(prefix string) (Format, error) {
	if !prefixPattern.MatchString(prefix) {
		return Format{}, fmt.Errorf("apikey: prefix %q must look like %q: a-z0-9 words ending in '_', at most two words of 10", prefix, DefaultPrefix)
	}
	return Format{prefix: prefix}, nil
}

// Prefix returns the format's prefix.
func (f Format) Prefix() string { return f.prefix }

// Len returns the length of every key of this format.
func (f Format) Len() int { return len(f.prefix) + IDLen + 1 + SecretLen + ChecksumLen }

// Key is a parsed or freshly generated API key. Its zero value is invalid.
type Key struct {
	raw string
	id  string
}

// ID returns the public key id.
func (k Key) ID() string { return k.id }

// Reveal returns the whole key, secret included. Call it only to show a new
// key to its owner once, or to hash it.
func (k Key) Reveal() string { return k.raw }

// String returns a redacted form that is safe to log.
func (k Key) String() string {
	if k.raw == "" {
		return "<invalid key>"
	}
	return k.raw[:len(k.raw)-SecretLen-ChecksumLen] + "<redacted>"
}

// LogValue implements [slog.LogValuer]: keys log redacted.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// GoString keeps %#v from printing the secret.
func (k Key) GoString() string { return "apikey.Key(" + k.String() + ")" }

// Generate returns a new key whose id and secret come from r, which should
// be [crypto/rand.Reader]; nil means that reader.
func (f Format) Generate(r io.Reader) (Key, error) {
	if f.prefix == "" {
		return Key{}, errors.New("apikey: zero Format")
	}
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, 0, f.Len())
	buf = append(buf, f.prefix...)
	var err error
	if buf, err = appendRandom(buf, r, IDLen); err != nil {
		return Key{}, err
	}
	buf = append(buf, '_')
	if buf, err = appendRandom(buf, r, SecretLen); err != nil {
		return Key{}, err
	}
	buf = appendChecksum(buf, crc32.ChecksumIEEE(buf))
	raw := string(buf)
	return Key{raw: raw, id: raw[len(f.prefix) : len(f.prefix)+IDLen]}, nil
}

// appendRandom appends n uniformly random base62 characters read from r,
// rejecting bytes ≥ 248 so that byte % 62 has no bias.
func appendRandom(dst []byte, r io.Reader, n int) ([]byte, error) {
	var b [64]byte
	for n > 0 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("apikey: reading randomness: %w", err)
		}
		for _, c := range b {
			if c >= 248 || n == 0 {
				continue
			}
			dst = append(dst, alphabet[c%62])
			n--
		}
	}
	return dst, nil
}

func appendChecksum(dst []byte, sum uint32) []byte {
	var out [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[sum%62]
		sum /= 62
	}
	return append(dst, out[:]...)
}

// Parse checks that s is a well-formed key of this format with a correct
// checksum. It does not allocate and touches no index: anything it refuses
// is garbage or a typo.
func (f Format) Parse(s string) (Key, error) {
	if f.prefix == "" || len(s) != f.Len() || s[:len(f.prefix)] != f.prefix {
		return Key{}, ErrMalformed
	}
	idEnd := len(f.prefix) + IDLen
	if s[idEnd] != '_' || !isBase62(s[len(f.prefix):idEnd]) || !isBase62(s[idEnd+1:]) {
		return Key{}, ErrMalformed
	}
	body := len(s) - ChecksumLen
	var want [ChecksumLen]byte
	appendChecksum(want[:0], crc32String(s[:body]))
	if string(want[:]) != s[body:] {
		return Key{}, ErrChecksum
	}
	return Key{raw: s, id: s[len(f.prefix):idEnd]}, nil
}

// crc32String returns crc32.ChecksumIEEE([]byte(s)) without the copy:
// the standard function's argument escapes, so the conversion would put
// every parsed key on the heap. The checksum only reads the bytes.
func crc32String(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// ValidID reports whether id has the shape of a public key id.
func ValidID(id string) bool { return len(id) == IDLen && isBase62(id) }

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base62[s[i]] {
			return false
		}
	}
	return true
}

// base62 holds the bytes of the base-62 alphabet: a table look-up per
// byte, without the branches of three range tests.
var base62 = func() (t [256]bool) {
	for c := range t {
		t[c] = '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
	}
	return t
}()

// MinTokenBits is the least entropy a hand-set token may have: 128 bits
// (NIST SP 800-63B §5.1.1.2 asks at least 112 of a secret hashed with a
// fast function; a generated token has 256).
const MinTokenBits = 128

// Strength estimates a token's entropy in bits by a simple rule: its
// length times log2 of the alphabet its character classes span (lower
// case 26, upper case 26, digits 10, anything else 33). It overestimates a
// chosen password, so it only refuses what is certainly too weak.
func Strength(token string) float64 {
	var lower, upper, digit, other bool
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case 'a' <= c && c <= 'z':
			lower = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case '0' <= c && c <= '9':
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, c := range []struct {
		set  bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.set {
			n += c.size
		}
	}
	if n == 0 {
		return 0
	}
	return float64(len(token)) * math.Log2(float64(n))
}
