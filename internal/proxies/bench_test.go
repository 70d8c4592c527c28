package proxies

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkNginxAuthorize measures what partnergate's GET /authorize
// costs behind real nginx: the shipped config in front of partnergate,
// against the same config whose authorization location just returns 200,
// with the same request, alternated round by round in one run. Load comes
// from h2load (HTTP/1.1, keep-alive) on its own CPU; the upstream is an
// nginx server block returning 200, the same for both.
//
// Each run sends the same number of requests. It reports, as medians
// over the rounds, requests per second, the CPU time per request of
// nginx and of partnergate (this process), and h2load's mean latency, and
// the ratios of partnergate's run to the baseline's. Run it with `make bench-http`, which pins this process (and
// so partnergate and nginx) to CPU 0 and h2load to CPU 1; without
// PARTNERGATE_H2LOAD it is skipped.
func BenchmarkNginxAuthorize(b *testing.B) {
	h2load := os.Getenv("PARTNERGATE_H2LOAD")
	if h2load == "" {
		b.Skip("PARTNERGATE_H2LOAD is unset: run `make bench-http`")
	}
	rounds := envInt(b, "PARTNERGATE_BENCH_ROUNDS", 5)
	requests := envInt(b, "PARTNERGATE_BENCH_REQUESTS", 50000)
	conns := envInt(b, "PARTNERGATE_BENCH_CONNS", 16)

	pg := startPartnergate(b, nil)
	secret, _ := pg.issue(b)
	upstream := freePort(b)
	extra := "server { listen " + upstream + "; access_log off; location / { return 200 \"ok\\n\"; } }"
	config := func(baseline bool) (string, int) {
		listen := freePort(b)
		pairs := []string{
			"server 127.0.0.1:9003;", "server " + pg.srv.HTTPAddr.String() + ";",
			"server 127.0.0.1:8000;", "server " + upstream + ";",
			"listen 8080;", "listen " + listen + ";",
		}
		if baseline {
			pairs = append(pairs, "proxy_pass http://partnergate/authorize;", "return 200;")
		}
		site := rewrite(b, "nginx/partnergate.conf", pairs...)
		if baseline {
			extra = "" // the upstream server block is in partnergate's nginx
		}
		pid := runNginx(b, site, extra, listen)
		return "http://" + listen + "/v1/orders?limit=10", pid
	}
	withURL, withPID := config(false)
	baseURL, basePID := config(true)

	type run struct{ rps, nginxCPU, pgCPU, latency float64 }
	var with, base []run
	measure := func(url string, nginxPID int, self bool) run {
		n0, p0 := groupCPU(b, nginxPID), selfCPU(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "taskset", "-c", "1", h2load, "--h1", "-c", strconv.Itoa(conns), "-t", "1",
			"-n", strconv.Itoa(requests),
			"-H", "X-Api-Key: "+secret, "-H", "User-Agent: partner-sdk/1.2", "-H", "Accept: application/json", url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("h2load: %v\n%s", err, out)
		}
		n1, p1 := groupCPU(b, nginxPID), selfCPU(b)
		r := parseH2load(b, string(out))
		if self {
			r.pgCPU = float64(p1-p0) / float64(time.Microsecond) / float64(requests)
		}
		r.nginxCPU = float64(n1-n0) / float64(time.Microsecond) / float64(requests)
		return r
	}
	b.ResetTimer()
	for range b.N {
		for range rounds {
			with = append(with, measure(withURL, withPID, true))
			base = append(base, measure(baseURL, basePID, false))
		}
	}
	b.StopTimer()
	med := func(rs []run, f func(run) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	wRPS, bRPS := med(with, func(r run) float64 { return r.rps }), med(base, func(r run) float64 { return r.rps })
	wNginx, bNginx := med(with, func(r run) float64 { return r.nginxCPU }), med(base, func(r run) float64 { return r.nginxCPU })
	wPG := med(with, func(r run) float64 { return r.pgCPU })
	wLat, bLat := med(with, func(r run) float64 { return r.latency }), med(base, func(r run) float64 { return r.latency })
	b.ReportMetric(wRPS/bRPS, "rps-ratio")
	b.ReportMetric((wNginx+wPG)/bNginx, "cpu-per-req-ratio")
	b.ReportMetric(wNginx+wPG-bNginx, "added-cpu-µs/req")
	b.ReportMetric(wLat-bLat, "added-latency-µs")
	fmt.Printf("nginx → partnergate GET /authorize vs nginx → auth location returning 200; %d rounds of %d requests, %d connections, medians\n", rounds, requests, conns)
	fmt.Printf("%-12s %10s %14s %16s %12s\n", "", "req/s", "nginx µs/req", "partnergate µs/req", "latency µs")
	fmt.Printf("%-12s %10.0f %14.1f %16.1f %12.0f\n", "partnergate", wRPS, wNginx, wPG, wLat)
	fmt.Printf("%-12s %10.0f %14.1f %16s %12.0f\n", "baseline", bRPS, bNginx, "-", bLat)
	fmt.Printf("ratio (partnergate/baseline): req/s %.2f, CPU per request %.2f (+%.1f µs), mean latency %.2f (+%.0f µs)\n",
		wRPS/bRPS, (wNginx+wPG)/bNginx, wNginx+wPG-bNginx, wLat/bLat, wLat-bLat)
	// Each round's own ratios, for the spread.
	var rpsR, cpuR []float64
	for i := range with {
		rpsR = append(rpsR, with[i].rps/base[i].rps)
		cpuR = append(cpuR, (with[i].nginxCPU+with[i].pgCPU)/base[i].nginxCPU)
	}
	slices.Sort(rpsR)
	slices.Sort(cpuR)
	fmt.Printf("rounds' own ratios: req/s %.2f–%.2f, CPU per request %.2f–%.2f\n", rpsR[0], rpsR[len(rpsR)-1], cpuR[0], cpuR[len(cpuR)-1])
}

var (
	h2loadRPS     = regexp.MustCompile(`finished in [0-9.]+s, ([0-9.]+) req/s`)
	h2loadDone    = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded`)
	h2loadStatus  = regexp.MustCompile(`status codes: (\d+) 2xx`)
	h2loadLatency = regexp.MustCompile(`time for request:\s+\S+\s+\S+\s+(\S+)`)
)

// parseH2load reads h2load's summary; every request must have succeeded
// with a 2xx, or the run measured denials.
func parseH2load(b *testing.B, out string) (r struct{ rps, nginxCPU, pgCPU, latency float64 }) {
	b.Helper()
	m, d, s, l := h2loadRPS.FindStringSubmatch(out), h2loadDone.FindStringSubmatch(out), h2loadStatus.FindStringSubmatch(out), h2loadLatency.FindStringSubmatch(out)
	if m == nil || d == nil || s == nil || l == nil {
		b.Fatalf("cannot read h2load's output:\n%s", out)
	}
	if d[2] != d[3] || d[3] != s[1] || d[3] == "0" {
		b.Fatalf("not every request succeeded with a 2xx:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.latency = durationMicros(b, l[1])
	return r
}

// durationMicros parses h2load's "123.45us" / "1.23ms" / "1.2s".
func durationMicros(b *testing.B, s string) float64 {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f * u.scale
			}
		}
	}
	b.Fatalf("h2load latency %q", s)
	return 0
}

// groupCPU returns the user+system CPU time of every process in the
// process group pgid (nginx's master and workers).
func groupCPU(b *testing.B, pgid int) time.Duration {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	found := false
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := statFields(string(raw))
		if len(f) < 13 || f[2] != strconv.Itoa(pgid) { // pgrp is field 5 of proc(5)
			continue
		}
		total += ticks(f[11]) + ticks(f[12]) // utime and stime, fields 14 and 15
		found = true
	}
	if !found {
		b.Fatalf("no process in group %d", pgid)
	}
	return total
}

// selfCPU returns this process's user+system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// statFields returns the fields of /proc/PID/stat after the command
// name, which may hold spaces: field 3 (state) first.
func statFields(s string) []string {
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Fields(s)
}

// ticks converts clock ticks (USER_HZ, 100 on Linux) to a duration.
func ticks(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * (time.Second / 100)
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q is not a positive integer", name, v)
	}
	return n
}
