package secretscan_test

// Test strategy: the endpoint is the only partnergate port meant to face
// the internet, and what it does is revoke keys, so every test drives the
// real handler over real HTTP (httptest) against a real SQLite store, with
// reports signed by a test ECDSA P-256 key and public keys served by a
// local server shaped like GitHub's
// (/meta/public_keys/secret_scanning). A refusal must change nothing: each
// refusal case compares the credential, the audit trail and the change
// feed before and after. No secret may leave: the logs, the reply, the
// audit trail and the database file are searched for every token sent.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/clocktest"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/secretscan"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// signer is a program's signing key and its identifier.
type signer struct {
	id  string
	key *ecdsa.PrivateKey
}

func newSigner(t *testing.T, id string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: id, key: k}
}

func (s signer) sign(t *testing.T, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// keyServer serves public keys as GitHub does; what it serves and whether
// it fails can change during a test.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	signers []signer
	fail    bool
	hits    atomic.Int64
}

func newKeyServer(t *testing.T, ss ...signer) *keyServer {
	t.Helper()
	ks := &keyServer{signers: ss}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.fail || r.URL.Path != "/meta/public_keys/secret_scanning" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		type entry struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		}
		var doc struct {
			PublicKeys []entry `json:"public_keys"`
		}
		for i, s := range ks.signers {
			der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
			if err != nil {
				panic(err)
			}
			doc.PublicKeys = append(doc.PublicKeys, entry{s.id,
				string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), i == len(ks.signers)-1})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(fail bool, ss ...signer) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.fail = fail
	if ss != nil {
		ks.signers = ss
	}
}

func (ks *keyServer) url() string { return ks.URL + "/meta/public_keys/secret_scanning" }

// env is an endpoint over a real SQLite store with one partner.
type env struct {
	st     *sqlstore.Store
	dbPath string
	format apikey.Format
	hasher *apikey.Hasher
	clock  *clocktest.Clock
	keys   *keyServer
	github *secretscan.KeySet
	srv    *httptest.Server
	logs   *logtest.Buffer
	leaked atomic.Int64
	// tokens holds every token sent, to search for afterwards.
	tokensMu sync.Mutex
	tokens   []string
}

func newEnv(t *testing.T, ss ...signer) *env {
	t.Helper()
	e := &env{clock: clocktest.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)), logs: &logtest.Buffer{}}
	e.dbPath = filepath.Join(t.TempDir(), "partnergate.db")
	st, err := sqlstore.Open(context.Background(), "sqlite://"+e.dbPath, sqlstore.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.st = st
	if e.format, err = apikey.NewFormat("pg_test_"); err != nil {
		t.Fatal(err)
	}
	if e.hasher, err = apikey.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{7}, 32)}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.keys = newKeyServer(t, ss...)
	e.github, err = secretscan.NewKeySet(secretscan.KeySetOptions{URL: e.keys.url(), Now: e.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	gitlab, err := secretscan.NewKeySet(secretscan.KeySetOptions{URL: e.keys.url(), Now: e.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := &secretscan.Handler{
		Programs: []secretscan.Program{secretscan.GitHub(e.github), secretscan.GitLab(gitlab)},
		Keys:     st, Format: e.format, Hasher: e.hasher,
		Leaked: func(_, partnerID string) {
			if partnerID != "" { // the partner whose key it was
				e.leaked.Add(1)
			}
		},
		Now: e.clock.Now, Logger: log,
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	if err := st.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: partner.DefaultTier, State: partner.Active},
		partner.AuditEvent{Actor: "test", Action: "partner.create", PartnerID: "acme"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// issue stores a new key for acme and returns its secret.
func (e *env) issue(t *testing.T, revoked bool) (string, *partner.Credential) {
	t.Helper()
	k, err := e.format.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, v := e.hasher.Digest(k)
	c := &partner.Credential{ID: k.ID(), PartnerID: "acme", Digest: digest, PepperVersion: v, ExpiresAt: e.clock.Now().Add(24 * time.Hour)}
	if revoked {
		c.RevokedAt = e.clock.Now()
	}
	if err := e.st.CreateCredential(context.Background(), c, partner.AuditEvent{Actor: "test", Action: "key.issue", PartnerID: "acme", CredentialID: c.ID}); err != nil {
		t.Fatal(err)
	}
	e.remember(k.Reveal())
	return k.Reveal(), c
}

func (e *env) remember(tokens ...string) {
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	e.tokens = append(e.tokens, tokens...)
}

type report struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

func body(t *testing.T, rs ...report) []byte {
	t.Helper()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to the program's route with the given headers.
func (e *env) post(t *testing.T, program string, b []byte, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/secret-scanning/"+program, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func githubHeaders(t *testing.T, s signer, b []byte) map[string]string {
	return map[string]string{"Github-Public-Key-Identifier": s.id, "Github-Public-Key-Signature": s.sign(t, b)}
}

func feedback(t *testing.T, b []byte) []secretscan.Feedback {
	t.Helper()
	var out []secretscan.Feedback
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("reply %q: %v", b, err)
	}
	return out
}

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// state is everything a refused report must leave as it was.
type state struct {
	version int64
	audit   int
	cred    partner.Credential
}

func (e *env) state(t *testing.T, id string) state {
	t.Helper()
	ctx := context.Background()
	ch, err := e.st.Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	if len(ch) > 0 {
		v = ch[len(ch)-1].Version
	}
	evs, err := e.st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.st.GetCredential(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return state{version: v, audit: len(evs), cred: *c}
}

func (s state) same(o state) bool {
	return s.version == o.version && s.audit == o.audit && s.cred.Version == o.cred.Version &&
		s.cred.RevokedAt.Equal(o.cred.RevokedAt) && s.cred.CompromisedAt.Equal(o.cred.CompromisedAt)
}

func (e *env) audit(t *testing.T, id string) []partner.AuditEvent {
	t.Helper()
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []partner.AuditEvent
	for _, ev := range evs {
		if ev.CredentialID == id && ev.Detail["reporter"] != "" {
			out = append(out, ev)
		}
	}
	return out
}

// assertNoSecret fails if any token sent appears in the logs, the reply,
// the audit trail or the database file.
func (e *env) assertNoSecret(t *testing.T, replies ...[]byte) {
	t.Helper()
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	auditJSON, _ := json.Marshal(evs)
	var db []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err == nil {
			db = append(db, b...)
		}
	}
	places := map[string][]byte{"logs": []byte(e.logs.String()), "audit trail": auditJSON, "database": db}
	for i, r := range replies {
		places[fmt.Sprintf("reply %d", i)] = r
	}
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	for _, tok := range e.tokens {
		secret := tok[len(tok)-apikey.SecretLen-apikey.ChecksumLen:]
		for where, b := range places {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("a reported token's secret appears in the %s", where)
			}
		}
	}
}

func TestValidReportRevokes(t *testing.T) {
	gh := newSigner(t, "gh-1")
	e := newEnv(t, gh)
	tok, c := e.issue(t, false)
	b := body(t, report{Token: tok, Type: "partnergate_api_key", URL: "https://github.com/o/r/blob/abc/config.yml", Source: "Content"})
	code, reply := e.post(t, "github", b, githubHeaders(t, gh, b))
	if code != http.StatusOK {
		t.Fatalf("status %d %s, want 200", code, reply)
	}
	fb := feedback(t, reply)
	if len(fb) != 1 || fb[0].Label != secretscan.TruePositive || fb[0].TokenHash != tokenHash(tok) || fb[0].TokenType != "partnergate_api_key" {
		t.Errorf("feedback = %+v, want one true_positive with the token's sha256", fb)
	}
	if bytes.Contains(reply, []byte("token_raw")) {
		t.Error("the reply carries token_raw")
	}
	got, err := e.st.GetCredential(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Revoked() || !got.Compromised() {
		t.Errorf("key revoked=%v compromised=%v, want both", got.Revoked(), got.Compromised())
	}
	evs := e.audit(t, c.ID)
	if len(evs) != 1 {
		t.Fatalf("%d reported events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Action != secretscan.ActionRevoke || ev.Reason != "leaked" || ev.PartnerID != "acme" ||
		ev.Detail["reporter"] != "github" || ev.Detail["url"] != "https://github.com/o/r/blob/abc/config.yml" || ev.Detail["source"] != "content" {
		t.Errorf("audit event = %+v", ev)
	}
	if n := e.leaked.Load(); n != 1 {
		t.Errorf("leaked counter = %d, want 1", n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"leaked key revoked"`) || !strings.Contains(logs, c.ID) || !strings.Contains(logs, `"partner_id":"acme"`) {
		t.Errorf("no WARN line naming the key and partner:\n%s", logs)
	}
	e.assertNoSecret(t, reply)
}

func TestRefusedReportsChangeNothing(t *testing.T) {
	gh := newSigner(t, "gh-1")
	other := newSigner(t, "gh-1") // same identifier, another key
	tests := []struct {
		name    string
		program string
		headers func(t *testing.T, b []byte) (map[string]string, []byte)
		want    int
	}{
		{"bad-signature", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			return githubHeaders(t, other, b), b
		}, http.StatusUnauthorized},
		{"signature-not-base64", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			return map[string]string{"Github-Public-Key-Identifier": gh.id, "Github-Public-Key-Signature": "%%%"}, b
		}, http.StatusUnauthorized},
		{"wrong-key-identifier", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			h := githubHeaders(t, gh, b)
			h["Github-Public-Key-Identifier"] = "gh-unknown"
			return h, b
		}, http.StatusUnauthorized},
		{"tampered-body", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			h := githubHeaders(t, gh, b)
			tampered := bytes.Clone(b)
			i := bytes.Index(tampered, []byte("blob"))
			tampered[i] = 'B' // one byte changed after signing
			return h, tampered
		}, http.StatusUnauthorized},
		{"missing-signature-header", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			h := githubHeaders(t, gh, b)
			delete(h, "Github-Public-Key-Signature")
			return h, b
		}, http.StatusUnauthorized},
		{"missing-identifier-header", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			h := githubHeaders(t, gh, b)
			delete(h, "Github-Public-Key-Identifier")
			return h, b
		}, http.StatusUnauthorized},
		{"unsigned", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			return nil, b
		}, http.StatusUnauthorized},
		{"github-headers-on-gitlab-route", "gitlab", func(t *testing.T, b []byte) (map[string]string, []byte) {
			return githubHeaders(t, gh, b), b
		}, http.StatusUnauthorized},
		{"re-serialised-json", "github", func(t *testing.T, b []byte) (map[string]string, []byte) {
			// The same matches with other whitespace: the signature is
			// over bytes, not over what they decode to.
			var v any
			_ = json.Unmarshal(b, &v)
			indented, _ := json.MarshalIndent(v, "", "  ")
			return githubHeaders(t, gh, b), indented
		}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, gh)
			tok, c := e.issue(t, false)
			b := body(t, report{Token: tok, Type: "partnergate_api_key", URL: "https://github.com/o/r/blob/abc/x", Source: "content"})
			before := e.state(t, c.ID)
			h, sent := tc.headers(t, b)
			code, reply := e.post(t, tc.program, sent, h)
			if code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
			after := e.state(t, c.ID)
			if !after.same(before) {
				t.Errorf("a refused report changed something: before %+v after %+v", before, after)
			}
			if !strings.Contains(e.logs.String(), `"msg":"secret scanning: report refused"`) {
				t.Error("the refusal is not logged")
			}
			e.assertNoSecret(t, reply)
		})
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	gh := newSigner(t, "gh-1")
	e := newEnv(t, gh)
	tok, c := e.issue(t, false)
	rs := []report{{Token: tok, Type: "partnergate_api_key", URL: "https://github.com/o/r", Source: "content"}}
	pad := strings.Repeat("x", 1024)
	for len(rs)*1024 < secretscan.DefaultMaxBody+1024 {
		rs = append(rs, report{Token: "pg_test_nope", Type: "t", URL: pad, Source: "content"})
	}
	b := body(t, rs...)
	before := e.state(t, c.ID)
	code, _ := e.post(t, "github", b, githubHeaders(t, gh, b))
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", code)
	}
	if after := e.state(t, c.ID); !after.same(before) {
		t.Errorf("an oversized report changed something: before %+v after %+v", before, after)
	}
}

func TestUnknownIdentifierRefreshesOnce(t *testing.T) {
	old, next := newSigner(t, "gh-old"), newSigner(t, "gh-next")
	e := newEnv(t, old)
	if err := e.github.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, c := e.issue(t, false)
	b := body(t, report{Token: tok, Type: "partnergate_api_key", URL: "https://github.com/o/r", Source: "content"})

	// GitHub starts signing with a key published after our fetch.
	e.keys.set(false, old, next)
	fetches := e.github.Fetches()
	code, _ := e.post(t, "github", b, githubHeaders(t, next, b))
	if code != http.StatusOK {
		t.Fatalf("status %d, want 200 after one refresh", code)
	}
	if n := e.github.Fetches() - fetches; n != 1 {
		t.Errorf("%d fetches for one unknown identifier, want 1", n)
	}
	if got, _ := e.st.GetCredential(context.Background(), c.ID); !got.Revoked() {
		t.Error("the report signed with the new key did not revoke")
	}

	t.Run("a-flood-of-unknown-identifiers-costs-no-more-fetches", func(t *testing.T) {
		fetches := e.github.Fetches()
		for i := range 20 {
			h := githubHeaders(t, next, b)
			h["Github-Public-Key-Identifier"] = fmt.Sprintf("made-up-%d", i)
			if code, _ := e.post(t, "github", b, h); code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
		}
		if n := e.github.Fetches() - fetches; n != 0 {
			t.Errorf("%d fetches within MinRefresh, want 0", n)
		}
		e.clock.Advance(secretscan.DefaultMinRefresh)
		h := githubHeaders(t, next, b)
		h["Github-Public-Key-Identifier"] = "made-up-later"
		e.post(t, "github", b, h)
		if n := e.github.Fetches() - fetches; n != 1 {
			t.Errorf("%d fetches after MinRefresh, want 1", n)
		}
	})

	t.Run("an-outage-keeps-the-last-good-keys", func(t *testing.T) {
		e.keys.set(true)
		if err := e.github.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh succeeded against a failing key server")
		}
		tok2, c2 := e.issue(t, false)
		b2 := body(t, report{Token: tok2, Type: "partnergate_api_key", URL: "https://github.com/o/r", Source: "content"})
		if code, reply := e.post(t, "github", b2, githubHeaders(t, old, b2)); code != http.StatusOK {
			t.Fatalf("status %d %s during the key server's outage, want 200", code, reply)
		}
		if got, _ := e.st.GetCredential(context.Background(), c2.ID); !got.Revoked() {
			t.Error("not revoked during the outage")
		}
	})
}

func TestReplayIsIdempotent(t *testing.T) {
	gl := newSigner(t, "gl-1")
	e := newEnv(t, gl)
	tok, c := e.issue(t, false)
	// GitLab's shape: no source.
	b := []byte(fmt.Sprintf(`[{"type":"partnergate_api_key","token":%q,"url":"https://gitlab.com/o/r/-/blob/main/x"}]`, tok))
	h := map[string]string{"Gitlab-Public-Key-Identifier": gl.id, "Gitlab-Public-Key-Signature": gl.sign(t, b)}
	var replies [][]byte
	for range 2 {
		code, reply := e.post(t, "gitlab", b, h)
		if code != http.StatusOK {
			t.Fatalf("status %d %s, want 200", code, reply)
		}
		if fb := feedback(t, reply); len(fb) != 1 || fb[0].Label != secretscan.TruePositive {
			t.Errorf("feedback = %+v, want true_positive", fb)
		}
		replies = append(replies, reply)
	}
	evs := e.audit(t, c.ID)
	var revokes, sightings int
	for _, ev := range evs {
		switch ev.Action {
		case secretscan.ActionRevoke:
			revokes++
		case secretscan.ActionSighting:
			sightings++
		}
		if ev.Detail["reporter"] != "gitlab" || ev.Detail["url"] != "https://gitlab.com/o/r/-/blob/main/x" {
			t.Errorf("event %+v does not name the reporter and url", ev)
		}
	}
	if revokes != 1 || len(evs) != 2 || sightings != 1 {
		t.Errorf("%d revocations and %d sightings in %d events, want 1 revocation among 2 sightings", revokes, sightings, len(evs))
	}
	if n := e.leaked.Load(); n != 1 {
		t.Errorf("leaked counter = %d, want 1", n)
	}
	e.assertNoSecret(t, replies...)
}

func TestBatchOfAThousandIsLabelledRight(t *testing.T) {
	gh := newSigner(t, "gh-1")
	e := newEnv(t, gh)
	foreignFormat, err := apikey.NewFormat("other_live_")
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		token string
		label string
		id    string
		live  bool
	}
	var items []item
	for i := range 1000 {
		switch i % 5 {
		case 0: // live
			tok, c := e.issue(t, false)
			items = append(items, item{tok, secretscan.TruePositive, c.ID, true})
		case 1: // already revoked
			tok, c := e.issue(t, true)
			items = append(items, item{tok, secretscan.TruePositive, c.ID, false})
		case 2: // another issuer's key
			k, _ := foreignFormat.Generate(nil)
			items = append(items, item{k.Reveal(), secretscan.FalsePositive, "", false})
		case 3:
			if i%10 == 3 { // our format and checksum, an id we never issued
				k, _ := e.format.Generate(nil)
				items = append(items, item{k.Reveal(), secretscan.FalsePositive, "", false})
				break
			}
			// A live key's id with another secret and a right checksum:
			// only the digest tells it from the key.
			_, c := e.issue(t, false)
			items = append(items, item{withID(t, e.format, c.ID), secretscan.FalsePositive, c.ID, false})
		case 4: // random look-alike: a live key with its checksum broken
			tok, c := e.issue(t, false)
			broken := tok[:len(tok)-1] + "0"
			if tok[len(tok)-1] == '0' {
				broken = tok[:len(tok)-1] + "1"
			}
			items = append(items, item{broken, secretscan.FalsePositive, c.ID, false})
		}
	}
	rs := make([]report, len(items))
	for i, it := range items {
		rs[i] = report{Token: it.token, Type: "partnergate_api_key", URL: fmt.Sprintf("https://github.com/o/r/blob/x/%d", i), Source: "commit"}
		e.remember(it.token)
	}
	b := body(t, rs...)
	code, reply := e.post(t, "github", b, githubHeaders(t, gh, b))
	if code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	fb := feedback(t, reply)
	if len(fb) != len(items) {
		t.Fatalf("%d feedback entries, want %d", len(fb), len(items))
	}
	var revoked int64
	for i, it := range items {
		if fb[i].Label != it.label || fb[i].TokenHash != tokenHash(it.token) {
			t.Errorf("item %d (%d mod 5): %+v, want %s", i, i%5, fb[i], it.label)
		}
		if it.id == "" {
			continue
		}
		c, err := e.st.GetCredential(context.Background(), it.id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case it.label == secretscan.TruePositive && (!c.Revoked() || !c.Compromised()):
			t.Errorf("item %d: a reported key of ours is not revoked and compromised", i)
		case it.label == secretscan.FalsePositive && c.Revoked():
			t.Errorf("item %d: a false positive revoked key %s", i, it.id)
		}
		if it.live {
			revoked++
		}
	}
	if n := e.leaked.Load(); n != revoked {
		t.Errorf("leaked counter = %d, want %d", n, revoked)
	}
	e.assertNoSecret(t, reply)
}

// withID returns a well-formed key of f with the given id and a random
// secret: Generate reads the id from the first 64 bytes it is given.
func withID(t *testing.T, f apikey.Format, id string) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	first := make([]byte, 64)
	for i := range id {
		first[i] = byte(strings.IndexByte(alphabet, id[i]))
	}
	k, err := f.Generate(io.MultiReader(bytes.NewReader(first), rand.Reader))
	if err != nil || k.ID() != id {
		t.Fatalf("withID: %v, id %q", err, k.ID())
	}
	return k.Reveal()
}

func TestRoutes(t *testing.T) {
	gh := newSigner(t, "gh-1")
	e := newEnv(t, gh)
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"get-is-refused", http.MethodGet, "/secret-scanning/github", http.StatusMethodNotAllowed},
		{"unknown-program", http.MethodPost, "/secret-scanning/bitbucket", http.StatusNotFound},
		{"nothing-else-is-served", http.MethodGet, "/metrics", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader("[]"))
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
