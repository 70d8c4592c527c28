package partner

// KeyRecord is the compact, read-only view of a credential that the Check
// path needs, as the hot cache hands it out. Scopes is the space-separated
// scope list, kept as one string so a lookup allocates little.
type KeyRecord struct {
	ID            string
	PartnerID     string
	Scopes        string
	Digest        []byte
	PepperVersion int
	// ExpiresAt is in Unix nanoseconds; zero means no expiry.
	ExpiresAt int64
	Revoked   bool
	// AllowCIDRs is the key's own source allow-list; nil allows every
	// address.
	AllowCIDRs CIDRs
	// Version is the stored row's version; a newer one replaces an older.
	Version int64
}

// Record returns c's KeyRecord.
func (c *Credential) Record() KeyRecord {
	r := KeyRecord{
		ID:            c.ID,
		PartnerID:     c.PartnerID,
		Scopes:        c.Scopes.String(),
		Digest:        c.Digest,
		PepperVersion: c.PepperVersion,
		Revoked:       c.Revoked(),
		Version:       c.Version,
	}
	if len(c.AllowCIDRs) > 0 {
		r.AllowCIDRs = c.AllowCIDRs
	}
	if !c.ExpiresAt.IsZero() {
		r.ExpiresAt = c.ExpiresAt.UnixNano()
	}
	return r
}
