package admin

import (
	"slices"

	"github.com/partnergate/partnergate/internal/partner"
)

// trustedIssuer returns nil if issuer is one of the configured trusted
// issuers, byte for byte, as the verifier compares a token's iss (RFC 8725
// §3.8; RFC 9068 §4); otherwise a refusal naming the closest configured
// one. A client registered, or a token revoked, under any other issuer
// changes nothing Check will ever see: a missing trailing slash is the
// usual way to get there.
func (s *Server) trustedIssuer(field, issuer string) error {
	if slices.Contains(s.Issuers, issuer) {
		return nil
	}
	if len(s.Issuers) == 0 {
		return partner.Invalid(field, "no token issuers are configured (jwt.issuers), so Check refuses every token and %q would change nothing", issuer)
	}
	return partner.Invalid(field, "%q is not a configured trusted issuer, so this would change nothing Check sees; the closest is %q (issuers compare byte for byte)",
		issuer, closest(issuer, s.Issuers))
}

// closest returns the candidate at the least edit distance from s.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
