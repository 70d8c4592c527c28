package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// cpuTime returns a process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("loadgen: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3, utime 14, stime 15 (1-based in proc(5)).
	if len(f) < 13 {
		return 0, fmt.Errorf("loadgen: /proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("loadgen: /proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// rss returns a process's resident set size in bytes.
func rss(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// peakRSS returns a process's peak resident set size in bytes.
func peakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM:") }

// procStatus returns a size field of /proc/PID/status in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("loadgen: /proc/%d/status: no %s", pid, strings.TrimSuffix(field, ":"))
}

// describeMachine names what the figures depend on: the machine's CPUs
// and their model, the kernel's transparent-huge-page mode (the Go heap
// gets huge pages only under "always") and the Go version. Anything
// unreadable is "?".
func describeMachine() string {
	n, model := 0, "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n, model = cpuInfo(string(b))
	}
	thp := "?"
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil {
		thp = selected(string(b))
	}
	return fmt.Sprintf("%d CPUs, %s; transparent huge pages %s; %s", n, model, thp, runtime.Version())
}

// cpuInfo returns how many processors a /proc/cpuinfo lists (the
// machine's, whatever this process's affinity) and the first one's model
// name, or "?".
func cpuInfo(cpuinfo string) (n int, model string) {
	model = "?"
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "processor":
			n++
		case k == "model name" && model == "?":
			model = strings.TrimSpace(v)
		}
	}
	return n, model
}

// selected returns the bracketed choice of a sysfs setting such as
// "always [madvise] never", or "?".
func selected(setting string) string {
	_, rest, ok := strings.Cut(setting, "[")
	if v, _, ok2 := strings.Cut(rest, "]"); ok && ok2 {
		return v
	}
	return "?"
}
