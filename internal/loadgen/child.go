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
