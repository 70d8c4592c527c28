package admin

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// ActorHeader is the metadata key in which a client may name the operator
// behind a call. The name is self-declared: anyone holding the admin token
// can send any name, so the audit trail marks it as such and never treats
// it as identity.
const ActorHeader = "x-partnergate-actor"

// maxActorNameLen caps the self-declared operator name.
const maxActorNameLen = 64

// actor returns who is calling, for the audit trail: "admin", the client's
// address, and its self-declared operator name if it sent one.
func actor(ctx context.Context) string {
	var b strings.Builder
	b.WriteString("admin")
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		b.WriteString(" from ")
		b.WriteString(sanitize(p.Addr.String(), 128))
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(ActorHeader); len(v) > 0 {
			if name := sanitize(v[0], maxActorNameLen); name != "" {
				b.WriteString(" as ")
				b.WriteString(name)
				b.WriteString(" (self-declared)")
			}
		}
	}
	return b.String()
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
