package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// mintJob is what [Issuer.TokensOnEveryCPU] sends a minting child on its
// standard input: the benchmark's own throwaway signing key, generated at
// start and never written to disk, and the tokens to sign.
type mintJob struct {
	Alg, KID, Issuer, Prefix string
	Key                      []byte // PKCS #8 DER
	N                        int
	Now                      time.Time
}

// TokensOnEveryCPU is [Issuer.Tokens] signed by a child process, `self
// mint`, allowed to run on every CPU of the machine: pgload runs pinned to
// the client's one core, where 100,000 RSA-2048 signatures take minutes.
// The tokens are the ones Tokens would mint, signed with the same key.
func (is *Issuer) TokensOnEveryCPU(ctx context.Context, self, alg string, n int) ([]string, error) {
	job, err := is.mintJob(alg, n)
	if err != nil {
		return nil, err
	}
	cpus := max(1, machineCPUs())
	cmd := exec.CommandContext(ctx, "taskset", "-c", fmt.Sprintf("0-%d", cpus-1), self, "mint")
	cmd.Stdin = bytes.NewReader(job)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", cpus))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	toks := make([]string, 0, n)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		toks = append(toks, sc.Text())
	}
	err = errors.Join(sc.Err(), cmd.Wait())
	if err == nil && len(toks) != n {
		err = fmt.Errorf("minted %d tokens, want %d", len(toks), n)
	}
	if err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	return toks, nil
}

// mintJob returns the job of n tokens signed with alg, as [Mint] reads it.
func (is *Issuer) mintJob(alg string, n int) ([]byte, error) {
	method, kid, key, err := is.signer(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mintJob{Alg: method.Alg(), KID: kid, Issuer: is.URL, Prefix: "pgload-" + alg, Key: der, N: n, Now: time.Now()})
}

// Mint is the minting child: it reads a job from in, signs its tokens on
// GOMAXPROCS goroutines and writes them to out, one a line, in order.
func Mint(in io.Reader, out io.Writer) error {
	var job mintJob
	if err := json.NewDecoder(in).Decode(&job); err != nil {
		return fmt.Errorf("mint: reading the job: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(job.Key)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	method := jwt.GetSigningMethod(job.Alg)
	if method == nil {
		return fmt.Errorf("mint: algorithm %q", job.Alg)
	}
	toks, err := mintAll(method, job.KID, key, job.Issuer, job.Prefix, job.N, job.Now, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	for _, t := range toks {
		if _, err := w.WriteString(t + "\n"); err != nil {
			return err
		}
	}
	return w.Flush()
}

// machineCPUs returns how many processors the machine has, whatever this
// process's affinity.
func machineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n, _ := cpuInfo(string(b))
	return n
}
