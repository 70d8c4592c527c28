package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/apikey"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// FeedOptions configures [BusyFeed]. Zero fields take the default beside
// them.
type FeedOptions struct {
	Self     string // this binary, re-executed as the replicas; required
	Dir      string // scratch directory for the pepper and logs; required
	Postgres string // URL of a PostgreSQL server where the user may create databases; required
	Keys     int    // credentials seeded (100,000)
	Hot      int    // distinct keys the allowed Checks cycle through (1,000)
	// Rate is the revocations per second written through replica A
	// (1,000).
	Rate float64
	// Writers is how many revocations may be in flight at once (32).
	Writers   int
	Rounds    int           // rounds of the two conditions, alternated (3)
	Duration  time.Duration // length of each measured run (5s)
	Conns     int           // client connections to replica B (2)
	Streams   int           // closed-loop concurrent Checks (64)
	ServerCPU string        // taskset CPU list for replica B ("": unpinned)
	WriterCPU string        // taskset CPU list for replica A ("": unpinned)
	Profile   string        // where replica B writes its CPU profile, and A beside it (FILE.a) ("": none)
	Out       io.Writer
}

func (o *FeedOptions) defaults() {
	if o.Keys <= 0 {
		o.Keys = 100_000
	}
	if o.Hot <= 0 {
		o.Hot = 1000
	}
	o.Hot = min(o.Hot, o.Keys)
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Writers <= 0 {
		o.Writers = 32
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Conns <= 0 {
		o.Conns = 2
	}
	if o.Streams <= 0 {
		o.Streams = 64
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// feedWarm is how long revocations run before the Checks are measured,
// so the measured run sees the feed at its rate.
const feedWarm = 500 * time.Millisecond

// probeEvery is how many revocations go by between two whose arrival on
// replica B the writer measures end to end, by sending B a Check with the
// revoked key every probePoll until it is refused. The probes add about
// (rate / probeEvery) × (propagation / probePoll) Checks a second to B's
// load: tens, beside its tens of thousands.
const (
	probeEvery = 100
	probePoll  = time.Millisecond
)

// bootstrapToken is the replicas' admin bootstrap token, as [Serve] sets
// it; the benchmark uses it once, to create the operator that revokes.
const bootstrapToken = "pgload-admin-token-not-secret"

// revokerName is the operator the revocations are written by: an issuer
// scoped to the seeded partner, the least role that may revoke its keys.
const revokerName = "pgload-revoker"

// feedSample is replica B's figures in one round: allowed Checks in
// closed loop without the feed (quiet) and while revocations are written
// through replica A (busy), and what the busy run's feed did.
type feedSample struct {
	quietRate, quietCPU float64 // Checks/s; server CPU µs per Check
	busyRate, busyCPU   float64
	revRate             float64 // revocations/s achieved
	revoked, failed     int64
	aCPU                float64         // replica A's CPU µs per revocation
	prop                histogram       // B's propagation histogram, the round's share
	propMax             float64         // B's partnergate_feed_propagation_max_seconds after the round
	rpc, e2e            []time.Duration // RevokeKey latency; revocation sent → refused on B, probed
}

// BusyFeed measures issue 22's busy feed: on a throwaway PostgreSQL
// database seeded with Keys credentials, replicas A and B run as child
// processes; allowed Checks are driven at B in closed loop, in each round
// once alone and once while Rate revocations a second are written through
// A's admin API (real gRPC, an operator's token), the order alternating by
// round. It prints each round and a summary: the revocation rate
// achieved, B's propagation (from its own metric, and end to end by the
// writer for one revocation in probeEvery), and B's throughput and server
// CPU per Check with and without the feed.
func BusyFeed(ctx context.Context, o FeedOptions) error {
	o.defaults()
	w := o.Out
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		return err
	}
	perRound := int(o.Rate*(o.Duration+feedWarm+time.Second).Seconds()) + o.Writers
	if need := perRound * o.Rounds; need > o.Keys-o.Hot {
		return fmt.Errorf("busy feed: %d rounds at %.0f revocations/s need about %d keys not in use; seed more (-keys)", o.Rounds, o.Rate, need)
	}
	fmt.Fprintf(w, "machine: %s\n", describeMachine())
	dbURL, drop, err := TempDatabase(ctx, o.Postgres)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintf(w, "dropping the benchmark database: %v\n", err)
		}
	}()
	fmt.Fprintf(w, "seeding %d credentials into PostgreSQL...\n", o.Keys)
	seeded, err := SeedPostgres(ctx, o.Dir, dbURL, format, o.Keys, o.Hot)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "seeded in %s\n", seeded.Took.Round(time.Millisecond))

	logf, err := os.Create(filepath.Join(o.Dir, "replicas.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--kind", "partnergate", "--store", dbURL, "--pepper-file", seeded.PepperFile}
	aProfile := ""
	if o.Profile != "" {
		aProfile = o.Profile + ".a"
	}
	a, err := startChild(o.Self, o.WriterCPU, "replica-a", logf, append(args, "--cpuprofile", aProfile)...)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startChild(o.Self, o.ServerCPU, "replica-b", logf, append(args, "--cpuprofile", o.Profile)...)
	if err != nil {
		return err
	}
	defer b.stop()
	aStats, err := a.stats()
	if err != nil {
		return err
	}
	bStats, err := b.stats()
	if err != nil {
		return err
	}
	if aStats.AdminAddr == "" || bStats.MetricsAddr == "" {
		return errors.New("busy feed: a replica reported no admin or metrics address")
	}
	fmt.Fprintf(w, "replica A (pid %d, CPU %q) and B (pid %d, CPU %q) ready with %d keys; B ready in %s\n",
		a.pid(), o.WriterCPU, b.pid(), o.ServerCPU, bStats.Keys, b.startup.Round(time.Millisecond))

	adminConn, err := grpc.NewClient(aStats.AdminAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer adminConn.Close()
	admin := adminv1.NewAdminClient(adminConn)
	op, err := admin.CreateOperator(withToken(ctx, bootstrapToken), &adminv1.CreateOperatorRequest{
		Name: revokerName, Role: "issuer", Partners: []string{SeedPartner},
	})
	if err != nil {
		return fmt.Errorf("busy feed: creating operator %s: %w", revokerName, err)
	}
	rev := &revoker{admin: admin, ctx: withToken(ctx, op.GetSecret()), keys: seeded.Spare}

	allowed := make([][]byte, len(seeded.Hot))
	for i, k := range seeded.Hot {
		allowed[i] = Marshal(Request("authorization", "Bearer "+k.Reveal(), i))
	}
	conns, err := Dial(ctx, b.addr, o.Conns, allowed[0])
	if err != nil {
		return err
	}
	defer Close(conns)
	probe, err := Dial(ctx, b.addr, 1, allowed[0])
	if err != nil {
		return err
	}
	defer Close(probe)
	rev.probe = probe[0]
	// Warm up: connections, the hot table, the Go runtime's heap size.
	if err := expectAllowed(b.name, "warm-up", Closed(ctx, conns, o.Streams, time.Second, allowed, nil)); err != nil {
		return err
	}
	metricsURL := "http://" + bStats.MetricsAddr + "/metrics"

	quiet := func(sm *feedSample) error {
		cpu0 := b.cpu()
		r := Closed(ctx, conns, o.Streams, o.Duration, allowed, nil)
		if err := expectAllowed(b.name, "quiet", r); err != nil {
			return err
		}
		sm.quietRate, sm.quietCPU = r.Rate(), perCheck(b.cpu()-cpu0, r.N)
		return nil
	}
	busy := func(sm *feedSample) error {
		before, err := scrapeFeed(ctx, metricsURL)
		if err != nil {
			return err
		}
		aCPU0 := a.cpu()
		stop := make(chan struct{})
		done := make(chan feedRun, 1)
		go func() { done <- rev.run(ctx, o.Rate, o.Writers, stop) }()
		select {
		case <-time.After(feedWarm):
		case <-ctx.Done():
		}
		cpu0 := b.cpu()
		r := Closed(ctx, conns, o.Streams, o.Duration, allowed, nil)
		cpu := b.cpu() - cpu0
		close(stop)
		fr := <-done
		aCPU := a.cpu() - aCPU0
		if err := expectAllowed(b.name, "busy", r); err != nil {
			return err
		}
		if fr.exhausted {
			return errors.New("busy feed: ran out of keys to revoke; seed more (-keys)")
		}
		if err := caughtUp(ctx, a, b); err != nil {
			return err
		}
		after, err := scrapeFeed(ctx, metricsURL)
		if err != nil {
			return err
		}
		sm.busyRate, sm.busyCPU = r.Rate(), perCheck(cpu, r.N)
		sm.revoked, sm.failed, sm.rpc, sm.e2e = fr.done, fr.failed, fr.rpc, fr.e2e
		sm.revRate = float64(fr.done) / fr.elapsed.Seconds()
		sm.aCPU = perCheck(aCPU, fr.done)
		sm.prop, sm.propMax = after.hist.sub(before.hist), after.max
		return nil
	}

	samples := make([]feedSample, o.Rounds)
	for round := range o.Rounds {
		runs := []func(*feedSample) error{quiet, busy}
		if round%2 == 1 {
			runs = []func(*feedSample) error{busy, quiet}
		}
		sm := &samples[round]
		for _, run := range runs {
			if err := run(sm); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "round %d  quiet %6.0f/s cpu %5.1fµs | busy %6.0f/s cpu %5.1fµs | feed %5.0f revocations/s (%d, %d failed), A %.0fµs CPU each | B propagation p50 %s p99 %s max %s (window), %d samples | end to end p50 %s max %s (%d probed)\n",
			round+1, sm.quietRate, sm.quietCPU, sm.busyRate, sm.busyCPU, sm.revRate, sm.revoked, sm.failed, sm.aCPU,
			seconds(capped(sm.prop.quantile(.5), sm.propMax)), seconds(capped(sm.prop.quantile(.99), sm.propMax)), seconds(sm.propMax), int64(sm.prop.count),
			quantile(sm.e2e, .5), quantile(sm.e2e, 1), len(sm.e2e))
		if sm.failed > 0 {
			return fmt.Errorf("busy feed: %d revocations failed in round %d (see %s)", sm.failed, round+1, logf.Name())
		}
	}
	summarizeFeed(w, o, samples)
	return nil
}

// withToken returns ctx carrying an admin bearer token.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// caughtUp waits until replica B has applied every change replica A has:
// the round's every revocation is then in B's histogram.
func caughtUp(ctx context.Context, a, b *child) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		as, err := a.stats()
		if err != nil {
			return err
		}
		bs, err := b.stats()
		if err != nil {
			return err
		}
		if bs.Version >= as.Version {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("busy feed: replica B at feed version %d, 30s after A reached %d", bs.Version, as.Version)
		}
		select {
		case <-time.After(10 * time.Millisecond): // poll interval
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// revoker writes revocations through replica A's admin API.
type revoker struct {
	admin adminv1.AdminClient
	ctx   context.Context // carries the operator's token
	keys  []apikey.Key    // to revoke, in order; each once
	next  atomic.Int64    // index of the next key to revoke
	probe *grpc.ClientConn
}

// feedRun is what one run of revocations did.
type feedRun struct {
	done, failed int64
	exhausted    bool // no keys left to revoke
	elapsed      time.Duration
	rpc, e2e     []time.Duration
}

// run revokes rate keys a second with up to writers in flight, the i-th
// sent at start+i/rate whatever happened to earlier ones (a writer that
// falls behind sends its next at once), until stop is closed; it returns
// once every revocation sent and every probe has finished.
func (r *revoker) run(ctx context.Context, rate float64, writers int, stop <-chan struct{}) feedRun {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var (
		mu     sync.Mutex
		out    feedRun
		wg     sync.WaitGroup
		probes sync.WaitGroup
	)
	var stopped atomic.Bool
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		stopped.Store(true)
	}()
	for wr := range writers {
		wg.Go(func() {
			var rpc []time.Duration
			var done, failed int64
			defer func() {
				mu.Lock()
				out.done, out.failed = out.done+done, out.failed+failed
				out.rpc = append(out.rpc, rpc...)
				mu.Unlock()
			}()
			for i := wr; !stopped.Load(); i += writers {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				if stopped.Load() {
					return
				}
				n := r.next.Add(1) - 1
				if n >= int64(len(r.keys)) {
					mu.Lock()
					out.exhausted = true
					mu.Unlock()
					return
				}
				k := r.keys[n]
				t0 := time.Now()
				_, err := r.admin.RevokeKey(r.ctx, &adminv1.RevokeKeyRequest{KeyId: k.ID(), Reason: "pgload busy feed"})
				if err != nil {
					failed++
					continue
				}
				done++
				rpc = append(rpc, time.Since(t0))
				if n%probeEvery == 0 {
					probes.Go(func() {
						if d, ok := r.refusedAfter(ctx, k, t0); ok {
							mu.Lock()
							out.e2e = append(out.e2e, d)
							mu.Unlock()
						}
					})
				}
			}
		})
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	probes.Wait()
	slices.Sort(out.rpc)
	slices.Sort(out.e2e)
	return out
}

// refusedAfter sends replica B a Check with k every probePoll until it is
// refused, and returns how long after sent that was.
func (r *revoker) refusedAfter(ctx context.Context, k apikey.Key, sent time.Time) (time.Duration, bool) {
	msg := Marshal(Request("authorization", "Bearer "+k.Reveal(), 0))
	deadline := sent.Add(30 * time.Second)
	var resp []byte
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := r.probe.Invoke(ctx, checkMethod, &msg, &resp); err == nil && !bytes.Contains(resp, allowMarker) {
			return time.Since(sent), true
		}
		time.Sleep(probePoll)
	}
	return 0, false
}

// histogram is a Prometheus histogram read from a metrics page: bucket
// upper bounds (the last +Inf) and their cumulative counts.
type histogram struct {
	bounds []float64
	counts []float64
	count  float64
}

// sub returns h less an earlier reading of the same histogram.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts), count: h.count - earlier.count}
	for i := range out.counts {
		if i < len(earlier.counts) {
			out.counts[i] -= earlier.counts[i]
		}
	}
	return out
}

// add returns the sum of two readings of the same histogram's buckets.
func (h histogram) add(o histogram) histogram {
	if h.bounds == nil {
		return o
	}
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts), count: h.count + o.count}
	for i := range out.counts {
		if i < len(o.counts) {
			out.counts[i] += o.counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linearly within the bucket that holds it; the highest finite
// bound when it falls in +Inf; 0 for an empty histogram.
func (h histogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.bounds) == 0 {
		return 0
	}
	rank := q * h.count
	for i, c := range h.counts {
		if c < rank {
			continue
		}
		if i == len(h.bounds)-1 && i > 0 { // +Inf
			return h.bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.bounds[i-1], h.counts[i-1]
		}
		if c == below {
			return h.bounds[i]
		}
		return lo + (h.bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.bounds[len(h.bounds)-1]
}

// capped returns a quantile estimated within its bucket, q, no higher
// than the largest sample, max (when there is one): interpolation
// within a wide bucket can land above every sample.
func capped(q, max float64) float64 {
	if max > 0 {
		return min(q, max)
	}
	return q
}

// feedMetrics is what the benchmark reads of replica B's metrics page.
type feedMetrics struct {
	hist histogram
	max  float64
}

var (
	propBucket = regexp.MustCompile(`(?m)^partnergate_feed_propagation_seconds_bucket\{le="([^"]+)"\} (\S+)$`)
	propCount  = regexp.MustCompile(`(?m)^partnergate_feed_propagation_seconds_count (\S+)$`)
	propMax    = regexp.MustCompile(`(?m)^partnergate_feed_propagation_max_seconds (\S+)$`)
)

// scrapeFeed reads the propagation histogram and maximum from a metrics
// page; before any change is applied the histogram is absent and empty.
func scrapeFeed(ctx context.Context, url string) (feedMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return feedMetrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return feedMetrics{}, fmt.Errorf("busy feed: scraping replica B: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return feedMetrics{}, fmt.Errorf("busy feed: scraping replica B: %d %v", resp.StatusCode, err)
	}
	return parseFeedMetrics(string(b))
}

func parseFeedMetrics(page string) (feedMetrics, error) {
	var m feedMetrics
	for _, match := range propBucket.FindAllStringSubmatch(page, -1) {
		bound, err1 := strconv.ParseFloat(match[1], 64) // "+Inf" parses
		n, err2 := strconv.ParseFloat(match[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			return m, fmt.Errorf("busy feed: metrics page: %w", err)
		}
		m.hist.bounds, m.hist.counts = append(m.hist.bounds, bound), append(m.hist.counts, n)
	}
	if c := propCount.FindStringSubmatch(page); c != nil {
		m.hist.count, _ = strconv.ParseFloat(c[1], 64)
	}
	if x := propMax.FindStringSubmatch(page); x != nil {
		m.max, _ = strconv.ParseFloat(x[1], 64)
	} else {
		return m, errors.New("busy feed: metrics page has no partnergate_feed_propagation_max_seconds")
	}
	return m, nil
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}

// quantile returns the q-quantile of sorted, rounded; "-" for none.
func quantile(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(100 * time.Microsecond).String()
}

// summarizeFeed prints the medians over the rounds, and the propagation
// pooled over every round.
func summarizeFeed(w io.Writer, o FeedOptions, s []feedSample) {
	var prop histogram
	var e2e, rpc []time.Duration
	maxProp := 0.0
	for _, sm := range s {
		prop = prop.add(sm.prop)
		e2e, rpc = append(e2e, sm.e2e...), append(rpc, sm.rpc...)
		maxProp = max(maxProp, sm.propMax)
	}
	slices.Sort(e2e)
	slices.Sort(rpc)
	stat := func(f func(feedSample) float64) string {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		m := median(v) // sorts v
		return fmt.Sprintf("%.3g (%.3g–%.3g)", m, v[0], v[len(v)-1])
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	fmt.Fprintf(w, "\nbusy feed: %d rounds, %s per run, %d keys, %d in use; replica B on CPU %q, A on %q; median (range) of the rounds\n",
		o.Rounds, o.Duration, o.Keys, o.Hot, o.ServerCPU, o.WriterCPU)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "figure\tvalue\t")
	fmt.Fprintf(tw, "revocations/s written through A (target %.0f, %d writers)\t%s\t\n", o.Rate, o.Writers, stat(func(x feedSample) float64 { return x.revRate }))
	fmt.Fprintf(tw, "RevokeKey latency on A, p50 / p99\t%s / %s\t\n", quantile(rpc, .5), quantile(rpc, .99))
	fmt.Fprintf(tw, "A's CPU per revocation\t%s µs\t\n", stat(func(x feedSample) float64 { return x.aCPU }))
	fmt.Fprintf(tw, "B's propagation, its metric, %d changes: p50 / p99 / max\t%s / %s / %s\t\n",
		int64(prop.count), seconds(capped(prop.quantile(.5), maxProp)), seconds(capped(prop.quantile(.99), maxProp)), seconds(maxProp))
	fmt.Fprintf(tw, "revocation sent → refused on B, %d probed: p50 / p99 / max\t%s / %s / %s\t\n",
		len(e2e), quantile(e2e, .5), quantile(e2e, .99), quantile(e2e, 1))
	fmt.Fprintf(tw, "B's allowed Checks/s without the feed\t%s\t\n", stat(func(x feedSample) float64 { return x.quietRate }))
	fmt.Fprintf(tw, "B's allowed Checks/s with the feed\t%s\t\n", stat(func(x feedSample) float64 { return x.busyRate }))
	fmt.Fprintf(tw, "throughput with / without\t%s\t\n", stat(func(x feedSample) float64 { return ratio(x.busyRate, x.quietRate) }))
	fmt.Fprintf(tw, "B's server CPU per Check without / with\t%s / %s µs\t\n",
		stat(func(x feedSample) float64 { return x.quietCPU }), stat(func(x feedSample) float64 { return x.busyCPU }))
	fmt.Fprintf(tw, "added server CPU per Check with the feed\t%s µs\t\n", stat(func(x feedSample) float64 { return x.busyCPU - x.quietCPU }))
	_ = tw.Flush()
	ratios := make([]float64, len(s))
	for i := range s {
		ratios[i] = ratio(s[i].busyRate, s[i].quietRate)
	}
	loss := 1 - median(ratios)
	p99 := capped(prop.quantile(.99), maxProp)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "targets: p99 propagation %s ≤ 1s: %s; throughput loss %.1f%% ≤ 10%%: %s\n",
		seconds(p99), verdict(prop.count > 0 && p99 <= 1), 100*loss, verdict(loss <= 0.10))
}
