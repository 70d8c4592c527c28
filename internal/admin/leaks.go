package admin

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/secretscan"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Bounds of a ReportLeakedKeys request.
const (
	// MaxLeakedTokens caps the tokens of one call; a scan that finds more
	// sends them in several calls.
	MaxLeakedTokens = 1000
	// maxLeakedTokenLen caps one token: a key is far shorter, and the
	// key parser refuses anything longer.
	maxLeakedTokenLen = 255
	// maxLeakURL caps the url the audit trail keeps.
	maxLeakURL = 2048
)

// ScanReporter is the reporter the audit trail names for keys reported
// through the admin API, as `partnergate scan --revoke` does.
const ScanReporter = "partnergate scan"

// ReportLeakedKeys judges each token as a secret-scanning program's report
// is judged, by the same code ([secretscan.Handler.Report]): only a token
// that is a credential's full key, its digest compared in constant time,
// revokes that key. A key id alone is public, and a checksum is no
// authentication, so a look-alike of a real id is a false positive and
// changes nothing. The reply names keys by id and never carries a token.
func (s *Server) ReportLeakedKeys(ctx context.Context, req *adminv1.ReportLeakedKeysRequest) (*adminv1.ReportLeakedKeysResponse, error) {
	out, err := s.reportLeakedKeys(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "ReportLeakedKeys", err)
	}
	return out, nil
}

func (s *Server) reportLeakedKeys(ctx context.Context, req *adminv1.ReportLeakedKeysRequest) (*adminv1.ReportLeakedKeysResponse, error) {
	tokens := req.GetTokens()
	switch {
	case len(tokens) == 0:
		return nil, partner.Invalid("tokens", "must name at least one key")
	case len(tokens) > MaxLeakedTokens:
		return nil, partner.Invalid("tokens", "must be at most %d a call; send the rest in another call", MaxLeakedTokens)
	}
	for i, t := range tokens {
		// The index, never the value: the value may be a live key.
		if t == "" || len(t) > maxLeakedTokenLen {
			return nil, partner.Invalid(fmt.Sprintf("tokens[%d]", i), "must be 1 to %d bytes", maxLeakedTokenLen)
		}
	}
	url := req.GetUrl()
	if err := validateLeakURL(url); err != nil {
		return nil, err
	}
	matches := make([]secretscan.Match, len(tokens))
	for i, t := range tokens {
		matches[i] = secretscan.Match{Token: t, URL: url}
	}
	rep := secretscan.Reporter{Name: ScanReporter, Actor: "unknown", Source: source(ctx), Note: note(ctx)}
	if p := PrincipalFrom(ctx); p != nil {
		rep.Actor, rep.AuthMethod = p.Name, string(p.Method)
	}
	h := &secretscan.Handler{Keys: s.Store, Format: s.Format, Hasher: s.Hasher, Now: s.Now, Logger: s.logger()}
	if s.Leaked != nil {
		h.Leaked = func(_, partnerID string) { s.Leaked(partnerID) }
	}
	res, changed, err := h.Report(ctx, rep, matches)
	if changed {
		// Also after a fault: what committed before it must show here.
		s.synced(ctx, "key.leaked")
	}
	if err != nil {
		return nil, err
	}
	resp := &adminv1.ReportLeakedKeysResponse{Results: make([]*adminv1.LeakedKeyResult, len(res))}
	for i, r := range res {
		resp.Results[i] = &adminv1.LeakedKeyResult{KeyId: r.KeyID, Label: r.Label, Revoked: r.Revoked, AlreadyRevoked: r.AlreadyRevoked}
	}
	return resp, nil
}

func validateLeakURL(u string) error {
	if len(u) > maxLeakURL {
		return partner.Invalid("url", "must be at most %d bytes", maxLeakURL)
	}
	if !utf8.ValidString(u) {
		return partner.Invalid("url", "must be valid UTF-8")
	}
	for _, r := range u {
		if unicode.IsControl(r) {
			return partner.Invalid("url", "must not contain control characters")
		}
	}
	return nil
}
