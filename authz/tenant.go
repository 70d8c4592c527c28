package authz

import (
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// headerPartnerID is both the identity header partnergate sets and the
// tenant selector a caller might send.
const headerPartnerID = "x-partner-id"

// tenantMismatch reports whether the request names a tenant other than
// partnerID: an x-partner-id header, or a partnerId / partner_id query or
// path parameter (compared the way the most lenient framework would, so
// partnerID, Partner-Id, partner.id, partnerId[], ｐartnerId and
// partner%255fid count too: see [isTenantParam]). A selector that agrees
// is harmless: the header is overwritten on allow. Identity comes from the
// credential, never from the request.
func tenantMismatch(h Headers, rawPath, partnerID string) bool {
	// Get returns one of repeated headers; an upstream may read another,
	// so any repeat is a mismatch.
	if v, n := h.Get(headerPartnerID); n > 1 || n == 1 && v != partnerID {
		return true
	}
	if i := strings.IndexByte(rawPath, '#'); i >= 0 {
		rawPath = rawPath[:i]
	}
	path, query, _ := strings.Cut(rawPath, "?")
	// Path parameters (/v1/orders;partnerId=globex) reach a Java
	// upstream's request parameters as a query's do (RFC 3986 §3.3 leaves
	// their meaning to the server).
	for path != "" {
		i := strings.IndexByte(path, ';')
		if i < 0 {
			break
		}
		params := path[i+1:]
		if j := strings.IndexByte(params, '/'); j >= 0 {
			params, path = params[:j], params[j:]
		} else {
			path = ""
		}
		if pairsMismatch(params, partnerID) {
			return true
		}
	}
	return pairsMismatch(query, partnerID)
}

// pairsMismatch reports whether the name=value pairs in list name a tenant
// other than partnerID.
func pairsMismatch(list, partnerID string) bool {
	for list != "" {
		// ';' separates pairs too for some upstreams (Go before 1.17,
		// Python before 3.9.2); cutting at either only adds pairs to check.
		var pair string
		if i := strings.IndexAny(list, "&;"); i >= 0 {
			pair, list = list[:i], list[i+1:]
		} else {
			pair, list = list, ""
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

// tenantParam is the folded name of the tenant selector.
const tenantParam = "partnerid"

// maxDecodes bounds the percent-decodings of a parameter name: each
// undoes one layer of encoding an upstream might undo too.
const maxDecodes = 4

// isTenantParam reports whether a raw parameter name means "partner id"
// to some framework: percent-decoded again and again (partner%255fid),
// cut at '[' (partnerId[] and partner_id[0] reach the same field in many
// frameworks), in Unicode NFKC (fullwidth ｐ is p) and case-folded as
// Java's equalsIgnoreCase compares (dotless ı is i), stripped of '_',
// '-', '.', white space, control and format characters and combining
// marks (PHP reads "partner id" and "partner.id" as partner_id;
// partnerId%09 is partnerId to a server that trims).
func isTenantParam(raw string) bool {
	if len(raw) < len(tenantParam) {
		return false
	}
	if match, ok := asciiTenantParam(raw); ok {
		return match
	}
	name := raw
	for range maxDecodes {
		d, err := url.QueryUnescape(name)
		if err != nil || d == name {
			// An undecodable layer is not one any framework would read
			// further; the upstream sees the same bytes.
			break
		}
		name = d
	}
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	name = cases.Fold().String(norm.NFKC.String(name))
	var b strings.Builder
	for _, r := range name {
		if r == '_' || r == '-' || r == '.' || unicode.IsSpace(r) || unicode.IsControl(r) ||
			unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
		if b.Len() > len(tenantParam) {
			return false
		}
	}
	return b.String() == tenantParam
}

// asciiTenantParam is isTenantParam for a name made only of ASCII
// letters, digits, '_', '-' and '.', the common case, without allocating;
// ok is false for any other name, which takes the full folding.
func asciiTenantParam(raw string) (match, ok bool) {
	var buf [len(tenantParam)]byte
	n := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		default:
			return false, false
		}
		if n == len(buf) {
			return false, true // longer than the selector
		}
		buf[n] = c
		n++
	}
	return string(buf[:n]) == tenantParam, true
}
