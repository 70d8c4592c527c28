package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// declaration is the file partnergate apply reads and export writes.
// Key secrets never appear in it: keys are issued with key issue.
type declaration struct {
	Partners []declaredPartner `yaml:"partners" json:"partners"`
}

type declaredPartner struct {
	ID    string `yaml:"id" json:"id"`
	Tier  string `yaml:"tier,omitempty" json:"tier,omitempty"`
	State string `yaml:"state,omitempty" json:"state,omitempty"`
	// Scopes are the grants.
	Scopes     []string         `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	AllowCIDRs []string         `yaml:"allow_cidrs,omitempty" json:"allow_cidrs,omitempty"`
	Limits     *declaredLimits  `yaml:"limits,omitempty" json:"limits,omitempty"`
	Clients    []declaredClient `yaml:"clients,omitempty" json:"clients,omitempty"`
}

type declaredLimits struct {
	PerSecond *int64 `yaml:"per_second,omitempty" json:"per_second,omitempty"`
	PerMinute *int64 `yaml:"per_minute,omitempty" json:"per_minute,omitempty"`
	PerDay    *int64 `yaml:"per_day,omitempty" json:"per_day,omitempty"`
}

type declaredClient struct {
	Issuer   string `yaml:"issuer" json:"issuer"`
	ClientID string `yaml:"client_id" json:"client_id"`
}

// readDeclaration decodes a declaration strictly: an unknown field, a
// second document or a partner declared twice is an error naming its
// line.
func readDeclaration(r io.Reader) (*declaration, error) {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: declare partners: [...]")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line %d: one document only", extra.Line)
	}
	var d declaration
	strict := yaml.NewDecoder(bytes.NewReader(b))
	strict.KnownFields(true) // a misspelt field is an error, not a silent default
	if err := strict.Decode(&d); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) { // one line per error: keep them all on one
			return nil, errors.New(strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	lines := partnerLines(&root)
	seen := map[string]int{}
	for i, p := range d.Partners {
		if p.ID == "" {
			return nil, fmt.Errorf("line %d: partners[%d]: id is required", lineOf(lines, i), i)
		}
		if first, dup := seen[p.ID]; dup {
			return nil, fmt.Errorf("line %d: partner %q is declared twice (first at line %d)", lineOf(lines, i), p.ID, lineOf(lines, first))
		}
		seen[p.ID] = i
	}
	return &d, nil
}

// partnerLines returns the line of each entry of the partners list.
func partnerLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "partners" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}

func lineOf(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

func (p declaredPartner) spec() *adminv1.PartnerSpec {
	s := &adminv1.PartnerSpec{Id: p.ID, Tier: p.Tier, State: p.State, Scopes: p.Scopes, AllowCidrs: p.AllowCIDRs}
	if p.Limits != nil {
		s.Limits = &adminv1.Limits{PerSecond: p.Limits.PerSecond, PerMinute: p.Limits.PerMinute, PerDay: p.Limits.PerDay}
	}
	for _, c := range p.Clients {
		s.Clients = append(s.Clients, &adminv1.ClientRef{Issuer: c.Issuer, ClientId: c.ClientID})
	}
	return s
}

// applyResult is what apply reports, as --output json prints it.
type applyResult struct {
	DryRun   bool           `json:"dry_run"`
	Partners []partnerPlan  `json:"partners"`
	Pruned   []prunedResult `json:"pruned"`
}

type partnerPlan struct {
	ID      string        `json:"id"`
	Action  string        `json:"action"` // create, update, unchanged
	Changes []fieldChange `json:"changes"`
}

type fieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

type prunedResult struct {
	ID     string `json:"id"`
	Action string `json:"action"` // suspend, delete
}

// Prune modes of apply --prune.
const (
	pruneOff     = ""
	pruneSuspend = "suspend"
	pruneDelete  = "delete"
)

func (a *app) applyCmd() *cobra.Command {
	var (
		file, prune, reason string
		dryRun              bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune[=delete]]",
		Short: "Make partners what a declaration file says",
		Long: `Make every partner declared in FILE ("-" for standard input) what it says:
tier, grants (scopes), state, source allow-list, rate limits and OAuth
clients, each partner in one audited transaction. Keys are not declared: the
file never holds a secret; issue keys with "key issue".

An omitted field means none (no grants, no limits, no clients), except state:
an omitted state keeps the partner's, so an apply never lifts a suspension.
--dry-run prints the changes and makes none. --prune suspends the partners
absent from the file; --prune=delete deletes them, revoking their keys and
clients. Unknown fields are refused, naming the line.`,
		Args: exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("%s: -f FILE is required", cmd.CommandPath())
			}
			switch prune {
			case pruneOff, pruneSuspend, pruneDelete:
			default:
				return usageErrorf("%s: --prune takes no value or =delete, not %q", cmd.CommandPath(), prune)
			}
			d, err := a.openDeclaration(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				res, err := apply(ctx, c, d, dryRun, prune, reason)
				if err != nil {
					return err
				}
				return a.printApply(res)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `declaration file (YAML), or "-" for standard input`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes without making them")
	cmd.Flags().StringVar(&prune, "prune", "", "suspend partners absent from the file; --prune=delete deletes them")
	cmd.Flags().Lookup("prune").NoOptDefVal = pruneSuspend
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail (such as the commit)")
	return cmd
}

func (a *app) openDeclaration(stdin io.Reader, file string) (*declaration, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	d, err := readDeclaration(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return d, nil
}

// apply applies d partner by partner (or, dry, asks what each would
// change), then prunes.
func apply(ctx context.Context, c adminv1.AdminClient, d *declaration, dry bool, prune, reason string) (*applyResult, error) {
	res := &applyResult{DryRun: dry, Partners: []partnerPlan{}, Pruned: []prunedResult{}}
	declared := map[string]bool{}
	for _, p := range d.Partners {
		declared[p.ID] = true
		resp, err := c.ApplyPartner(ctx, &adminv1.ApplyPartnerRequest{Spec: p.spec(), DryRun: dry, Reason: reason})
		if err != nil {
			return nil, fmt.Errorf("partner %q: %w", p.ID, err)
		}
		plan := partnerPlan{ID: p.ID, Action: resp.GetAction(), Changes: []fieldChange{}}
		for _, ch := range resp.GetChanges() {
			plan.Changes = append(plan.Changes, fieldChange{Field: ch.GetField(), Old: ch.GetOld(), New: ch.GetNew()})
		}
		res.Partners = append(res.Partners, plan)
	}
	if prune == pruneOff {
		return res, nil
	}
	list, err := c.ListPartners(ctx, &adminv1.ListPartnersRequest{})
	if err != nil {
		return nil, err
	}
	for _, p := range list.GetPartners() {
		if declared[p.GetId()] || p.GetState() == "deleted" || (prune == pruneSuspend && p.GetState() == "suspended") {
			continue
		}
		res.Pruned = append(res.Pruned, prunedResult{ID: p.GetId(), Action: prune})
		if dry {
			continue
		}
		why := strings.TrimSpace("absent from the declaration (apply --prune) " + reason)
		if prune == pruneDelete {
			_, err = c.DeletePartner(ctx, &adminv1.DeletePartnerRequest{Id: p.GetId(), RevokeAll: true, Reason: why})
		} else {
			_, err = c.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: p.GetId(), Reason: why})
		}
		if err != nil {
			return nil, fmt.Errorf("pruning partner %q: %w", p.GetId(), err)
		}
	}
	return res, nil
}

func (a *app) printApply(res *applyResult) error {
	if a.output == "json" || a.output == "jsonl" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if a.output == "json" {
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				return err
			}
			b = out.Bytes()
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	}
	w := a.stdout
	verb := map[string]string{"create": "created", "update": "updated", "suspend": "suspended", "delete": "deleted"}
	if res.DryRun {
		verb = map[string]string{"create": "would create", "update": "would update", "suspend": "would suspend", "delete": "would delete"}
	}
	var counts [3]int
	for _, p := range res.Partners {
		switch p.Action {
		case "unchanged":
			counts[2]++
			continue
		case "create":
			counts[0]++
		default:
			counts[1]++
		}
		fmt.Fprintf(w, "%s partner %s\n", verb[p.Action], p.ID)
		for _, ch := range p.Changes {
			fmt.Fprintf(w, "  %s: %s -> %s\n", ch.Field, orNone(ch.Old), orNone(ch.New))
		}
	}
	for _, p := range res.Pruned {
		fmt.Fprintf(w, "%s partner %s (absent from the file)\n", verb[p.Action], p.ID)
	}
	_, err := fmt.Fprintf(w, "%d to create, %d to update, %d unchanged, %d to prune%s\n",
		counts[0], counts[1], counts[2], len(res.Pruned), map[bool]string{true: " (dry run: nothing changed)", false: ""}[res.DryRun])
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (a *app) exportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Print every partner as an apply declaration (YAML)",
		Long: `Print every partner that is not deleted in the format partnergate apply
reads: export, edit, apply. Keys are not exported; nothing secret is.`,
		Args: exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				d, err := export(ctx, c)
				if err != nil {
					return err
				}
				if a.output == "json" {
					b, err := json.MarshalIndent(d, "", "  ")
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(a.stdout, "%s\n", b)
					return err
				}
				enc := yaml.NewEncoder(a.stdout)
				enc.SetIndent(2)
				if err := enc.Encode(d); err != nil {
					return err
				}
				return enc.Close()
			})
		},
	}
}

func export(ctx context.Context, c adminv1.AdminClient) (*declaration, error) {
	list, err := c.ListPartners(ctx, &adminv1.ListPartnersRequest{})
	if err != nil {
		return nil, err
	}
	d := &declaration{Partners: []declaredPartner{}}
	for _, p := range list.GetPartners() {
		if p.GetState() == "deleted" {
			continue
		}
		dp := declaredPartner{ID: p.GetId(), Tier: p.GetTier(), State: p.GetState(), Scopes: p.GetScopes(), AllowCIDRs: p.GetAllowCidrs()}
		if l := p.GetLimits(); l != nil {
			dp.Limits = &declaredLimits{PerSecond: proto.Int64(l.GetPerSecond()), PerMinute: proto.Int64(l.GetPerMinute()), PerDay: proto.Int64(l.GetPerDay())}
			if l.PerSecond == nil {
				dp.Limits.PerSecond = nil
			}
			if l.PerMinute == nil {
				dp.Limits.PerMinute = nil
			}
			if l.PerDay == nil {
				dp.Limits.PerDay = nil
			}
		}
		cs, err := c.ListClients(ctx, &adminv1.ListClientsRequest{PartnerId: p.GetId()})
		if err != nil {
			return nil, fmt.Errorf("partner %q: %w", p.GetId(), err)
		}
		for _, cl := range cs.GetClients() {
			dp.Clients = append(dp.Clients, declaredClient{Issuer: cl.GetIssuer(), ClientID: cl.GetClientId()})
		}
		d.Partners = append(d.Partners, dp)
	}
	return d, nil
}
