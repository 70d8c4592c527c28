package authz

import (
	"encoding/json"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
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

// allow builds the OK response: identity headers set by overwrite (since
// Envoy 1.37 an unset append action appends beside a spoofed value),
// every other incoming x-partner-* header and the credential removed.
// Envoy applies removals after setting, so nothing set is ever removed; an
// empty value is removed rather than set, since Envoy may drop an empty
// header and leave the caller's.
func allow(d *Decision, h headers) *authv3.CheckResponse {
	set := [...]struct{ key, value string }{
		{HeaderPartnerID, d.PartnerID},
		{HeaderPartnerScopes, d.Scopes},
		{HeaderPartnerCredential, d.CredentialID},
		{HeaderPartnerTier, d.Tier},
	}
	ok := &authv3.OkHttpResponse{Headers: make([]*corev3.HeaderValueOption, 0, len(set))}
	isSet := func(key string) bool {
		for _, s := range set {
			if s.key == key && s.value != "" {
				return true
			}
		}
		return false
	}
	for _, s := range set {
		if s.value == "" {
			continue
		}
		ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: s.key, Value: s.value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	h.each(func(key, _ string) {
		key = strings.ToLower(key)
		remove := strings.HasPrefix(key, identityPrefix) && !isSet(key) ||
			key == headerAuthorization || key == headerAPIKey
		if remove && !contains(ok.HeadersToRemove, key) {
			ok.HeadersToRemove = append(ok.HeadersToRemove, key)
		}
	})
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			MetadataPartnerID:    structpb.NewStringValue(d.PartnerID),
			MetadataTier:         structpb.NewStringValue(d.Tier),
			MetadataCredentialID: structpb.NewStringValue(d.CredentialID),
		}},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// denyBody is the JSON body partners see on a denial.
type denyBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// deny builds a denial: 401 with a WWW-Authenticate challenge (RFC 6750
// §3) or 403, and a small JSON body with the public reason only.
func (s *Server) deny(d *Decision) *authv3.CheckResponse {
	code := d.Reason.Code()
	body, _ := json.Marshal(denyBody{Error: d.Reason.Public(), RequestID: d.RequestID})
	hdrs := []*corev3.HeaderValueOption{
		header("content-type", "application/json"),
		header("cache-control", "no-store"),
	}
	httpCode := typev3.StatusCode_Forbidden
	switch {
	case code == codes.Unauthenticated && d.Reason == ReasonMissingCredential:
		httpCode = typev3.StatusCode_Unauthorized
		hdrs = append(hdrs, header("www-authenticate", `Bearer realm="`+s.realm+`"`))
	case code == codes.Unauthenticated:
		httpCode = typev3.StatusCode_Unauthorized
		hdrs = append(hdrs, header("www-authenticate", `Bearer realm="`+s.realm+`", error="invalid_token"`))
	case d.Reason == ReasonInsufficientScope:
		hdrs = append(hdrs, header("www-authenticate",
			`Bearer realm="`+s.realm+`", error="insufficient_scope", scope="`+strings.Join(d.Required, " ")+`"`))
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code), Message: d.Reason.Public()},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: httpCode},
			Headers: hdrs,
			Body:    string(body),
		}},
	}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
