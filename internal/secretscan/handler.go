package secretscan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
)

// Keys is what the endpoint needs of the store: the credential by its
// public id, an update that commits with its audit event and a
// change-feed entry, and an audit event alone.
type Keys interface {
	GetCredential(ctx context.Context, id string) (*partner.Credential, error)
	UpdateCredential(ctx context.Context, c *partner.Credential, ev partner.AuditEvent) error
	RecordAudit(ctx context.Context, ev partner.AuditEvent) error
}

// Program is one secret-scanning partner program: where its reports
// arrive and the headers that carry its signature.
type Program struct {
	// Name is "github" or "gitlab": the route's last segment, the audit
	// trail's reporter and the metric's attribute.
	Name string
	// IDHeader and SignatureHeader name the public key identifier and the
	// signature.
	IDHeader, SignatureHeader string
	// Keys holds the program's public keys.
	Keys *KeySet
}

// GitHub and GitLab return the two programs with their headers.
func GitHub(keys *KeySet) Program {
	return Program{Name: "github", IDHeader: "Github-Public-Key-Identifier", SignatureHeader: "Github-Public-Key-Signature", Keys: keys}
}

// GitLab returns GitLab's program; see [GitHub].
func GitLab(keys *KeySet) Program {
	return Program{Name: "gitlab", IDHeader: "Gitlab-Public-Key-Identifier", SignatureHeader: "Gitlab-Public-Key-Signature", Keys: keys}
}

// Labels of the feedback reply.
const (
	TruePositive  = "true_positive"
	FalsePositive = "false_positive"
)

// Audit actions and the revocation reason.
const (
	// ActionRevoke is the first report of a live key: it is revoked.
	ActionRevoke = "key.revoke"
	// ActionSighting is a report of a key already revoked.
	ActionSighting = "key.leak_sighting"
	// ReasonLeaked is the revocation reason.
	ReasonLeaked = "leaked"
	// AuthMethod is how the reporter proved who it is.
	AuthMethod = "secret_scanning_signature"
)

// DefaultMaxBody caps a report's body: a thousand matches are about
// 250 KiB.
const DefaultMaxBody = 4 << 20

// Bounds of the reporter-supplied fields the audit trail keeps.
const (
	maxURL    = 2048
	maxSource = 64
	maxType   = 128
	maxKeyID  = 256 // of a logged public key identifier
)

// Handler serves POST /secret-scanning/{github,gitlab}.
type Handler struct {
	// Programs are the programs served, by Name.
	Programs []Program
	Keys     Keys
	Format   apikey.Format
	Hasher   *apikey.Hasher
	// Sync, if set, is called once after a report changed anything, so
	// this replica's cache has applied the revocations before the reply.
	Sync func(ctx context.Context) error
	// Leaked, if set, counts one revoked leaked key by reporter (the
	// Reporter's Name) and partner.
	Leaked func(reporter, partnerID string)
	// MaxBody caps the body (default DefaultMaxBody); larger is 413.
	MaxBody int64
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Prefix is the path every route starts with.
const Prefix = "/secret-scanning/"

// Match is one reported token and where it was found: an entry of a
// program's report.
type Match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Reporter is who reports tokens, as the audit trail records it.
type Reporter struct {
	// Name is the audit detail's reporter, and the program [Handler.Leaked]
	// counts: a [Program]'s Name, or another reporter such as the CLI.
	Name string
	// Actor, AuthMethod, Source and Note are the audit event's: the
	// verified identity, how it proved it, where it called from, and an
	// optional note.
	Actor, AuthMethod, Source, Note string
}

// Result is what became of one reported token. It never holds the token.
type Result struct {
	// KeyID is the key id the token names, if it has the key format and a
	// right checksum; empty otherwise.
	KeyID string
	// Label is [TruePositive] if the token is the key of a credential of
	// ours, else [FalsePositive].
	Label string
	// Revoked reports whether this report revoked a live key.
	Revoked bool
	// AlreadyRevoked reports whether the key was revoked before.
	AlreadyRevoked bool
}

// Feedback is one entry of the reply: GitHub's token_hash form, never
// token_raw.
type Feedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var prog *Program
	for i := range h.Programs {
		if r.URL.Path == Prefix+h.Programs[i].Name {
			prog = &h.Programs[i]
		}
	}
	if prog == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.refuse(w, r, prog, http.StatusRequestEntityTooLarge, "body over the size cap", "")
		return
	case err != nil:
		h.refuse(w, r, prog, http.StatusBadRequest, "body unreadable", "")
		return
	}
	id, sig := r.Header.Get(prog.IDHeader), r.Header.Get(prog.SignatureHeader)
	if id == "" || sig == "" {
		h.refuse(w, r, prog, http.StatusUnauthorized, "signature headers missing", id)
		return
	}
	if err := prog.Keys.Verify(r.Context(), id, sig, body); err != nil {
		h.refuse(w, r, prog, http.StatusUnauthorized, err.Error(), id)
		return
	}
	var matches []Match
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&matches); err != nil || dec.More() {
		h.refuse(w, r, prog, http.StatusBadRequest, "body is not a JSON array of matches", id)
		return
	}
	res, changed, err := h.Report(r.Context(), Reporter{
		Name: prog.Name, Actor: prog.Name + "-secret-scanning", AuthMethod: AuthMethod, Source: clientIP(r),
	}, matches)
	if changed && h.Sync != nil {
		if serr := h.Sync(r.Context()); serr != nil {
			// Committed: the change feed carries it to this cache too.
			h.logger().Warn("secret scanning: revocation committed but cache sync failed", "err", serr)
		}
	}
	if err != nil {
		// A store fault: the programs retry, and a retry is harmless.
		h.logger().Error("secret scanning: report not fully handled; the program will retry", "program", prog.Name, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	out := make([]Feedback, len(matches))
	for i, m := range matches {
		sum := sha256.Sum256([]byte(m.Token))
		out[i] = Feedback{TokenHash: hex.EncodeToString(sum[:]), TokenType: m.Type, Label: res[i].Label}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// refuse answers status and logs why, with the key identifier (public,
// bounded) and never the body or a token.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, prog *Program, status int, why, keyID string) {
	if len(keyID) > maxKeyID {
		keyID = keyID[:maxKeyID] + "…"
	}
	h.logger().Warn("secret scanning: report refused", "program", prog.Name, "status", status,
		"why", why, "key_identifier", keyID, "from", clientIP(r))
	http.Error(w, http.StatusText(status), status)
}

// Report handles reported tokens one by one, in order: a token that is
// the key of a credential of ours is a true positive, and the key is
// revoked with reason "leaked" and marked compromised if it is not yet,
// or gets a sighting in the audit trail; anything else is a false
// positive and changes nothing. It returns one [Result] per match, in
// order, and whether anything was committed; it stops at the first store
// fault, reporting whether anything was committed before it. Report does
// not call Sync: the caller brings its cache up to date.
//
// The secretscan HTTP endpoint and the admin API both revoke leaked keys
// through Report, so a report is judged the same way whoever sends it.
func (h *Handler) Report(ctx context.Context, rep Reporter, matches []Match) (out []Result, changed bool, err error) {
	out = make([]Result, 0, len(matches))
	for _, m := range matches {
		res := Result{Label: FalsePositive}
		var c *partner.Credential
		res.KeyID, c, err = h.find(ctx, m.Token)
		if err != nil {
			return nil, changed, err
		}
		if c != nil {
			res.Label = TruePositive
			revoked, wrote, err := h.report(ctx, rep, c, m)
			changed = changed || wrote
			if err != nil {
				return nil, changed, err
			}
			res.Revoked, res.AlreadyRevoked = revoked, !revoked
		}
		out = append(out, res)
	}
	return out, changed, nil
}

// find returns the credential token is the key of, or nil if it is not a
// key of ours: the format and checksum first, then the stored digest,
// compared in constant time. keyID is the id the token names if it
// parses.
func (h *Handler) find(ctx context.Context, token string) (keyID string, _ *partner.Credential, _ error) {
	key, err := h.Format.Parse(token)
	if err != nil {
		return "", nil, nil // a look-alike: costs no look-up
	}
	c, err := h.Keys.GetCredential(ctx, key.ID())
	if errors.Is(err, partner.ErrNotFound) {
		return key.ID(), nil, nil
	}
	if err != nil {
		return key.ID(), nil, fmt.Errorf("key %s: %w", key.ID(), err)
	}
	ok, err := h.Hasher.Verify(key, c.Digest, c.PepperVersion)
	if errors.Is(err, apikey.ErrUnknownPepper) {
		h.logger().Warn("secret scanning: reported key has a pepper this server lacks; not revoked", "key_id", c.ID, "pepper_version", c.PepperVersion)
		return key.ID(), nil, nil
	}
	if err != nil || !ok {
		return key.ID(), nil, nil // right id, wrong secret: not the key
	}
	return key.ID(), c, nil
}

// writeAttempts bounds retries of a write that lost an optimistic race.
const writeAttempts = 3

// report revokes c if it is not revoked yet, marks it compromised, and
// records the sighting; it reports whether it revoked c and whether a
// change-feed write happened.
func (h *Handler) report(ctx context.Context, rep Reporter, c *partner.Credential, m Match) (revoked, wrote bool, err error) {
	for attempt := 1; ; attempt++ {
		now := h.now()
		ev := partner.AuditEvent{
			At: now, Actor: rep.Actor, AuthMethod: rep.AuthMethod, Source: rep.Source, Note: rep.Note,
			PartnerID: c.PartnerID, CredentialID: c.ID, Reason: ReasonLeaked,
			Detail: map[string]string{
				"reporter": rep.Name,
				"url":      bound(m.URL, maxURL),
				"source":   strings.ToLower(bound(m.Source, maxSource)),
				"type":     bound(m.Type, maxType),
			},
		}
		switch {
		case !c.Revoked():
			ev.Action = ActionRevoke
			c.RevokedAt = now
			if !c.Compromised() {
				c.CompromisedAt = now
			}
			err = h.Keys.UpdateCredential(ctx, c, ev)
		case !c.Compromised():
			ev.Action = ActionSighting // revoked before, for another reason
			c.CompromisedAt = now
			err = h.Keys.UpdateCredential(ctx, c, ev)
		default:
			ev.Action = ActionSighting
			return false, false, h.Keys.RecordAudit(ctx, ev)
		}
		if errors.Is(err, partner.ErrConflict) && attempt < writeAttempts {
			if c, err = h.Keys.GetCredential(ctx, c.ID); err != nil {
				return false, false, err
			}
			continue
		}
		if err != nil {
			return false, false, err
		}
		if ev.Action == ActionRevoke {
			h.logger().Warn("leaked key revoked", "key_id", c.ID, "partner_id", c.PartnerID,
				"program", rep.Name, "url", ev.Detail["url"], "source", ev.Detail["source"])
			if h.Leaked != nil {
				h.Leaked(rep.Name, c.PartnerID)
			}
		}
		return ev.Action == ActionRevoke, true, nil
	}
}

// bound cuts s to at most n bytes, on a rune boundary.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
