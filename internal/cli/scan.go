package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/keyscan"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// EnvKeyPrefix is the key prefix scan looks for when --key-prefix is not
// given: the server's key_prefix setting.
const EnvKeyPrefix = "PARTNERGATE_KEY_PREFIX"

// scanResult is scan's JSON output: one object.
type scanResult struct {
	Findings []keyscan.Finding `json:"findings"`
	// Revoked maps each key id found to what --revoke did: "revoked",
	// "already_revoked" or "not_a_key" (the server found no key of that
	// id with that secret: a false positive). Of several different tokens
	// with one id, the one that is the key counts. Absent without --revoke.
	Revoked map[string]string `json:"revoked,omitempty"`
	// outcome is what --revoke did to each finding's own token, by index.
	outcome []string
}

// Outcomes of --revoke, best first: of several tokens with one key id, the
// best names the id.
const (
	outcomeRevoked        = "revoked"
	outcomeAlreadyRevoked = "already_revoked"
	outcomeNotAKey        = "not_a_key"
)

var outcomeRank = map[string]int{outcomeRevoked: 3, outcomeAlreadyRevoked: 2, outcomeNotAKey: 1}

// scanCmd finds partner keys in files, offline.
func (a *app) scanCmd() *cobra.Command {
	var (
		prefix string
		revoke bool
	)
	cmd := &cobra.Command{
		Use:   "scan [PATH ...|-]",
		Short: "Find partner API keys in files or standard input, offline; exit 1 if any",
		Long: `Find partner API keys in files, directories (walked recursively, .git skipped)
or standard input ("-"; the default with no PATH), without a server. A key is
reported only if it has the configured prefix, the key format's lengths and
alphabet, and a right checksum, so random look-alikes are not. Binary files
are skipped. It prints FILE:LINE and the key id, never the secret.

With --revoke, every key found is sent, whole, over the admin connection to
the server (this needs ` + EnvAdminToken + ` with the keys.write permission, as
other admin commands do). The server revokes a key with reason "leaked" and
marks it compromised only if the token found is that key: its digest must
match, as a secret-scanning program's report must. A checksum is no proof,
and key ids are public, so a look-alike of a real key id with another secret
is reported "not a key" and changes nothing. A key revoked before is
reported "already revoked" and the sighting is audited.

Exit status:
  0  no key found
  1  keys found (and, with --revoke, revoked), or the scan failed
  2  usage error`,
		RunE: func(cmd *cobra.Command, paths []string) error {
			if !cmd.Flags().Changed("key-prefix") {
				if v := strings.TrimSpace(os.Getenv(EnvKeyPrefix)); v != "" {
					prefix = v
				}
			}
			f, err := apikey.NewFormat(prefix)
			if err != nil {
				return usageErrorf("--key-prefix: %v", err)
			}
			if len(paths) == 0 {
				paths = []string{"-"}
			}
			found, err := keyscan.Scan(cmd.Context(), f, paths, keyscan.Options{
				Stdin: cmd.InOrStdin(),
				Skipped: func(p, why string) {
					if why != "binary" {
						fmt.Fprintf(a.stderr, "partnergate: warning: %s skipped: %s\n", p, oneLine(why))
					}
				},
			})
			if err != nil {
				return err
			}
			res := scanResult{Findings: found}
			if found == nil {
				res.Findings = []keyscan.Finding{}
			}
			if revoke && len(found) > 0 {
				if err := a.revokeFound(cmd, &res); err != nil {
					return err
				}
			}
			if err := a.printScan(res); err != nil {
				return err
			}
			if len(found) > 0 {
				return fmt.Errorf("%d partner key(s) found in %d place(s)", len(res.ids()), len(found))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "key-prefix", apikey.DefaultPrefix, "the server's key_prefix (env "+EnvKeyPrefix+")")
	cmd.Flags().BoolVar(&revoke, "revoke", false, "send the keys found to the admin API, which revokes each that is a live key, with reason leaked")
	return cmd
}

// ids returns the distinct key ids found, sorted.
func (r scanResult) ids() []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.KeyID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// revokeFound sends each distinct token found to ReportLeakedKeys, at
// most [admin.MaxLeakedTokens] a call, and records what the server did to
// each finding and, by the best outcome, to each key id. The server, not
// the scan, decides what is a key: it alone holds the digests.
func (a *app) revokeFound(cmd *cobra.Command, r *scanResult) error {
	var tokens []string
	index := map[string]int{} // token → its index in tokens
	for _, f := range r.Findings {
		if _, ok := index[f.Key.Reveal()]; !ok {
			index[f.Key.Reveal()] = len(tokens)
			tokens = append(tokens, f.Key.Reveal())
		}
	}
	got := make([]string, len(tokens))
	err := a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
		for start := 0; start < len(tokens); start += admin.MaxLeakedTokens {
			batch := tokens[start:min(start+admin.MaxLeakedTokens, len(tokens))]
			resp, err := c.ReportLeakedKeys(ctx, &adminv1.ReportLeakedKeysRequest{Tokens: batch})
			if err != nil {
				return err
			}
			if len(resp.GetResults()) != len(batch) {
				return fmt.Errorf("the server answered %d results for %d keys", len(resp.GetResults()), len(batch))
			}
			for i, res := range resp.GetResults() {
				switch {
				case res.GetRevoked():
					got[start+i] = outcomeRevoked
				case res.GetAlreadyRevoked():
					got[start+i] = outcomeAlreadyRevoked
				default:
					got[start+i] = outcomeNotAKey
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Revoked = map[string]string{}
	r.outcome = make([]string, len(r.Findings))
	for i, f := range r.Findings {
		o := got[index[f.Key.Reveal()]]
		r.outcome[i] = o
		if outcomeRank[o] > outcomeRank[r.Revoked[f.KeyID]] {
			r.Revoked[f.KeyID] = o
		}
	}
	return nil
}

func (a *app) printScan(r scanResult) error {
	switch a.output {
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	case "jsonl":
		enc := json.NewEncoder(a.stdout)
		for _, f := range r.Findings {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for i, f := range r.Findings {
		line := f.Path + ":" + strconv.Itoa(f.Line) + "\tkey " + f.KeyID
		if i < len(r.outcome) {
			line += "\t" + strings.ReplaceAll(r.outcome[i], "_", " ")
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}
