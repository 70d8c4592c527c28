package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// child is a server process started by the runner.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	addr    string
	startup time.Duration // spawn to READY, as the runner saw it
}

// startChild runs `self serve args…`, pinned to cpu with taskset when cpu
// is not empty, and waits for its READY line.
func startChild(self, cpu, name string, logTo io.Writer, args ...string) (*child, error) {
	argv := append([]string{self, "serve"}, args...)
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logTo
	cmd.Env = os.Environ()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: no READY line (see its log): %w", name, err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		c.stop()
		return nil, fmt.Errorf("%s: unexpected line %q", name, line)
	}
	c.addr = f[1]
	c.startup = time.Since(start)
	if _, err := strconv.Atoi(f[2]); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: unexpected line %q", name, line)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) cpu() time.Duration {
	d, err := cpuTime(c.pid())
	if err != nil {
		return 0
	}
	return d
}

func (c *child) stats() (ChildStats, error) { return c.ask("stats") }

// gcStats is stats after a full collection in the child: its live heap.
func (c *child) gcStats() (ChildStats, error) { return c.ask("gcstats") }

func (c *child) ask(cmd string) (ChildStats, error) {
	var s ChildStats
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return s, err
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(line, &s)
}

// Settling: a server is idle once it uses at most settleBusy of CPU in a
// settleWindow; settle gives up waiting after settleMax.
const (
	settleWindow = 200 * time.Millisecond
	settleBusy   = 10 * time.Millisecond // one clock tick of /proc/PID/stat
	settleMax    = 30 * time.Second
)

// settle waits until the server has done the work its Checks so far left
// behind, so that the CPU time read next includes it: partnergate's
// writes of the uses of API keys, which it makes every few seconds, and
// then whatever else is still running, such as a garbage collection
// cycle, whose idle-priority mark workers take the whole of an idle CPU
// until the cycle ends.
func (c *child) settle() error {
	if _, err := io.WriteString(c.stdin, "flush\n"); err != nil {
		return err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "OK" {
		return fmt.Errorf("%s: flush: %s", c.name, line)
	}
	for deadline := time.Now().Add(settleMax); time.Now().Before(deadline); {
		cpu0 := c.cpu()
		time.Sleep(settleWindow)
		if c.cpu()-cpu0 <= settleBusy {
			return nil
		}
	}
	return nil // still busy: the next run starts anyway, as it did before
}

// stop closes the child's stdin, which shuts it down, and waits.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
