package admin

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/partnergate/partnergate/internal/apikey"
)

// The bootstrap token: the break-glass credential that acts as the
// operator "bootstrap" with the admin role. Its documented use is the
// first start — create a named admin with it, then turn it off with
// admin_bootstrap: disabled (NIST SP 800-53 AC-2: shared accounts only
// for emergencies).

// MetaBootstrapHash is the store setting holding the generated bootstrap
// token's SHA-256, hex.
const MetaBootstrapHash = "admin_token_sha256"

// MetaStore is the one store call the bootstrap token needs.
type MetaStore interface {
	InitMeta(ctx context.Context, key, value string) (string, error)
}

// Bootstrap says where the bootstrap token comes from.
type Bootstrap struct {
	// Token is the token from the environment, if any.
	Token string
	// TokenFile holds the token, if set.
	TokenFile string
	// EnvName and FileKey name the two sources in errors.
	EnvName, FileKey string
	// Out receives the one-time notice of a generated token.
	Out io.Writer
}

// Hash returns the SHA-256 of the bootstrap token: the given one, which
// must have at least [apikey.MinTokenBits] of entropy, or else the one
// generated on first start. A generated token is printed once to b.Out and
// only its hash stored. Call Hash only once the server can serve (its
// listeners bound), so that a start that fails does not use up the token
// it printed.
func (b Bootstrap) Hash(ctx context.Context, st MetaStore) ([]byte, error) {
	tok, from := b.Token, b.EnvName
	if b.TokenFile != "" {
		raw, err := os.ReadFile(b.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.FileKey, err)
		}
		tok, from = string(bytes.TrimSpace(raw)), b.FileKey+" "+b.TokenFile
	}
	if tok != "" {
		if bits := apikey.Strength(tok); bits < apikey.MinTokenBits {
			return nil, fmt.Errorf("%s: the bootstrap token has about %.0f bits of entropy by its length and alphabet; at least %d are required (use 32 random characters or more)",
				from, bits, apikey.MinTokenBits)
		}
		return HashToken(tok), nil
	}
	fresh := NewToken()
	freshHash := hex.EncodeToString(HashToken(fresh))
	stored, err := st.InitMeta(ctx, MetaBootstrapHash, freshHash)
	if err != nil {
		return nil, fmt.Errorf("bootstrap token: %w", err)
	}
	if stored == freshHash {
		fmt.Fprintf(b.Out, "\nGenerated bootstrap admin token (shown once; only its hash is kept).\n"+
			"Use it to create a named admin (partnergate operator create NAME --role admin),\n"+
			"then set admin_bootstrap: disabled:\n\n    export %s=%s\n\n", b.EnvName, fresh)
	}
	h, err := hex.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("bootstrap token: stored hash is corrupt: %w", err)
	}
	return h, nil
}
