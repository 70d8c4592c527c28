package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// checkMethod is the full method name of Check, as go-control-plane
// generates it.
const checkMethod = authv3.Authorization_Check_FullMethodName

// allowMarker appears in an allow response and never in a denial.
var allowMarker = []byte("x-partner-id")

// Dial opens n loopback connections to addr that send pre-marshalled
// requests, and waits until each has made a call.
func Dial(ctx context.Context, addr string, n int, probe []byte) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		c, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			Close(conns)
			return nil, err
		}
		conns = append(conns, c)
		var resp []byte
		if err := c.Invoke(ctx, checkMethod, &probe, &resp); err != nil {
			Close(conns)
			return nil, fmt.Errorf("probe %s: %w", addr, err)
		}
	}
	return conns, nil
}

// Close closes conns.
func Close(conns []*grpc.ClientConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// Result is one run's outcome.
type Result struct {
	N, Allowed, Errors int64
	Elapsed            time.Duration
	// Lat holds each call's latency, sorted; in an open-loop run measured
	// from the call's scheduled send time.
	Lat []time.Duration
}

// Rate returns completed calls per second.
func (r *Result) Rate() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile latency, 0 when there is none.
func (r *Result) Quantile(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Lat)))
	return r.Lat[min(i, len(r.Lat)-1)]
}

type tally struct {
	n, allowed, errors int64
	lat                []time.Duration
}

func (t *tally) record(err error, resp []byte, d time.Duration) {
	t.n++
	switch {
	case err != nil:
		t.errors++
	case bytes.Contains(resp, allowMarker):
		t.allowed++
	}
	t.lat = append(t.lat, d)
}

func merge(ts []*tally, elapsed time.Duration) *Result {
	r := &Result{Elapsed: elapsed}
	for _, t := range ts {
		r.N += t.n
		r.Allowed += t.allowed
		r.Errors += t.errors
		r.Lat = append(r.Lat, t.lat...)
	}
	slices.Sort(r.Lat)
	return r
}

// Closed runs streams callers, each sending its next request as soon as
// the previous answer arrives, spread over conns, for dur or until stop is
// closed (nil: never).
func Closed(ctx context.Context, conns []*grpc.ClientConn, streams int, dur time.Duration, reqs [][]byte, stop <-chan struct{}) *Result {
	var done atomic.Bool
	ts := make([]*tally, streams)
	var wg sync.WaitGroup
	start := time.Now()
	for s := range streams {
		t := &tally{lat: make([]time.Duration, 0, 1<<14)}
		ts[s] = t
		c := conns[s%len(conns)]
		wg.Go(func() {
			var resp []byte
			for i := s; !done.Load(); i += streams {
				t0 := time.Now()
				err := c.Invoke(ctx, checkMethod, &reqs[i%len(reqs)], &resp)
				t.record(err, resp, time.Since(t0))
			}
		})
	}
	timer := time.NewTimer(dur)
	select {
	case <-timer.C:
	case <-stop:
	case <-ctx.Done():
	}
	timer.Stop()
	done.Store(true)
	elapsed := time.Since(start)
	wg.Wait()
	return merge(ts, elapsed)
}

// Open sends rate requests per second for dur, the i-th at start+i/rate
// whatever happened to earlier ones, and measures each call's latency from
// that scheduled time, so a stall shows in full instead of delaying the
// calls behind it (no coordinated omission). workers bounds the calls in
// flight; when all are busy, later calls leave late and their wait counts.
func Open(ctx context.Context, conns []*grpc.ClientConn, rate float64, dur time.Duration, workers int, reqs [][]byte) *Result {
	total := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	ts := make([]*tally, workers)
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for w := range workers {
		t := &tally{lat: make([]time.Duration, 0, total/workers+1)}
		ts[w] = t
		c := conns[w%len(conns)]
		wg.Go(func() {
			var resp []byte
			for i := w; i < total && ctx.Err() == nil; i += workers {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				err := c.Invoke(ctx, checkMethod, &reqs[i%len(reqs)], &resp)
				t.record(err, resp, time.Since(at))
			}
		})
	}
	wg.Wait()
	return merge(ts, time.Since(start))
}
