package authz

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/wire"
)

// Identity headers partnergate sets on allow.
const (
	HeaderPartnerID         = headerPartnerID
	HeaderPartnerScopes     = "x-partner-scopes"
	HeaderPartnerCredential = "x-partner-credential"
	HeaderPartnerTier       = "x-partner-tier"

	identityPrefix = "x-partner-"
)

// Dynamic metadata keys emitted on allow, under the ext_authz filter's
// namespace, for rate-limit descriptors and access logs.
const (
	MetadataPartnerID    = "partner_id"
	MetadataTier         = "tier"
	MetadataCredentialID = "credential_id"
)

// Response is [Server.Respond]'s answer.
type Response struct {
	// Message is the CheckResponse.
	Message *authv3.CheckResponse
	// Wire is Message encoded, or nil. The allow memo's responses carry
	// it, made when the response is, so that a partner's repeated
	// requests are answered without marshalling.
	Wire *wire.Message
	// Allowed reports whether Message allows the request.
	Allowed bool
}

// Reply is what the Check server sends for r ([Register]): its encoding
// when it has one, else its message.
func (r Response) Reply() any {
	if r.Wire != nil {
		return r.Wire
	}
	return r.Message
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
//
// It returns the memo's entry too, or nil for a response built for this
// request alone.
func (s *Server) allow(d *Decision, h headers) (Response, *allowEntry) {
	var buf [4]string
	remove := removals(d, h, buf[:0])
	if len(remove) == 1 && remove[0] == d.credentialHeader {
		e := s.allowed.get(d)
		return e.resp, e
	}
	return Response{Message: buildAllow(d.identity(), remove), Allowed: true}, nil
}

// identity is what an allow response says, besides the headers it
// removes.
type identity struct {
	partnerID, scopes, credentialID, tier string
	limits                                partner.Limits
}

func (d *Decision) identity() identity {
	return identity{partnerID: d.PartnerID, scopes: d.Scopes, credentialID: d.CredentialID, tier: d.Tier, limits: d.Limits}
}

// set lists the identity headers in the order they are sent.
func (id *identity) set() [4]struct{ key, value string } {
	return [...]struct{ key, value string }{
		{HeaderPartnerID, id.partnerID},
		{HeaderPartnerScopes, id.scopes},
		{HeaderPartnerCredential, id.credentialID},
		{HeaderPartnerTier, id.tier},
	}
}

// removals appends to dst the request's headers that must not reach the
// upstream: the credential, and any x-partner-* header that partnergate
// does not overwrite. It reads every header name on every allow, so it
// passes over a name on its length and first bytes where it can, and
// lowers the case of the few it cannot.
func removals(d *Decision, h headers, dst []string) []string {
	for key := range h.m {
		if mayRemove(key) {
			dst = d.appendRemoval(dst, key)
		}
	}
	for _, hv := range h.list {
		if key := hv.GetKey(); mayRemove(key) {
			dst = d.appendRemoval(dst, key)
		}
	}
	return dst
}

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
func (d *Decision) appendRemoval(dst []string, key string) []string {
	key = strings.ToLower(key)
	rm := key == headerAuthorization || key == headerAPIKey ||
		strings.HasPrefix(key, identityPrefix) && !d.setsHeader(key)
	if rm && !slices.Contains(dst, key) {
		dst = append(dst, key)
	}
	return dst
}

// setsHeader reports whether the allow response sets the identity header
// key: it does for every one with a value.
func (d *Decision) setsHeader(key string) bool {
	id := d.identity()
	for _, s := range id.set() {
		if s.key == key {
			return s.value != ""
		}
	}
	return false
}

// buildAllow builds the OK response for id. One allocation holds every
// message of it: built field by field it cost some twenty allocations.
func buildAllow(id identity, remove []string) *authv3.CheckResponse {
	a := new(allowResponse)
	ok := &a.ok
	ok.Headers = a.headers[:0]
	for i, s := range id.set() {
		if s.value == "" {
			continue
		}
		a.values[i].Key, a.values[i].Value = s.key, s.value
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
	for i, v := range [len(a.metadata)]string{id.partnerID, id.tier, id.credentialID} {
		a.strings[i].StringValue = v
		a.metadata[i].Kind = &a.strings[i]
	}
	a.dynamic.Fields = map[string]*structpb.Value{
		MetadataPartnerID:    &a.metadata[0],
		MetadataTier:         &a.metadata[1],
		MetadataCredentialID: &a.metadata[2],
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
	headers    [4]*corev3.HeaderValueOption
	options    [4]corev3.HeaderValueOption
	values     [4]corev3.HeaderValue
	remove     [2]string // the credential and one spoofed header fit
	dynamic    structpb.Struct
	metadata   [3]structpb.Value
	strings    [3]structpb.Value_StringValue
}

// deny builds a denial: 401 with a WWW-Authenticate challenge (RFC 6750
// §3), 403, or 400 for a path refused as unreadable, and a small JSON body with the public reason only. A flood
// of bad credentials is all denials, so this is built with care too: the
// fixed headers are shared, and the messages share one allocation.
func (s *Server) deny(d *Decision) *authv3.CheckResponse {
	code := d.Reason.Code()
	a := new(denyResponse)
	a.status.Code = int32(code)
	a.status.Message = d.Reason.Public()
	a.httpStatus.Code = typev3.StatusCode_Forbidden
	a.denied.Headers = s.denyHeaders.forbidden
	switch {
	case code == codes.Unauthenticated && d.Reason == ReasonInvalidDPoPProof:
		a.httpStatus.Code = typev3.StatusCode_Unauthorized
		a.denied.Headers = s.denyHeaders.invalidProof
	case code == codes.Unauthenticated && d.dpop:
		// A token sent with DPoP is challenged with DPoP (RFC 9449 §7.1).
		a.httpStatus.Code = typev3.StatusCode_Unauthorized
		a.denied.Headers = s.denyHeaders.invalidDPoPToken
	case code == codes.Unauthenticated && d.Reason == ReasonMissingCredential:
		a.httpStatus.Code = typev3.StatusCode_Unauthorized
		a.denied.Headers = s.denyHeaders.missing
	case code == codes.Unauthenticated:
		a.httpStatus.Code = typev3.StatusCode_Unauthorized
		a.denied.Headers = s.denyHeaders.invalid
	case code == codes.InvalidArgument:
		a.httpStatus.Code = typev3.StatusCode_BadRequest
	case d.Reason.Public() == PublicInsufficientScope:
		a.denied.Headers = append(s.denyHeaders.forbidden[:len(s.denyHeaders.forbidden):len(s.denyHeaders.forbidden)],
			header("www-authenticate", `Bearer realm="`+s.realm+`", error="insufficient_scope", scope="`+strings.Join(d.Required, " ")+`"`))
	}
	a.denied.Status = &a.httpStatus
	a.denied.Body = denyBody(d.Reason.Public(), d.RequestID)
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

// denyHeaders are the fixed header sets of denials, built once per
// server and shared by every response: gRPC only reads them.
type denyHeaders struct {
	forbidden []*corev3.HeaderValueOption // 403
	missing   []*corev3.HeaderValueOption // 401, no credential sent
	invalid   []*corev3.HeaderValueOption // 401, invalid_token
	// DPoP challenges (RFC 9449 §7.1): a refused proof, and a refused
	// token that came with one.
	invalidProof     []*corev3.HeaderValueOption
	invalidDPoPToken []*corev3.HeaderValueOption
}

func newDenyHeaders(realm string) denyHeaders {
	base := func(extra ...*corev3.HeaderValueOption) []*corev3.HeaderValueOption {
		return append([]*corev3.HeaderValueOption{
			header("content-type", "application/json"),
			header("cache-control", "no-store"),
		}, extra...)
	}
	return denyHeaders{
		forbidden: base(),
		missing:   base(header("www-authenticate", `Bearer realm="`+realm+`"`)),
		invalid:   base(header("www-authenticate", `Bearer realm="`+realm+`", error="invalid_token"`)),
		invalidProof: base(header("www-authenticate",
			`DPoP realm="`+realm+`", error="invalid_dpop_proof", error_description="Invalid DPoP proof"`)),
		invalidDPoPToken: base(header("www-authenticate", `DPoP realm="`+realm+`", error="invalid_token"`)),
	}
}

// denyBody is the JSON body partners see on a denial:
// {"error":"<public reason>","request_id":"<id>"}, the id omitted when
// empty. Neither needs escaping: public reasons are fixed codes and
// requestID admits only [A-Za-z0-9._:-].
func denyBody(public, requestID string) string {
	if requestID == "" {
		return `{"error":"` + public + `"}`
	}
	return `{"error":"` + public + `","request_id":"` + requestID + `"}`
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
