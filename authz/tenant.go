package authz

import (
	"net/url"
	"strings"
)

// headerPartnerID is both the identity header partnergate sets and the
// tenant selector a caller might send.
const headerPartnerID = "x-partner-id"

// tenantMismatch reports whether the request names a tenant other than
// partnerID: an x-partner-id header, or a partnerId / partner_id query
// parameter (compared case- and separator-insensitively, so partnerID,
// Partner-Id, partner.id and partnerId[] count too). A selector that agrees is harmless:
// the header is overwritten on allow. Identity comes from the credential,
// never from the request.
func tenantMismatch(h headers, rawPath, partnerID string) bool {
	// get returns the last of repeated raw headers; an upstream may read
	// the first, so any repeat is a mismatch.
	if v, n := h.get(headerPartnerID); n > 1 || n == 1 && v != partnerID {
		return true
	}
	_, query, ok := strings.Cut(rawPath, "?")
	if !ok {
		return false
	}
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	for query != "" {
		// ';' separates pairs too for some upstreams (Go before 1.17,
		// Python before 3.9.2); cutting at either only adds pairs to check.
		var pair string
		if i := strings.IndexAny(query, "&;"); i >= 0 {
			pair, query = query[:i], query[i+1:]
		} else {
			pair, query = query, ""
		}
		name, value, _ := strings.Cut(pair, "=")
		if !isTenantParam(name) {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil || v != partnerID {
			return true
		}
	}
	return false
}

// isTenantParam reports whether a raw query parameter name means "partner
// id" once decoded, folded to lower case and stripped of '_', '-', '.' and
// ' ' (PHP reads "partner id" and "partner.id" as partner_id).
func isTenantParam(raw string) bool {
	if len(raw) < len("partnerid") {
		return false
	}
	name, err := url.QueryUnescape(raw)
	if err != nil {
		// An undecodable name is not a selector any framework would read;
		// the upstream sees the same bytes.
		return false
	}
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i] // partnerId[] and partner_id[0] reach the same field in many frameworks
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r != '_' && r != '-' && r != '.' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String() == "partnerid"
}
