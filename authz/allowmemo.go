package authz

import (
	"hash/maphash"
	"strings"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// allowSets and allowWays size the allow memo: 16,384 responses at most,
// about 26 MB if every slot fills.
const (
	allowSets = 8192
	allowWays = 2
)

// allowMemo remembers allow responses. A partner's machines send the same
// credential request after request, and an allow response depends only on
// the decision's identity and the credential header, so the response built
// for the first request serves those that follow, with no allocation.
// Responses are immutable once published: gRPC only reads them.
//
// It is a two-way set-associative table keyed by credential id: lock-free
// and bounded. A miss, a changed identity (narrowed scopes, a new tier) or
// a third credential in a full set builds a fresh response and replaces a
// way in turn.
type allowMemo struct {
	seed   maphash.Seed
	victim atomic.Uint32 // which way the next insertion replaces
	sets   [allowSets][allowWays]atomic.Pointer[allowEntry]
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
	set := &m.sets[maphash.String(m.seed, id.credentialID)%allowSets]
	way := -1
	for i := range set {
		e := set[i].Load()
		switch {
		case e == nil:
			way = i
		case e.id.credentialID != id.credentialID:
		case e.id == id && e.header == d.credentialHeader:
			return e.resp
		default:
			way = i // this credential's stale entry: replace it
		}
	}
	if way < 0 {
		way = int(m.victim.Add(1) % allowWays)
	}
	// An API key's id is a substring of the key the caller sent: kept
	// as is, it would keep the whole secret in memory with the entry.
	id.credentialID = strings.Clone(id.credentialID)
	e := &allowEntry{id: id, header: d.credentialHeader, resp: buildAllow(id, []string{d.credentialHeader})}
	set[way].Store(e)
	return e.resp
}
