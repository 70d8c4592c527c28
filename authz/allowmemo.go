package authz

import (
	"strings"
	"sync/atomic"

	"github.com/partnergate/partnergate/internal/assoc"
	"github.com/partnergate/partnergate/internal/wire"
)

// allowResponses sizes the allow memo: 16,384 responses at most.
const allowResponses = 16384

// allowMemo remembers allow responses. A partner's machines send the same
// credential request after request, and an allow response depends only on
// the decision's identity and the credential header, so the response built
// for the first request serves those that follow, with no allocation.
// Responses are immutable once published: gRPC only reads them.
//
// It is keyed by credential id, bounded and lock-free ([assoc.Table]); a
// collision or a changed identity (narrowed scopes, a new tier) just
// rebuilds the credential's response.
type allowMemo struct {
	table *assoc.Table[allowEntry]
}

func newAllowMemo() *allowMemo {
	return &allowMemo{table: assoc.New(allowResponses, func(e *allowEntry) string { return e.id.credentialID })}
}

type allowEntry struct {
	id     identity
	header string // the credential header, the one header removed
	resp   Response

	// reported is when the credential's use was last reported to Usage,
	// in Unix nanoseconds: the one field written after publication.
	reported atomic.Int64
}

// get returns the entry of the allow response for d, whose credential
// header is the only header to remove.
func (m *allowMemo) get(d *Decision) *allowEntry {
	id := d.identity()
	if e, ok := m.table.Find(id.credentialID, func(e *allowEntry) bool {
		return e.id == id && e.header == d.credentialHeader
	}); ok {
		return e
	}
	// An API key's id is a substring of the key the caller sent: kept
	// as is, it would keep the whole secret in memory with the entry.
	id.credentialID = strings.Clone(id.credentialID)
	msg := buildAllow(id, []string{d.credentialHeader})
	resp := Response{Message: msg, Allowed: true}
	if w, err := wire.Encode(msg); err == nil {
		resp.Wire = w
	} // else gRPC's own marshalling reports the fault on every call
	e := &allowEntry{id: id, header: d.credentialHeader, resp: resp}
	m.table.Store(e)
	return e
}
