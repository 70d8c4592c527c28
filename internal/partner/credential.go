package partner

import "time"

// Credential is a partner API key as the store keeps it: the public key id,
// and a keyed digest of the secret, never the secret itself.
type Credential struct {
	// ID is the public key id, embedded in the key and shown to humans and
	// upstreams (x-partner-credential).
	ID        string
	PartnerID string
	// Name is an operator's label, such as "billing-prod".
	Name string
	// Scopes lie within the partner's grants at issue; the effective scopes
	// at check time are Scopes ∩ the partner's current grants.
	Scopes Scopes
	// AllowCIDRs, if not empty, are the only networks the key may be used
	// from (its partner's list applies as well).
	AllowCIDRs CIDRs
	// Digest is HMAC-SHA256(pepper[PepperVersion], key).
	Digest        []byte
	PepperVersion int
	CreatedAt     time.Time
	// ExpiresAt is zero for a key that does not expire. Rotation sets it on
	// the old key to the end of the overlap.
	ExpiresAt time.Time
	// RevokedAt is zero while the key is not revoked.
	RevokedAt time.Time
	// RotatedFrom is the id of the key this one replaced, if any.
	RotatedFrom string
	// LastRotatedAt is when this key was last rotated (replaced), if ever.
	LastRotatedAt time.Time
	// LastUsedAt is when the key last passed a Check, as far as recorded.
	LastUsedAt time.Time
	// LastUsedFrom is the client address of that Check, if recorded.
	LastUsedFrom string
	// CompromisedAt is when a secret-scanning report first found the key
	// published; zero if never. Once set, an update never clears it.
	CompromisedAt time.Time
	Version       int64
}

// Compromised reports whether the key was reported published.
func (c *Credential) Compromised() bool { return !c.CompromisedAt.IsZero() }

// Revoked reports whether the key has been revoked.
func (c *Credential) Revoked() bool { return !c.RevokedAt.IsZero() }

// Expired reports whether the key has expired at now.
func (c *Credential) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// Usable reports whether the key may authenticate at now.
func (c *Credential) Usable(now time.Time) bool {
	return !c.Revoked() && !c.Expired(now)
}
