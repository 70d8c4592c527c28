package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/store"
)

// clientSource is a genSource that also registers one OAuth2 client.
type clientSource struct {
	genSource
	iss *Issuer
}

func (s *clientSource) Snapshot(ctx context.Context, v store.Visitor) (int64, error) {
	ver, err := s.genSource.Snapshot(ctx, v)
	if err != nil {
		return 0, err
	}
	return ver, v.Client(s.iss.Client())
}

// tokenSetup is the Check server of the load benchmark's token runs, in
// process: a real issuer serving its JWKS over loopback HTTP, the
// verifier with its verified-token cache sized for every token (twice
// over, as pgload sizes jwt.cache_size), and tokens RS256 tokens of the
// issuer's one client, each verified once before it is returned.
type tokenSetup struct {
	srv    *extauthz.Server
	ver    *jwtverify.Verifier
	iss    *Issuer
	tokens []string // "Bearer " + token
}

// tokenCounts are the numbers of distinct tokens BenchmarkDecisionTokens
// measures; PARTNERGATE_BENCH_TOKENS sets the largest (default 100,000;
// minting them takes a while).
func tokenCounts() []int {
	most := 100_000
	if n, err := strconv.Atoi(os.Getenv("PARTNERGATE_BENCH_TOKENS")); err == nil && n > 0 {
		most = n
	}
	var out []int
	for _, n := range []int{1000, 10_000, 100_000} {
		if n < most {
			out = append(out, n)
		}
	}
	return append(out, most)
}

var tokenFixture = sync.OnceValues(func() (*tokenSetup, error) {
	counts := tokenCounts()
	return newTokenSetup(counts[len(counts)-1])
})

func newTokenSetup(n int) (*tokenSetup, error) {
	iss, err := StartIssuer()
	if err != nil {
		return nil, err
	}
	gen, err := newGenSource(1000, 1)
	if err != nil {
		return nil, err
	}
	format, hasher := gen.format, gen.hasher
	src := &clientSource{genSource: *gen, iss: iss}
	idx, err := cache.New(src, cache.Options{ExpectedKeys: 1000})
	if err != nil {
		return nil, err
	}
	if err := idx.Load(context.Background()); err != nil {
		return nil, err
	}
	ver, err := jwtverify.New(context.Background(), []jwtverify.IssuerConfig{{
		Issuer: iss.URL, JWKSURL: iss.JWKSURL, Audiences: []string{TokenAudience}, Algorithms: TokenAlgs[:],
	}}, jwtverify.Options{CacheSize: 2 * n, CacheTTL: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	dec, err := authz.New(authz.Options{Index: idx, Keys: format, Hasher: hasher, Tokens: ver})
	if err != nil {
		return nil, err
	}
	srv, err := extauthz.New(extauthz.Options{Decider: dec})
	if err != nil {
		return nil, err
	}
	toks, err := iss.Tokens("RS256", n)
	if err != nil {
		return nil, err
	}
	f := &tokenSetup{srv: srv, ver: ver, iss: iss, tokens: make([]string, n)}
	req := Request("authorization", "", 0)
	hdrs := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
	for i, t := range toks {
		f.tokens[i] = "Bearer " + t
		hdrs["authorization"] = f.tokens[i]
		resp, err := srv.Check(context.Background(), req)
		if err != nil || resp.GetOkResponse() == nil {
			return nil, fmt.Errorf("token %d not allowed: %v %v", i, resp.GetStatus(), err)
		}
	}
	return f, nil
}

// BenchmarkDecisionTokens is [BenchmarkDecisionInUse] for access tokens:
// an allowed Check with 1,000, 10,000 and 100,000 distinct RS256 tokens
// of one client in use, each verified once before, so that every Check
// should be a hit of the verified-token cache. Run it with -count: a
// cost that rises from one run to the next is something that accumulates.
func BenchmarkDecisionTokens(b *testing.B) {
	f, err := tokenFixture()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range tokenCounts() {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) { checkParallel(b, f.srv, f.tokens[:n]) })
	}
}

// The minting child's tokens are the issuer's: each is accepted by a
// verifier that fetches the issuer's JWKS, and no two are alike.
func TestMintSignsWithTheIssuersKey(t *testing.T) {
	iss, err := StartIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	const n = 40
	job, err := iss.mintJob("RS256", n)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Mint(bytes.NewReader(job), &out); err != nil {
		t.Fatal(err)
	}
	toks := strings.Fields(out.String())
	if len(toks) != n {
		t.Fatalf("minted %d tokens, want %d", len(toks), n)
	}
	ver, err := jwtverify.New(context.Background(), []jwtverify.IssuerConfig{{
		Issuer: iss.URL, JWKSURL: iss.JWKSURL, Audiences: []string{TokenAudience}, Algorithms: TokenAlgs[:],
	}}, jwtverify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ver.Close)
	jtis := map[string]bool{}
	for i, tok := range toks {
		p, err := ver.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if p.ClientID != TokenClient || jtis[p.JTI] {
			t.Fatalf("token %d: client %q, jti %q (seen before: %v)", i, p.ClientID, p.JTI, jtis[p.JTI])
		}
		jtis[p.JTI] = true
	}
}
