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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	// "already_revoked" or "not_found". Absent without --revoke.
	Revoked map[string]string `json:"revoked,omitempty"`
}

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

With --revoke, every key found is revoked through the admin API with reason
"leaked" (this needs ` + EnvAdminToken + `, as other admin commands do).
The scan checks checksums only: revoke only keys found in content you trust
to be leaked, since anyone can write a look-alike of a known key id.

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
				if res.Revoked, err = a.revokeFound(cmd, found); err != nil {
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
	cmd.Flags().BoolVar(&revoke, "revoke", false, "revoke every key found through the admin API, with reason leaked")
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

// revokeFound revokes each distinct key id found and reports what
// happened to each.
func (a *app) revokeFound(cmd *cobra.Command, found []keyscan.Finding) (map[string]string, error) {
	out := map[string]string{}
	err := a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
		for _, id := range (scanResult{Findings: found}).ids() {
			_, err := c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: id, Reason: "leaked"})
			switch status.Code(err) {
			case codes.OK:
				out[id] = "revoked"
			case codes.FailedPrecondition:
				out[id] = "already_revoked"
			case codes.NotFound:
				out[id] = "not_found"
			default:
				return err
			}
		}
		return nil
	})
	return out, err
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
	for _, f := range r.Findings {
		line := f.Path + ":" + strconv.Itoa(f.Line) + "\tkey " + f.KeyID
		if s, ok := r.Revoked[f.KeyID]; ok {
			line += "\t" + strings.ReplaceAll(s, "_", " ")
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}
