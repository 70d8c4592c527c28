package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// listUnused prints live keys, across partners, unused for the given age.
func (a *app) listUnused(cmd *cobra.Command, partnerID, age string) error {
	if partnerID != "" {
		return usageErrorf("%s: --unused-for lists every partner's keys; drop --partner", cmd.CommandPath())
	}
	d, err := parseAge(age)
	if err != nil {
		return usageErrorf("%s: --unused-for: %v", cmd.CommandPath(), err)
	}
	return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
		resp, err := c.ListUnusedKeys(ctx, &adminv1.ListUnusedKeysRequest{UnusedFor: durationpb.New(d)})
		if err != nil {
			return err
		}
		if a.output == "jsonl" {
			return printLines(a.stdout, resp.GetKeys())
		}
		return a.print(resp, func(w *table) { w.unusedKeys(resp.GetKeys()) })
	})
}

// findKeys is "key list --expiring-within/--pepper-version".
func (a *app) findKeys(cmd *cobra.Command, within string, pepper int32) error {
	req := &adminv1.FindKeysRequest{}
	if cmd.Flags().Changed("expiring-within") {
		d, err := parseAge(within)
		if err != nil {
			return usageErrorf("%s: --expiring-within: %v", cmd.CommandPath(), err)
		}
		req.ExpiringWithin = durationpb.New(d)
	}
	if cmd.Flags().Changed("pepper-version") {
		if pepper <= 0 {
			return usageErrorf("%s: --pepper-version must be positive", cmd.CommandPath())
		}
		req.PepperVersion = &pepper
	}
	return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
		resp, err := c.FindKeys(ctx, req)
		if err != nil {
			return err
		}
		if a.output == "jsonl" {
			return printLines(a.stdout, resp.GetKeys())
		}
		return a.print(resp, func(w *table) { w.foundKeys(resp.GetKeys()) })
	})
}

// parseAge parses a positive duration: Go's form (2160h) or whole days
// (90d).
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 100*365 {
			return 0, usageErrorf("%q is not a number of days, such as 90d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, usageErrorf("%q is not a duration, such as 90d or 2160h", s)
		}
	}
	if d <= 0 {
		return 0, usageErrorf("%q must be positive", s)
	}
	return d, nil
}

// exportAudit prints every matching audit event after after, one JSON
// object per line, paging through the whole trail.
func (a *app) exportAudit(ctx context.Context, c adminv1.AdminClient, partnerID, actor string, after int64) error {
	const page = 1000 // the server's maximum page
	for {
		resp, err := c.ListAudit(ctx, &adminv1.ListAuditRequest{PartnerId: partnerID, Actor: actor, AfterId: after, Limit: page})
		if err != nil {
			return err
		}
		evs := resp.GetEvents()
		if err := printLines(a.stdout, evs); err != nil {
			return err
		}
		if len(evs) < page {
			return nil
		}
		after = evs[len(evs)-1].GetId()
	}
}
