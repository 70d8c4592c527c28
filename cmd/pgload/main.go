// Command pgload is partnergate's load benchmark. `pgload bench` seeds a
// SQLite store, starts partnergate and a do-nothing baseline as child
// processes and drives them alternately over loopback gRPC; `pgload
// busyfeed` starts two replicas on a throwaway PostgreSQL database and
// measures one serving Checks while revocations are written through the
// other; `pgload scale` loads 10,000,000 keys and replays a busy change
// feed, reporting start-up time and memory; `pgload serve` and `pgload
// mint` are how they run their children. Run it pinned to one CPU and the
// servers to another, as `make bench` does: only the minting of the many
// tokens runs on every CPU, before the rounds.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/partnergate/partnergate/internal/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: pgload bench|busyfeed|scale|serve|mint [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return loadgen.ServeArgs(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
	case "scale":
		fs := flag.NewFlagSet("scale", flag.ContinueOnError)
		var o loadgen.ScaleOptions
		fs.IntVar(&o.Keys, "keys", 10_000_000, "credentials loaded into partnergate")
		fs.IntVar(&o.Revocations, "revocations", 1_000_000, "keys revoked in the store once partnergate serves, applied from the change feed (negative: none)")
		fs.StringVar(&o.ServerCPU, "server-cpu", "", "taskset CPU list for the server (empty: unpinned)")
		fs.StringVar(&o.Profile, "cpuprofile", "", "write partnergate's CPU profile here")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return inTempDir("pgload-scale-", func(self, dir string) error {
			o.Self, o.Dir = self, dir
			_, err := loadgen.Scale(ctx, o)
			return err
		})
	case "mint":
		// The token-minting child of bench: a job on stdin, tokens on stdout.
		return loadgen.Mint(os.Stdin, os.Stdout)
	case "bench":
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		var o loadgen.BenchOptions
		fs.IntVar(&o.Keys, "keys", 1_000_000, "credentials loaded into partnergate")
		fs.IntVar(&o.Hot, "hot", 1000, "distinct keys the allowed traffic cycles through")
		fs.Func("spread", "more numbers of distinct keys in use, comma-separated (10000,100000), each two closed-loop runs against the same baseline: keys coming back into use, then the same keys again in steady use", func(v string) error {
			for f := range strings.SplitSeq(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n <= 0 {
					return fmt.Errorf("want positive whole numbers, comma-separated; got %q", f)
				}
				o.Spread = append(o.Spread, n)
			}
			return nil
		})
		fs.IntVar(&o.HotKeys, "hot-keys", 0, "partnergate's hot_keys (0: twice the most keys in use, at least the default)")
		fs.IntVar(&o.SpreadTokens, "spread-tokens", 0, "distinct RS256 tokens in use for one more closed-loop run (0: none); the verified-token cache is sized for them")
		fs.IntVar(&o.Rounds, "rounds", 3, "A/B rounds")
		fs.DurationVar(&o.Duration, "duration", 0, "length of each run (default 5s)")
		fs.Float64Var(&o.Rate, "rate", 5000, "open-loop requests per second")
		fs.IntVar(&o.Conns, "conns", 2, "client connections per server")
		fs.IntVar(&o.Streams, "streams", 64, "closed-loop concurrent calls")
		fs.IntVar(&o.Flood, "flood", 32, "deny-flood concurrent calls")
		fs.StringVar(&o.ServerCPU, "server-cpu", "0", "taskset CPU list for the servers (empty: unpinned)")
		fs.StringVar(&o.Baseline, "baseline", "baseline", "the baseline: baseline (served as partnergate is) or conventional (go-control-plane's registration, grpc-go's defaults)")
		fs.StringVar(&o.Profile, "cpuprofile", "", "write partnergate's CPU profile here, and the baseline's beside it (FILE.baseline)")
		h2 := fs.Bool("h2load", true, "also drive closed loop with h2load when it is on PATH")
		jwtRuns := fs.Bool("jwt", true, "also measure JWT allows (RS256, ES256; -hot distinct tokens each) in closed loop")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *h2 {
			o.H2Load, _ = exec.LookPath("h2load")
		}
		o.SkipJWT = !*jwtRuns
		return inTempDir("pgload-", func(self, dir string) error {
			o.Self, o.Dir = self, dir
			return loadgen.Bench(ctx, o)
		})
	case "busyfeed":
		fs := flag.NewFlagSet("busyfeed", flag.ContinueOnError)
		var o loadgen.FeedOptions
		server := os.Getenv("PARTNERGATE_TEST_POSTGRES")
		if server == "" {
			server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		}
		fs.StringVar(&o.Postgres, "postgres", server, "PostgreSQL server URL of a user that may create databases (default $PARTNERGATE_TEST_POSTGRES); a throwaway database is made there and dropped")
		fs.IntVar(&o.Keys, "keys", 100_000, "credentials seeded")
		fs.IntVar(&o.Hot, "hot", 1000, "distinct keys the allowed Checks cycle through")
		fs.Float64Var(&o.Rate, "rate", 1000, "revocations per second written through replica A")
		fs.IntVar(&o.Writers, "writers", 32, "revocations in flight at most")
		fs.IntVar(&o.Rounds, "rounds", 3, "rounds of the two conditions, alternated")
		fs.DurationVar(&o.Duration, "duration", 0, "length of each measured run (default 5s)")
		fs.IntVar(&o.Conns, "conns", 2, "client connections to replica B")
		fs.IntVar(&o.Streams, "streams", 64, "closed-loop concurrent Checks")
		fs.StringVar(&o.ServerCPU, "server-cpu", "0", "taskset CPU list for replica B, the one measured (empty: unpinned)")
		fs.StringVar(&o.WriterCPU, "writer-cpu", "1", "taskset CPU list for replica A, which takes the writes (empty: unpinned)")
		fs.StringVar(&o.Profile, "cpuprofile", "", "write replica B's CPU profile here, and replica A's beside it (FILE.a)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return inTempDir("pgload-", func(self, dir string) error {
			o.Self, o.Dir = self, dir
			return loadgen.BusyFeed(ctx, o)
		})
	default:
		return fmt.Errorf("unknown command %q: want bench, busyfeed, scale, serve or mint", args[0])
	}
}

// inTempDir runs run with this executable's path, which the benchmarks
// re-execute as their server children, and a temporary directory for
// their stores, removed when run returns.
func inTempDir(prefix string, run func(self, dir string) error) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return run(self, dir)
}
