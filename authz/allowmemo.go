package authz

import (
	"hash/maphash"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// allowSlots is the size of the allow memo: with 8,192 slots it holds at
// most about 13 MB of responses.
const allowSlots = 8192

// allowMemo remembers allow responses. A partner's machines send the same
// credential request after request, and an allow response depends only on
// the decision's identity and the credential header, so the response built
// for the first request serves those that follow, with no allocation.
// Responses are immutable once published: gRPC only reads them.
//
// It is direct-mapped by credential id: lock-free, bounded, and a
// collision or a changed identity (narrowed scopes, a new tier) just
// rebuilds the slot's response.
type allowMemo struct {
	seed  maphash.Seed
	slots [allowSlots]atomic.Pointer[allowEntry]
}

func newAllowMemo() *allowMemo { return &allowMemo{seed: maphash.MakeSeed()} }

type allowEntry struct {
	id     identity
	header string // the credential header, the one header removed
	resp   *authv3.CheckResponse
}

// get returns the allow response for d, whose credential header is the
// only header to remove.
func (m *allowMemo) get(d *Decision) *authv3.CheckResponse {
	id := d.identity()
	slot := &m.slots[maphash.String(m.seed, id.credentialID)%allowSlots]
	if e := slot.Load(); e != nil && e.id == id && e.header == d.credentialHeader {
		return e.resp
	}
	e := &allowEntry{id: id, header: d.credentialHeader, resp: buildAllow(d, []string{d.credentialHeader})}
	slot.Store(e)
	return e.resp
}
