package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// SecretWarning follows every secret in text output.
const SecretWarning = "Store this secret now: it will not be shown again."

// print writes resp as one JSON object with --output json, else as text
// drawn by text into an aligned table.
func (a *app) print(resp proto.Message, text func(*table)) error {
	switch a.output {
	case "json":
		return printJSON(a.stdout, resp)
	case "jsonl":
		return printJSONLine(a.stdout, resp)
	}
	t := &table{w: tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)}
	text(t)
	return t.flush(a.stdout)
}

// printJSON writes msg as one indented JSON object. protojson varies its
// whitespace on purpose; re-indenting makes the output stable for diffs
// and scripts.
func printJSON(w io.Writer, msg proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// printJSONLine writes msg as compact JSON on one line.
func printJSONLine(w io.Writer, msg proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// printLines writes each item as one JSON line: the jsonl form of a list.
func printLines[M proto.Message](w io.Writer, items []M) error {
	for _, m := range items {
		if err := printJSONLine(w, m); err != nil {
			return err
		}
	}
	return nil
}

// table accumulates aligned rows, and lines printed after them.
type table struct {
	w     *tabwriter.Writer
	after []string
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush(w io.Writer) error {
	if err := t.w.Flush(); err != nil {
		return err
	}
	for _, l := range t.after {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func (t *table) partner(p *adminv1.Partner) {
	t.row("ID", p.GetId())
	t.row("TIER", p.GetTier())
	t.row("LIMITS", limits(p.GetLimits()))
	t.row("STATE", p.GetState())
	t.row("SCOPES", strings.Join(p.GetScopes(), " "))
	if len(p.GetAllowCidrs()) > 0 {
		t.row("ALLOW FROM", strings.Join(p.GetAllowCidrs(), ","))
	}
	t.row("CREATED", stamp(p.GetCreatedAt()))
	t.row("UPDATED", stamp(p.GetUpdatedAt()))
	if p.GetDeletedAt() != nil {
		t.row("DELETED", stamp(p.GetDeletedAt()))
	}
}

func (t *table) partners(ps []*adminv1.Partner) {
	t.row("ID", "TIER", "LIMITS", "STATE", "SCOPES", "CREATED")
	for _, p := range ps {
		t.row(p.GetId(), p.GetTier(), limits(p.GetLimits()), p.GetState(), strings.Join(p.GetScopes(), " "), stamp(p.GetCreatedAt()))
	}
}

func (t *table) key(k *adminv1.Key) {
	t.row("ID", k.GetId())
	t.row("PARTNER", k.GetPartnerId())
	t.row("NAME", k.GetName())
	t.row("STATE", k.GetState())
	t.row("SCOPES", strings.Join(k.GetScopes(), " "))
	if len(k.GetAllowCidrs()) > 0 {
		t.row("ALLOW FROM", strings.Join(k.GetAllowCidrs(), ","))
	}
	t.row("CREATED", stamp(k.GetCreatedAt()))
	t.row("EXPIRES", stamp(k.GetExpiresAt()))
	if k.GetRevokedAt() != nil {
		t.row("REVOKED", stamp(k.GetRevokedAt()))
	}
	if k.GetRotatedFrom() != "" {
		t.row("ROTATED FROM", k.GetRotatedFrom())
	}
	if k.GetLastRotatedAt() != nil {
		t.row("LAST ROTATED", stamp(k.GetLastRotatedAt()))
	}
	t.row("LAST USED", stamp(k.GetLastUsedAt()))
	if k.GetLastUsedFrom() != "" {
		t.row("LAST USED FROM", k.GetLastUsedFrom())
	}
}

// secret adds the secret row and, after the table, the warning that it is
// shown once.
func (t *table) secret(s string) {
	t.row("SECRET", s)
	t.after = append(t.after, "", SecretWarning)
}

func (t *table) keys(ks []*adminv1.Key) {
	t.row("ID", "NAME", "STATE", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "FROM")
	for _, k := range ks {
		state := k.GetState()
		if k.GetCompromisedAt() != nil {
			state += " (compromised)"
		}
		t.row(k.GetId(), k.GetName(), state, strings.Join(k.GetScopes(), " "),
			stamp(k.GetCreatedAt()), stamp(k.GetExpiresAt()), stamp(k.GetLastUsedAt()), k.GetLastUsedFrom())
	}
}

// foundKeys is the view of live keys across partners, by expiry.
func (t *table) foundKeys(ks []*adminv1.Key) {
	t.row("ID", "PARTNER", "NAME", "SCOPES", "EXPIRES", "PEPPER", "LAST USED")
	for _, k := range ks {
		t.row(k.GetId(), k.GetPartnerId(), k.GetName(), strings.Join(k.GetScopes(), " "),
			stamp(k.GetExpiresAt()), strconv.Itoa(int(k.GetPepperVersion())), stamp(k.GetLastUsedAt()))
	}
}

// unusedKeys is the stale-keys view: across partners, so the partner is a
// column.
func (t *table) unusedKeys(ks []*adminv1.Key) {
	t.row("ID", "PARTNER", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "FROM")
	for _, k := range ks {
		last := stamp(k.GetLastUsedAt())
		if last == "" {
			last = "never"
		}
		t.row(k.GetId(), k.GetPartnerId(), k.GetName(), strings.Join(k.GetScopes(), " "),
			stamp(k.GetCreatedAt()), stamp(k.GetExpiresAt()), last, k.GetLastUsedFrom())
	}
}

func (t *table) events(evs []*adminv1.AuditEvent) {
	t.row("ID", "TIME", "ACTION", "PARTNER", "KEY", "ACTOR", "AUTH", "REASON", "DETAIL")
	for _, ev := range evs {
		var detail []string
		for _, k := range slices.Sorted(maps.Keys(ev.GetDetail())) {
			v := ev.GetDetail()[k]
			if v == "" || strings.ContainsAny(v, " \"") {
				v = strconv.Quote(v)
			}
			detail = append(detail, k+"="+v)
		}
		t.row(strconv.FormatInt(ev.GetId(), 10), stamp(ev.GetAt()), ev.GetAction(), ev.GetPartnerId(),
			ev.GetKeyId(), ev.GetActor(), ev.GetAuthMethod(), quoted(ev.GetReason()), strings.Join(detail, " "))
	}
}

// quoted quotes a free-text value so its spaces do not read as columns;
// empty stays empty.
func quoted(s string) string {
	if s == "" {
		return ""
	}
	return strconv.Quote(s)
}
