package extauthz

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/partner"
)

// Dynamic metadata keys emitted on allow, under the ext_authz filter's
// namespace, for rate-limit descriptors and access logs.
const (
	MetadataPartnerID    = "partner_id"
	MetadataTier         = "tier"
	MetadataCredentialID = "credential_id"
)

// metadataHeaders names, for each metadata key, the identity header whose
// value it carries.
var metadataHeaders = [...]struct{ key, header string }{
	{MetadataPartnerID, authz.HeaderPartnerID},
	{MetadataTier, authz.HeaderPartnerTier},
	{MetadataCredentialID, authz.HeaderPartnerCredential},
}

// identity is what an allow response says, besides the headers it
// removes: the identity headers' values, in [authz.Decision.Identity]'s
// order, and the partner's own limits.
type identity struct {
	values [authz.IdentityHeaders]string
	limits partner.Limits
}

func identityOf(d *authz.Decision) identity {
	id := identity{limits: d.Limits}
	for i, h := range d.Identity() {
		id.values[i] = h.Value
	}
	return id
}

// identityNames are the identity headers' names, in order.
func identityNames() [authz.IdentityHeaders]string {
	var names [authz.IdentityHeaders]string
	for i, h := range (&authz.Decision{}).Identity() {
		names[i] = h.Name
	}
	return names
}

// value returns the value id gives the identity header name.
func (id *identity) value(name string) string {
	for i, n := range identityNames() {
		if n == name {
			return id.values[i]
		}
	}
	return ""
}

// allow returns the OK response: identity headers set by overwrite (since
// Envoy 1.37 an unset append action appends beside a spoofed value),
// every other incoming x-partner-* header and the credential removed.
// Envoy applies removals after setting, so nothing set is ever removed; an
// empty value is removed rather than set, since Envoy may drop an empty
// header and leave the caller's.
//
// When the only header to remove is the credential, as on every request
// but a spoofing attempt, the response depends on the decision's identity
// alone and comes from the memo.
func (s *Server) allow(d *authz.Decision, h envoyHeaders) response {
	var buf [4]string
	remove := removals(d, h, buf[:0])
	if len(remove) == 1 && remove[0] == d.CredentialHeader {
		return s.allowed.get(d).resp
	}
	id := identityOf(d)
	return response{message: buildAllow(&id, remove), allowed: true}
}

// removals appends to dst the request's headers that must not reach the
// upstream: the credential, and any x-partner-* header that partnergate
// does not overwrite. It reads every header name on every allow, so it
// passes over a name on its length and first bytes where it can, and
// lowers the case of the few it cannot.
func removals(d *authz.Decision, h envoyHeaders, dst []string) []string {
	for key := range h.m {
		if mayRemove(key) {
			dst = appendRemoval(d, dst, key)
		}
	}
	for _, hv := range h.list {
		if key := hv.GetKey(); mayRemove(key) {
			dst = appendRemoval(d, dst, key)
		}
	}
	return dst
}

// Header names that carry a credential; both are removed on allow.
const (
	headerAuthorization = "authorization"
	headerAPIKey        = "x-api-key"
)

// mayRemove is removals' filter, in any case: false for every name that
// is neither authorization, x-api-key nor x-partner-*.
func mayRemove(key string) bool {
	if len(key) == len(headerAuthorization) && key[0]|0x20 == 'a' {
		return true
	}
	return len(key) >= len(headerAPIKey) && key[0]|0x20 == 'x' && key[1] == '-' && (key[2]|0x20 == 'a' || key[2]|0x20 == 'p')
}

// appendRemoval appends key, lower-cased, if it must be removed and dst
// does not hold it yet.
func appendRemoval(d *authz.Decision, dst []string, key string) []string {
	key = strings.ToLower(key)
	rm := key == headerAuthorization || key == headerAPIKey ||
		strings.HasPrefix(key, authz.IdentityPrefix) && !setsHeader(d, key)
	if rm && !slices.Contains(dst, key) {
		dst = append(dst, key)
	}
	return dst
}

// setsHeader reports whether the allow response sets the identity header
// key: it does for every one with a value.
func setsHeader(d *authz.Decision, key string) bool {
	for _, h := range d.Identity() {
		if h.Name == key {
			return h.Value != ""
		}
	}
	return false
}

// buildAllow builds the OK response for id. One allocation holds every
// message of it, where building it field by field costs one per message.
func buildAllow(id *identity, remove []string) *authv3.CheckResponse {
	a := new(allowResponse)
	ok := &a.ok
	ok.Headers = a.headers[:0]
	for i, name := range identityNames() {
		if id.values[i] == "" {
			continue
		}
		a.values[i].Key, a.values[i].Value = name, id.values[i]
		a.options[i].Header = &a.values[i]
		a.options[i].AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		ok.Headers = append(ok.Headers, &a.options[i])
	}
	if len(remove) > 0 {
		ok.HeadersToRemove = append(a.remove[:0], remove...)
	}
	a.okResponse.OkResponse = ok
	a.resp.Status = &a.status // the zero Status is code OK
	a.resp.HttpResponse = &a.okResponse
	a.dynamic.Fields = make(map[string]*structpb.Value, len(metadataHeaders)+3)
	for i, m := range metadataHeaders {
		a.strings[i].StringValue = id.value(m.header)
		a.metadata[i].Kind = &a.strings[i]
		a.dynamic.Fields[m.key] = &a.metadata[i]
	}
	addLimitOverrides(a.dynamic.Fields, id.limits)
	a.resp.DynamicMetadata = &a.dynamic
	return &a.resp
}

// allowResponse is the backing store of one OK response; allow returns a
// pointer into it, which keeps the whole block alive while gRPC marshals.
type allowResponse struct {
	resp       authv3.CheckResponse
	status     rpcstatus.Status
	okResponse authv3.CheckResponse_OkResponse
	ok         authv3.OkHttpResponse
	headers    [authz.IdentityHeaders]*corev3.HeaderValueOption
	options    [authz.IdentityHeaders]corev3.HeaderValueOption
	values     [authz.IdentityHeaders]corev3.HeaderValue
	remove     [2]string // the credential and one spoofed header fit
	dynamic    structpb.Struct
	metadata   [len(metadataHeaders)]structpb.Value
	strings    [len(metadataHeaders)]structpb.Value_StringValue
}

// code is the gRPC status code a CheckResponse carries for r, from the
// HTTP status every transport answers with.
func code(r authz.Reason) codes.Code {
	switch r.Status() {
	case 200:
		return codes.OK
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 400:
		return codes.InvalidArgument
	}
	return codes.Internal
}

// denial builds a denial: the status, WWW-Authenticate challenge and JSON
// body every transport answers with ([authz.Challenge],
// [authz.Decision.Body]). A flood of bad credentials is all denials, so
// this is built with care too: the fixed headers are shared, and the
// messages share one allocation.
func (s *Server) denial(d *authz.Decision) *authv3.CheckResponse {
	a := new(denyResponse)
	a.status.Code = int32(code(d.Reason))
	a.status.Message = d.Reason.Public()
	a.httpStatus.Code = typev3.StatusCode(d.Reason.Status())
	switch {
	case d.Reason == authz.ReasonInvalidDPoPProof, d.DPoP() && d.Reason.Status() == 401:
		// A DPoP challenge (RFC 9449 §7.1); rare enough to build here.
		a.denied.Headers = append(s.deny.fixed[:len(s.deny.fixed):len(s.deny.fixed)], header(authz.HeaderWWWAuthenticate, authz.Challenge(s.realm, d)))
	case d.Reason == authz.ReasonMissingCredential:
		a.denied.Headers = s.deny.missing
	case d.Reason.Status() == 401:
		a.denied.Headers = s.deny.invalid
	default:
		a.denied.Headers = s.deny.fixed
		if c := authz.Challenge(s.realm, d); c != "" {
			a.denied.Headers = append(s.deny.fixed[:len(s.deny.fixed):len(s.deny.fixed)], header(authz.HeaderWWWAuthenticate, c))
		}
	}
	a.denied.Status = &a.httpStatus
	a.denied.Body = d.Body()
	a.deniedResponse.DeniedResponse = &a.denied
	a.resp.Status = &a.status
	a.resp.HttpResponse = &a.deniedResponse
	return &a.resp
}

// denyResponse is the backing store of one denial, as allowResponse is of
// an allow.
type denyResponse struct {
	resp           authv3.CheckResponse
	status         rpcstatus.Status
	deniedResponse authv3.CheckResponse_DeniedResponse
	denied         authv3.DeniedHttpResponse
	httpStatus     typev3.HttpStatus
}

// denyHeaders are the header sets of denials whose challenge does not
// depend on the request, built once per server and shared by every
// response: gRPC only reads them.
type denyHeaders struct {
	fixed   []*corev3.HeaderValueOption // no challenge of its own
	missing []*corev3.HeaderValueOption // 401, no credential sent
	invalid []*corev3.HeaderValueOption // 401, any credential refused
}

func newDenyHeaders(realm string) denyHeaders {
	base := func(extra ...*corev3.HeaderValueOption) []*corev3.HeaderValueOption {
		var hs []*corev3.HeaderValueOption
		for _, h := range authz.DenyHeaders() {
			hs = append(hs, header(h.Name, h.Value))
		}
		return append(hs, extra...)
	}
	challenge := func(r authz.Reason) *corev3.HeaderValueOption {
		return header(authz.HeaderWWWAuthenticate, authz.Challenge(realm, &authz.Decision{Reason: r}))
	}
	return denyHeaders{
		fixed:   base(),
		missing: base(challenge(authz.ReasonMissingCredential)),
		invalid: base(challenge(authz.ReasonUnknownCredential)),
	}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
