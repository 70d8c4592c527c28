// Package apikey owns the partner API key format: generation, parsing with
// its checksum, and the keyed hash that is all a store ever keeps.
//
// A key reads
//
//	<prefix><id>_<secret><checksum>
//	pg_live_3kTMd8Qw0aZx_Vb1...43 chars...Lq0sXJ
//
// where prefix names issuer and environment (so secret scanners can match
// it), id is 12 base62 characters of public key id used for O(1) lookup,
// secret is 43 base62 characters (256 bits from crypto/rand), and checksum
// is the CRC32 of everything before it in 6 base62 characters. Every part
// has a fixed length, so parsing is a length check, an alphabet check and a
// CRC: a mistyped or random string is refused before any index is touched.
// The checksum is not authentication; the keyed digest is.
//
// The package does no I/O. [Key] values never print their secret: String and
// LogValue redact it, and only [Key.Reveal] returns it, for showing once.
// All functions are safe for concurrent use.
package apikey
