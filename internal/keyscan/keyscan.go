// Package keyscan finds partner API keys in files, offline: strings of
// the configured key format whose checksum is right, so that random
// look-alikes are not reported. It streams each file, skips binary files
// and .git directories, and scans files in parallel.
//
// A match must stand alone: the byte before it and the byte after it, if
// any, are not word characters [0-9A-Za-z_], as the \b of the shipped
// gitleaks and trufflehog rules requires. Findings print and marshal the
// public key id, never the secret: the key itself is kept as an
// [apikey.Key], which prints redacted, for `partnergate scan --revoke` to
// send to the server that judges it.
//
// It does no other I/O than reading what it is given and imports nothing
// of partnergate's but the key format.
package keyscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/partnergate/partnergate/internal/apikey"
)

// Finding is one key found: where, and its public id.
type Finding struct {
	Path  string `json:"path"`
	Line  int    `json:"line"`
	KeyID string `json:"key_id"`
	// Key is the key found. It never marshals, and prints redacted; only
	// [apikey.Key.Reveal] shows it.
	Key apikey.Key `json:"-"`
}

// Options configures [Scan]. Zero values take the defaults.
type Options struct {
	// Workers scan files in parallel (default GOMAXPROCS).
	Workers int
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Skipped, if set, is told of each file skipped as binary or
	// unreadable, with why.
	Skipped func(path, why string)
}

// binarySniff is how much of a file is searched for a NUL byte to call it
// binary, as git does.
const binarySniff = 8000

// Scan scans paths (files or directories, walked recursively; "-" is
// Stdin) and returns the findings ordered by path and line.
func Scan(ctx context.Context, f apikey.Format, paths []string, o Options) ([]Finding, error) {
	if f.Prefix() == "" {
		return nil, errors.New("keyscan: zero Format")
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	files := make(chan string, 256)
	var (
		mu  sync.Mutex
		out []Finding
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for p := range files {
				found, err := scanFile(f, p, o)
				if err != nil {
					if o.Skipped != nil {
						o.Skipped(p, err.Error())
					}
					continue
				}
				if len(found) > 0 {
					mu.Lock()
					out = append(out, found...)
					mu.Unlock()
				}
			}
		})
	}
	walkErr := walk(ctx, paths, files)
	close(files)
	wg.Wait()
	slices.SortFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out, walkErr
}

// walk sends every regular file under paths to files, skipping .git
// directories; a path given that does not exist is an error.
func walk(ctx context.Context, paths []string, files chan<- string) error {
	var errs []error
	for _, root := range paths {
		if root == "-" {
			files <- root
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root {
					return err
				}
				return nil // an unreadable entry below root is skipped
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if d.Name() == ".git" {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files <- p
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// errBinary marks a file skipped as binary.
var errBinary = errors.New("binary")

func scanFile(f apikey.Format, path string, o Options) ([]Finding, error) {
	var r io.Reader
	if path == "-" {
		if o.Stdin == nil {
			return nil, errors.New("no standard input")
		}
		r = o.Stdin
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	var out []Finding
	err := scanReader(f, r, func(line int, k apikey.Key) {
		out = append(out, Finding{Path: path, Line: line, KeyID: k.ID(), Key: k})
	})
	return out, err
}

// ScanReader reports each key of format f in r by line and key id. It
// reads r once, in pieces, however long its lines; a reader whose first
// bytes hold a NUL is binary and skipped with an error.
func ScanReader(f apikey.Format, r io.Reader, found func(line int, keyID string)) error {
	return scanReader(f, r, func(line int, k apikey.Key) { found(line, k.ID()) })
}

func scanReader(f apikey.Format, r io.Reader, found func(line int, k apikey.Key)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(binarySniff); bytes.IndexByte(head, 0) >= 0 {
		return errBinary
	}
	prefix := []byte(f.Prefix())
	n := f.Len()
	line := 1
	var data []byte
	skip := false // data[0] is only the byte before the next piece
	for {
		frag, err := br.ReadSlice('\n')
		data = append(data, frag...)
		lineEnds := err == nil || errors.Is(err, io.EOF) // the last byte is the line's end
		start := 0
		if skip {
			start = 1
		}
		for i := start; ; {
			j := bytes.Index(data[i:], prefix)
			if j < 0 {
				break
			}
			at := i + j
			end := at + n
			if end > len(data) || (end == len(data) && !lineEnds) {
				break // the rest comes with the next piece
			}
			if (at == 0 || !word(data[at-1])) && (end == len(data) || !word(data[end])) {
				if k, err := f.Parse(string(data[at:end])); err == nil {
					found(line, k)
				}
			}
			i = at + 1
		}
		switch {
		case err == nil: // a whole line
			line++
			data, skip = data[:0], false
		case errors.Is(err, bufio.ErrBufferFull): // a long line goes on
			keep := min(len(data), n+1)
			copy(data, data[len(data)-keep:])
			data, skip = data[:keep], true
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// word reports whether c is a regular-expression word character.
func word(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_'
}
