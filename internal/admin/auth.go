package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenPrefix starts every admin token, so secret scanners and humans can
// tell one from a partner key.
const TokenPrefix = "pgadm_"

// NewToken returns a fresh admin token: [TokenPrefix] and 256 bits from
// crypto/rand in base32.
func NewToken() string {
	return TokenPrefix + rand.Text() + rand.Text()
}

// HashToken returns the SHA-256 of token: all a server keeps of its admin
// token. A fast hash suffices for a high-entropy random secret.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// errUnauthenticated is the one answer to every bad credential, so a caller
// learns nothing about why.
var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid admin token")

// AuthInterceptors return interceptors that admit a call only if its
// metadata carries `authorization: Bearer <token>` for a token whose
// [HashToken] is tokenHash. A tokenHash that is not a SHA-256 admits
// nothing.
func AuthInterceptors(tokenHash []byte) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	want := append([]byte(nil), tokenHash...)
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !authorized(ctx, want) {
			return nil, errUnauthenticated
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !authorized(ss.Context(), want) {
			return errUnauthenticated
		}
		return h(srv, ss)
	}
	return unary, stream
}

// authorized reports whether ctx carries the admin token. Digests, not
// tokens, are compared, in constant time, so neither the comparison's time
// nor its length check reveals anything about the token.
func authorized(ctx context.Context, want []byte) bool {
	if len(want) != sha256.Size {
		return false
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return false
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare(HashToken(token), want) == 1
}
