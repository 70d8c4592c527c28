package extauthz

import (
	"strings"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/assoc"
)

// defaultAllowResponses sizes the allow memo when [Options] does not.
const defaultAllowResponses = 16384

// allowMemo remembers allow responses. A partner's machines send the same
// credential request after request, and an allow response depends only on
// the decision's identity and the credential header, so the response built
// for the first request serves those that follow, with no allocation.
// Responses are immutable once published: gRPC only reads them.
//
// Responses are kept in a table keyed by credential id, bounded and
// lock-free ([assoc.Table]). An entry answers only the identity, the
// credential header and the key record version it was built for: a
// collision, a changed identity (narrowed scopes, a new tier) or a
// rewritten key just rebuilds the credential's response.
type allowMemo struct {
	table *assoc.Table[allowEntry]
}

// newAllowMemo returns a memo of at most n responses (0: the default).
func newAllowMemo(n int) *allowMemo {
	if n <= 0 {
		n = defaultAllowResponses
	}
	return &allowMemo{table: assoc.New(n, func(e *allowEntry) string { return e.credentialID })}
}

// entryRoom is the room an allow entry has for its credential id and its
// response's encoding: the entry, its id and its encoding are then one
// 768-byte allocation (a size class of Go's allocator). Four identity
// headers with their metadata, and a partner's own limits, fit; a larger
// response is encoded elsewhere.
const entryRoom = 560

type allowEntry struct {
	id           identity
	credentialID string // the table's key: id's credential header value
	header       string // the credential header, the one header removed
	version      int64  // the key record's version, zero for a token
	resp         response

	// wire and room hold the response's encoding and the credential id's
	// bytes. With a thousand keys taking turns an entry is rarely in the
	// CPU's caches; in one block, a Check reads a few adjacent lines of
	// one page for it, where separate allocations would be as many pages.
	wire encoded
	room [entryRoom]byte
}

// get returns the entry of the allow response for d, whose credential
// header is the only header to remove.
func (m *allowMemo) get(d *authz.Decision) *allowEntry {
	id := identityOf(d)
	if e := m.find(d, &id); e != nil {
		return e
	}
	e := &allowEntry{header: d.CredentialHeader, version: d.CredentialVersion}
	// An API key's id is a substring of the key the caller sent: kept
	// as is, it would keep the whole secret in memory with the entry.
	var room []byte
	e.credentialID, room = e.keep(d.CredentialID)
	kept := *d
	kept.CredentialID = e.credentialID
	e.id = identityOf(&kept)
	msg := buildAllow(&e.id, []string{d.CredentialHeader})
	e.resp = response{message: msg, allowed: true}
	if err := encodeInto(&e.wire, room, msg); err == nil {
		e.resp.wire = &e.wire
	} // else gRPC's own marshalling reports the fault on every call
	m.table.Store(e)
	return e
}

// find returns the kept entry that answers d, whose identity is id, or
// nil.
func (m *allowMemo) find(d *authz.Decision, id *identity) *allowEntry {
	answers := func(e *allowEntry) bool {
		return e.id == *id && e.header == d.CredentialHeader && e.version == d.CredentialVersion
	}
	if e, ok := m.table.Find(d.CredentialID, answers); ok {
		return e
	}
	return nil
}

// keep returns a copy of s, in the entry's room when it fits a quarter
// of it, and the room left.
func (e *allowEntry) keep(s string) (string, []byte) {
	if len(s) <= len(e.room)/4 {
		if kept, rest, ok := assoc.Keep(e.room[:], s); ok {
			return kept, rest
		}
	}
	return strings.Clone(s), e.room[:]
}
