package partner

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// CertificateKind is what a certificate registration matches in a client
// certificate that Envoy has verified.
type CertificateKind string

const (
	// CertSPIFFEID matches a URI subject alternative name, such as a
	// SPIFFE ID (spiffe://trust-domain/path).
	CertSPIFFEID CertificateKind = "spiffe_id"
	// CertDNSSAN matches a DNS subject alternative name.
	CertDNSSAN CertificateKind = "dns_san"
	// CertFingerprint matches the SHA-256 of the certificate's DER, in
	// lower-case hex: one certificate exactly.
	CertFingerprint CertificateKind = "fingerprint_sha256"
)

// Certificate registers a client certificate as a partner's credential:
// a request whose verified client certificate matches it acts as the
// partner, with the partner's grants.
type Certificate struct {
	// ID is the registration's public id, derived from Kind and Value
	// ([CertificateID]): stable, and never a secret.
	ID        string
	PartnerID string
	Kind      CertificateKind
	// Value is the SPIFFE ID, the DNS name (lower case) or the
	// fingerprint (lower-case hex, no colons).
	Value string
	// Name is an operator's label; may be empty.
	Name string
	// CreatedAt is set by the store.
	CreatedAt time.Time
}

// CertificateID returns the public id of the registration (kind, value):
// "cert_" and the first 16 hex digits of their SHA-256.
func CertificateID(kind CertificateKind, value string) string {
	sum := sha256.Sum256([]byte(string(kind) + "\x00" + value))
	return "cert_" + hex.EncodeToString(sum[:8])
}

// NormalizeCertificate returns value in the form a registration of kind
// stores and matches: DNS names in lower case, fingerprints in lower-case
// hex without colons; SPIFFE IDs as given.
func NormalizeCertificate(kind CertificateKind, value string) string {
	value = strings.TrimSpace(value)
	switch kind {
	case CertDNSSAN:
		return strings.ToLower(strings.TrimSuffix(value, "."))
	case CertFingerprint:
		return strings.ToLower(strings.ReplaceAll(value, ":", ""))
	}
	return value
}

// Validate checks c's fields, naming the first bad one, and sets ID.
func (c *Certificate) Validate() error {
	if err := ValidateID("partner_id", c.PartnerID); err != nil {
		return err
	}
	v := c.Value
	switch c.Kind {
	case CertSPIFFEID:
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "spiffe" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
			return Invalid("spiffe_id", "%q is not a SPIFFE ID (spiffe://trust-domain/path)", truncateField(v))
		}
	case CertDNSSAN:
		if !validDNSName(v) {
			return Invalid("dns_san", "%q is not a lower-case DNS name", truncateField(v))
		}
	case CertFingerprint:
		if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
			return Invalid("fingerprint_sha256", "want 64 lower-case hex digits (SHA-256 of the DER), got %q", truncateField(v))
		}
	default:
		return Invalid("kind", "%q is not one of spiffe_id, dns_san, fingerprint_sha256", c.Kind)
	}
	if len(v) > 2048 || !utf8.ValidString(v) {
		return Invalid(string(c.Kind), "longer than 2048 bytes or not UTF-8")
	}
	if len(c.Name) > 200 || !utf8.ValidString(c.Name) || strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Invalid("name", "at most 200 printable characters")
	}
	c.ID = CertificateID(c.Kind, v)
	return nil
}

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 || s != strings.ToLower(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '*' && i == 0 && len(label) == 1
			if !ok {
				return false
			}
		}
	}
	return true
}

func truncateField(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
