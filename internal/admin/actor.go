package admin

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// ActorHeader is the metadata key in which a client may name the person
// behind a call. The name is self-declared: the audit trail keeps it as a
// note beside the verified operator, never as identity.
const ActorHeader = "x-partnergate-actor"

// maxActorNameLen caps the self-declared name.
const maxActorNameLen = 64

// note returns the caller's self-declared name, sanitised, or "".
func note(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	if v := md.Get(ActorHeader); len(v) > 0 {
		return sanitize(v[0], maxActorNameLen)
	}
	return ""
}

// source returns the client address of ctx's call, sanitised, or "".
func source(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return sanitize(p.Addr.String(), 128)
	}
	return ""
}

// sourceHost returns the client's host without its port: the unit that
// failed authentications are slowed by.
func sourceHost(ctx context.Context) string {
	s := source(ctx)
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// sanitize keeps the characters of s that are safe in a log line and an
// audit record — letters, digits and "._@:[]-" — and caps the result.
func sanitize(s string, max int) string {
	out := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(out) < max; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("._@:[]-", c) >= 0 {
			out = append(out, c)
		}
	}
	return string(out)
}

// pathSafe is [sanitize] that also keeps '/', for values that are paths
// or URIs: a method name, a certificate's URI SAN.
func pathSafe(s string, max int) string {
	out := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c == '/' || sanitize(string(c), 1) != "" {
			out = append(out, c)
		}
	}
	return string(out)
}
