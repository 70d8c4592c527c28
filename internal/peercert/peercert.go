package peercert

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/partnergate/partnergate/internal/assoc"
)

// MaxEncodedLen bounds the forwarded text before anything is parsed: a
// leaf certificate's URL-encoded PEM is a few KiB.
const MaxEncodedLen = 16 << 10

// ErrMalformed reports forwarded text that is not one URL-encoded PEM
// CERTIFICATE block holding an X.509 certificate.
var ErrMalformed = errors.New("peercert: malformed peer certificate")

// Cert is what a client certificate says, as partnergate uses it. Treat it
// as read-only: a [Reader] shares it between requests.
type Cert struct {
	// Thumbprint is the base64url (unpadded) SHA-256 of the DER: the
	// x5t#S256 confirmation of a certificate-bound token (RFC 8705 §3.1).
	Thumbprint string
	// Fingerprint is the same SHA-256 in lower-case hex, as operators and
	// openssl x509 -fingerprint -sha256 (without colons) show it.
	Fingerprint string
	// URIs are the certificate's URI subject alternative names (a SPIFFE
	// ID is one).
	URIs []string
	// DNSNames are its DNS subject alternative names.
	DNSNames []string
}

// Parse reads encoded, the URL-encoded PEM Envoy forwards, without a cache.
// Envoy encodes with its URL escaping, so "+" in the base64 may arrive
// literally: it is read as "+", never as a space.
func Parse(encoded string) (*Cert, error) {
	if encoded == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(encoded) > MaxEncodedLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(encoded))
	}
	raw, err := url.PathUnescape(encoded) // not QueryUnescape: "+" is base64, not a space
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	block, rest := pem.Decode([]byte(raw))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrMalformed)
	}
	if next, _ := pem.Decode(rest); next != nil {
		// Envoy forwards the leaf alone (the chain is another attribute):
		// two blocks are not what it sends, and which one counts would be
		// a guess.
		return nil, fmt.Errorf("%w: more than one PEM block", ErrMalformed)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	sum := sha256.Sum256(c.Raw)
	out := &Cert{
		Thumbprint:  base64.RawURLEncoding.EncodeToString(sum[:]),
		Fingerprint: hex.EncodeToString(sum[:]),
		DNSNames:    c.DNSNames,
	}
	for _, u := range c.URIs {
		out.URIs = append(out.URIs, u.String())
	}
	return out, nil
}

// Options tunes a [Reader]. The zero value is usable.
type Options struct {
	// CacheSize is how many distinct forwarded certificates are
	// remembered; zero means 1024.
	CacheSize int
}

// Reader is [Parse] with a bounded cache keyed on the forwarded text, so
// each distinct certificate is parsed once while it stays in the cache.
// Unreadable text is remembered too, so a client that repeats a broken
// certificate does not cost a parse per request either.
type Reader struct {
	table *assoc.Table[entry]
}

// entry is immutable once stored.
type entry struct {
	encoded string
	cert    *Cert
	err     error
}

// NewReader returns a Reader.
func NewReader(opts Options) *Reader {
	size := opts.CacheSize
	if size <= 0 {
		size = 1024
	}
	return &Reader{table: assoc.New(size, func(e *entry) string { return e.encoded })}
}

// Read returns the certificate in encoded, or an error wrapping
// [ErrMalformed]. An empty encoded means no certificate: nil, nil.
func (r *Reader) Read(encoded string) (*Cert, error) {
	if encoded == "" {
		return nil, nil
	}
	if len(encoded) > MaxEncodedLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(encoded))
	}
	if e, ok := r.table.Find(encoded, nil); ok {
		return e.cert, e.err
	}
	c, err := Parse(encoded)
	// The key is a copy: encoded may point into a request buffer that is
	// reused once the request is done.
	r.table.Store(&entry{encoded: strings.Clone(encoded), cert: c, err: err})
	return c, err
}

// Encode returns pemText URL-encoded as Envoy forwards it in
// source.certificate: every byte but the unreserved characters of RFC 3986
// §2.3 percent-encoded, so newlines, spaces, "+", "/" and "=" are escaped.
// It is how the check client plays Envoy's side.
func Encode(pemText []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(pemText) * 3 / 2)
	for _, c := range pemText {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
