// Command partnergate is the partner-access gate for Envoy: the ext_authz
// Check server ("partnergate serve") and its admin client (every other
// subcommand).
package main

import (
	"context"
	"os"

	"github.com/partnergate/partnergate/internal/app"
	"github.com/partnergate/partnergate/internal/cli"
)

func main() {
	root := cli.New(app.Command(os.Stdout, os.Stderr), os.Stdout, os.Stderr)
	os.Exit(cli.Execute(context.Background(), root))
}
