package cache

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
)

// Entry layout, version 1:
//
//	[0]      format version (1)
//	[1]      flags (bit 0: revoked; bit 1: an allow-list follows the partner id)
//	[2:4]    pepper version, big endian
//	[4:12]   expiry, Unix nanoseconds, big endian (0: none)
//	[12:20]  row version, big endian
//	[20]     digest length n, then n bytes
//	uvarint  partner id length, then the bytes
//	uvarint  allow-list length, then its comma-separated networks (flag bit 1 only)
//	rest     space-separated scopes
const (
	formatV1    = 1
	flagRevoked = 1
	flagAllow   = 2
	fixedLen    = 21
)

var errCorrupt = errors.New("cache: corrupt entry")

func encode(dst []byte, r *partner.KeyRecord) []byte {
	var flags byte
	if r.Revoked {
		flags |= flagRevoked
	}
	if len(r.AllowCIDRs) > 0 {
		flags |= flagAllow
	}
	dst = append(dst, formatV1, flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.PepperVersion))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.ExpiresAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Version))
	dst = append(dst, byte(len(r.Digest)))
	dst = append(dst, r.Digest...)
	dst = binary.AppendUvarint(dst, uint64(len(r.PartnerID)))
	dst = append(dst, r.PartnerID...)
	if len(r.AllowCIDRs) > 0 {
		list := r.AllowCIDRs.String()
		dst = binary.AppendUvarint(dst, uint64(len(list)))
		dst = append(dst, list...)
	}
	return append(dst, r.Scopes...)
}

// version reads an entry's row version without decoding the rest.
func version(b []byte) (int64, bool) {
	if len(b) < fixedLen || b[0] != formatV1 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[12:20])), true
}

// decode decodes an entry; in, if not nil, supplies its strings.
func decode(id string, b []byte, in *interner) (partner.KeyRecord, error) {
	if len(b) < fixedLen || b[0] != formatV1 {
		return partner.KeyRecord{}, errCorrupt
	}
	r := partner.KeyRecord{
		ID:            id,
		Revoked:       b[1]&flagRevoked != 0,
		PepperVersion: int(binary.BigEndian.Uint16(b[2:4])),
		ExpiresAt:     int64(binary.BigEndian.Uint64(b[4:12])),
		Version:       int64(binary.BigEndian.Uint64(b[12:20])),
	}
	n := int(b[20])
	rest := b[fixedLen:]
	if len(rest) < n {
		return partner.KeyRecord{}, errCorrupt
	}
	// b is the caller's own copy (bigcache copies on Get), so slicing it
	// is safe and saves an allocation.
	r.Digest = rest[:n:n]
	rest = rest[n:]
	plen, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) < plen {
		return partner.KeyRecord{}, errCorrupt
	}
	rest = rest[k:]
	r.PartnerID = in.partnerID(rest[:plen])
	rest = rest[plen:]
	if b[1]&flagAllow != 0 {
		alen, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < alen || alen == 0 {
			return partner.KeyRecord{}, errCorrupt
		}
		list, err := decodeCIDRs(string(rest[k : k+int(alen)]))
		if err != nil {
			return partner.KeyRecord{}, errCorrupt
		}
		r.AllowCIDRs = list
		rest = rest[k+int(alen):]
	}
	r.Scopes = in.scopeList(rest)
	return r, nil
}

// decodeCIDRs parses an allow-list as encode wrote it, validated when it
// was stored.
func decodeCIDRs(s string) (partner.CIDRs, error) {
	out := make(partner.CIDRs, 0, strings.Count(s, ",")+1)
	for p := range strings.SplitSeq(s, ",") {
		n, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
