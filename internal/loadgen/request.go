package loadgen

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// Scope is the scope every seeded key holds and every generated request
// requires.
const Scope = "orders:read"

// Request returns a CheckRequest shaped like one Envoy sends for a partner
// call: 15 headers, path, method, peer addresses and three context
// extensions. credHeader and credValue carry the credential (for example
// "authorization", "Bearer …"); n varies the request id.
func Request(credHeader, credValue string, n int) *authv3.CheckRequest {
	rid := "5f2b1c9e-7a4d-4e8b-9c31-" + pad12(n)
	h := map[string]string{
		":authority":                     "api.example.com",
		":method":                        "GET",
		":path":                          "/v1/orders?limit=25&status=open",
		":scheme":                        "https",
		"user-agent":                     "partner-sdk-go/2.4.1 (linux; amd64)",
		"accept":                         "application/json",
		"accept-encoding":                "gzip, br",
		"content-type":                   "application/json",
		"x-request-id":                   rid,
		"x-forwarded-for":                "203.0.113.7",
		"x-forwarded-proto":              "https",
		"x-envoy-external-address":       "203.0.113.7",
		"x-envoy-expected-rq-timeout-ms": "15000",
		"traceparent":                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		credHeader:                       credValue,
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socket("203.0.113.7", 41234)},
		Destination: &authv3.AttributeContext_Peer{
			Address:   socket("10.0.3.17", 8443),
			Principal: "spiffe://cluster.local/ns/edge/sa/envoy",
		},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:       rid,
			Method:   "GET",
			Path:     "/v1/orders?limit=25&status=open",
			Host:     "api.example.com",
			Scheme:   "https",
			Protocol: "HTTP/2",
			Headers:  h,
		}},
		ContextExtensions: map[string]string{
			"required_scopes": Scope,
			"route":           "orders-list",
			"upstream":        "orders.svc.cluster.local",
		},
	}}
}

// Marshal returns req's wire bytes.
func Marshal(req *authv3.CheckRequest) []byte {
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err) // a CheckRequest built above always marshals
	}
	return b
}

func socket(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func pad12(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 12 {
		s = "0" + s
	}
	return s
}
