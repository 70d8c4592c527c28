package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/partnergate/partnergate/internal/app"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// ServeOptions configures a server child.
type ServeOptions struct {
	// Kind is "baseline", "conventional" (the baseline as a conventional
	// server; see [Conventional]) or "partnergate".
	Kind string
	// StoreURL and PepperFile configure partnergate.
	StoreURL, PepperFile string
	// ConfigFile, if set, is partnergate's config file, read as
	// PARTNERGATE_CONFIG; it carries what has no environment form (the
	// token issuers).
	ConfigFile string
	// HotKeys is partnergate's hot_keys (0: its default).
	HotKeys int
	// Log receives partnergate's logs, as its stderr would in production.
	Log io.Writer
	// BallastMiB gives the baseline a pointer-free heap of this size, so
	// that the Go GC runs as rarely as in a partnergate holding its cache:
	// with a tiny heap the collector runs every few MiB allocated and the
	// "no work" server pays more GC per Check than partnergate does.
	BallastMiB int
	// CPUProfile, if set, is where the server's CPU profile is written
	// when it stops.
	CPUProfile string
}

// ServeArgs parses a server child's command line, as [Bench] and [Scale]
// pass it, and runs [Serve] with stdin and stdout; logs go to stderr.
func ServeArgs(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o ServeOptions
	fs.StringVar(&o.Kind, "kind", "", "baseline, conventional or partnergate")
	fs.StringVar(&o.StoreURL, "store", "", "partnergate's store URL")
	fs.StringVar(&o.PepperFile, "pepper-file", "", "partnergate's pepper file")
	fs.StringVar(&o.ConfigFile, "config", "", "partnergate's config file (token issuers)")
	fs.IntVar(&o.HotKeys, "hot-keys", 0, "partnergate's hot_keys (0: its default)")
	fs.IntVar(&o.BallastMiB, "ballast-mib", 0, "the baseline's pointer-free heap ballast")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the server's CPU profile here on exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Log = stderr
	return Serve(ctx, o, stdin, stdout)
}

// ChildStats is what a server child reports on the "stats" command.
type ChildStats struct {
	Hits, Misses, NegativeHits, MissLookups int64
	Keys                                    int
	HeapAlloc                               uint64
	// AdminAddr and MetricsAddr are partnergate's admin API and metrics
	// endpoint.
	AdminAddr, MetricsAddr string `json:",omitempty"`
	// HeapSys is the heap memory obtained from the OS, a high-water mark.
	HeapSys uint64
	// Version is the change-feed version the cache has applied.
	Version int64
	// Compactions is how many index segments the cache has compacted.
	Compactions int64
	// ServingAt is when Check began serving, in Unix nanoseconds: before
	// the collection that precedes the READY line.
	ServingAt int64
}

// Serve runs a server on a loopback port until in reaches EOF. It writes
// "READY <addr> <startup-µs>" to out once Check serves, answers each
// "stats" line on in with one JSON [ChildStats] line, each "gcstats" line
// likewise after a full collection, and each "flush" line, once the uses
// of API keys recorded so far are written to the store, with "OK" (or
// "ERR" and the error).
func Serve(ctx context.Context, opts ServeOptions, in io.Reader, out io.Writer) error {
	start := time.Now()
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		addr  net.Addr
		stats func() ChildStats
		flush = func() error { return nil } // the baseline leaves no work behind
		wait  func() error
	)
	switch opts.Kind {
	case "baseline", "conventional":
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		b := NewBaseline(SeedPartner, "baselinekey0")
		var g *grpc.Server
		if opts.Kind == "baseline" {
			g = grpc.NewServer(app.CheckTransport()...)
			b.Register(g)
		} else {
			g = grpc.NewServer()
			authv3.RegisterAuthorizationServer(g, b.Conventional())
		}
		done := make(chan error, 1)
		go func() { done <- g.Serve(lis) }()
		go func() { <-ctx.Done(); g.Stop() }()
		ballast := make([]byte, opts.BallastMiB<<20)
		addr, stats = lis.Addr(), func() ChildStats { return ChildStats{HeapAlloc: uint64(len(ballast))} }
		wait = func() error {
			if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return err
			}
			return nil
		}
	case "partnergate":
		// Settings go through config.Load, as the server's own do, so that
		// a setting this tool does not know keeps its default, and every
		// listener (metrics too, when the build has them) binds loopback.
		env := map[string]string{
			config.EnvPrefix + "STORE":          opts.StoreURL,
			config.EnvPrefix + "PEPPER_FILE":    opts.PepperFile,
			config.EnvPrefix + "LISTEN":         "127.0.0.1:0",
			config.EnvPrefix + "ADMIN_LISTEN":   "127.0.0.1:0",
			config.EnvPrefix + "METRICS_LISTEN": "127.0.0.1:0",
			config.EnvPrefix + "SHUTDOWN_GRACE": "1s",
			config.EnvPrefix + "SHUTDOWN_DELAY": "0s",
			// A reconcile reads every credential, some 4 s of CPU with
			// 1,000,000 keys: at the default five minutes, one would land
			// in a measured run and be charged whole to its few seconds
			// of Checks. Its cost, 1.4 % of a core at the default, is
			// stated beside the figures instead (BENCHMARKS.md).
			config.EnvPrefix + "RECONCILE_INTERVAL": "1h",
			config.EnvAdminToken:                    "pgload-admin-token-not-secret",
		}
		if opts.ConfigFile != "" {
			env[config.EnvPrefix+"CONFIG"] = opts.ConfigFile
		}
		if opts.HotKeys > 0 {
			env[config.EnvPrefix+"HOT_KEYS"] = strconv.Itoa(opts.HotKeys)
		}
		cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		w := opts.Log
		if w == nil {
			w = io.Discard
		}
		log := telemetry.NewLogger(w, cfg.LogFormat, slog.LevelInfo)
		srv, err := app.Start(ctx, cfg, log, io.Discard)
		if err != nil {
			return err
		}
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
		servingAt := time.Now().UnixNano()
		// Loading a million keys leaves garbage behind (some 130 MiB
		// beside a live heap of 200). Collect it, so that the heap
		// reported, for the bytes per key and the baseline's ballast, is
		// the live heap a serving replica carries: a ballast sized with
		// the garbage let the baseline collect 1.6 times less often.
		runtime.GC()
		addr, wait = srv.CheckAddr, srv.Wait
		flush = func() error { return srv.FlushUses(ctx) }
		stats = func() ChildStats {
			s := srv.Cache.Stats()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ChildStats{
				Hits: s.Hits.Load(), Misses: s.Misses.Load(), NegativeHits: s.NegativeHits.Load(),
				MissLookups: s.MissLookups.Load(), Keys: srv.Cache.Len(), HeapAlloc: ms.HeapAlloc,
				HeapSys: ms.HeapSys, Version: srv.Cache.Version(), ServingAt: servingAt,
				Compactions: srv.Cache.Compactions(), AdminAddr: addrString(srv.AdminAddr), MetricsAddr: addrString(srv.MetricsAddr),
			}
		}
	default:
		return fmt.Errorf("serve: kind %q: want baseline, conventional or partnergate", opts.Kind)
	}
	if _, err := fmt.Fprintf(out, "READY %s %d\n", addr, time.Since(start).Microseconds()); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		switch sc.Text() {
		case "gcstats":
			runtime.GC()
			fallthrough
		case "stats":
			if err := enc.Encode(stats()); err != nil {
				return err
			}
		case "flush":
			msg := "OK"
			if err := flush(); err != nil {
				msg = "ERR " + err.Error()
			}
			if _, err := fmt.Fprintln(out, msg); err != nil {
				return err
			}
		}
	}
	cancel()
	return wait()
}

// addrString is a's address, or "" for none.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
