package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/store"
)

// ScaleOptions configures [Scale]. Zero fields take the default beside
// them.
type ScaleOptions struct {
	Self string // this binary, re-executed as the server child; required
	Dir  string // scratch directory for the store and logs; required
	Keys int    // credentials loaded (10,000,000)
	// Revocations is how many of them are revoked, in the store, once the
	// replica serves; the replica applies them from the change feed
	// (1,000,000; negative: none).
	Revocations int
	ServerCPU   string        // taskset CPU list for the server ("": unpinned)
	Profile     string        // where partnergate writes its CPU profile ("": none)
	Sample      time.Duration // how often the replica's memory is sampled while it applies the feed (250ms)
	Out         io.Writer
}

func (o *ScaleOptions) defaults() {
	if o.Keys <= 0 {
		o.Keys = 10_000_000
	}
	if o.Revocations == 0 {
		o.Revocations = 1_000_000
	}
	o.Revocations = min(max(o.Revocations, 0), o.Keys)
	if o.Sample <= 0 {
		o.Sample = 250 * time.Millisecond
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// ScaleResult is what [Scale] measured.
type ScaleResult struct {
	Seeding time.Duration // seeding the store: the tool's own cost
	// Serving is spawn to Check serving: process start, store open,
	// snapshot read and index built.
	Serving time.Duration
	// ServingCPU is the replica's CPU time (user and system) once serving.
	ServingCPU time.Duration
	Keys       int // credentials the replica holds once serving
	// LiveHeap is the Go heap after a full collection once serving, and
	// PeakRSS the process's peak resident set by then.
	LiveHeap, PeakRSS uint64
	// Replay is the time from the first revocation written to the last
	// applied, and the heap figures of that span: sampled peak, and live
	// after (after a full collection), and the peak RSS at the end.
	Replay                                 time.Duration
	ReplayPeakHeap, ReplayLiveHeap, EndRSS uint64
	Applied                                int64 // feed versions applied during the replay
	Compactions                            int64 // index segments compacted by the end
}

// Scale seeds a SQLite store with Keys credentials, starts partnergate
// over it as a child process and reports how long it took to serve and
// the memory it holds; then revokes Revocations of the keys in the store,
// as another replica's admin API would (through the feed the replica
// reads, not through this replica), and reports the replica's memory
// while and after it applies them.
func Scale(ctx context.Context, o ScaleOptions) (*ScaleResult, error) {
	o.defaults()
	w := o.Out
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "machine: %s\n", describeMachine())
	fmt.Fprintf(w, "seeding %d credentials into SQLite...\n", o.Keys)
	seeded, err := Seed(ctx, o.Dir, format, o.Keys, 1)
	if err != nil {
		return nil, err
	}
	res := &ScaleResult{Seeding: seeded.Took}
	dbPath := filepath.Join(o.Dir, "partnergate.db")
	var dbSize int64
	if fi, err := os.Stat(dbPath); err == nil {
		dbSize = fi.Size()
	}
	fmt.Fprintf(w, "seeded in %s (%.0f keys/s; tool only); database %d MiB\n",
		seeded.Took.Round(time.Millisecond), float64(o.Keys)/seeded.Took.Seconds(), dbSize>>20)

	logf, err := os.Create(filepath.Join(o.Dir, "servers.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	spawn := time.Now()
	pg, err := startChild(o.Self, o.ServerCPU, "partnergate", logf,
		"--kind", "partnergate", "--store", seeded.StoreURL, "--pepper-file", seeded.PepperFile, "--cpuprofile", o.Profile)
	if err != nil {
		return nil, err
	}
	defer pg.stop()
	st, err := pg.gcStats()
	if err != nil {
		return nil, err
	}
	res.Serving = time.Unix(0, st.ServingAt).Sub(spawn)
	res.Keys, res.LiveHeap = st.Keys, st.HeapAlloc
	hwm, _ := peakRSS(pg.pid())
	res.PeakRSS = uint64(hwm)
	// CPU time depends less on what else the machine runs than the wall
	// clock does; it includes the collection before the READY line.
	res.ServingCPU = pg.cpu()
	fmt.Fprintf(w, "serving %d keys %s after spawn (process start, store open, snapshot, index); %s of CPU by then\n",
		st.Keys, res.Serving.Round(time.Millisecond), res.ServingCPU)
	fmt.Fprintf(w, "live heap %d MiB: %.0f B/key; heap from the OS %d MiB; peak RSS %d MiB\n",
		st.HeapAlloc>>20, float64(st.HeapAlloc)/float64(o.Keys), st.HeapSys>>20, hwm>>20)
	if st.Keys != o.Keys {
		return nil, fmt.Errorf("scale: the replica holds %d keys, want %d", st.Keys, o.Keys)
	}
	if o.Revocations == 0 {
		return res, nil
	}

	fmt.Fprintf(w, "revoking %d keys in the store while the replica follows the feed...\n", o.Revocations)
	start := time.Now()
	done := make(chan error, 1)
	var target int64
	go func() {
		v, err := revokeKeys(ctx, dbPath, o.Revocations)
		target = v
		done <- err
	}()
	tick := time.NewTicker(o.Sample)
	defer tick.Stop()
	written := false
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("scale: revoking: %w", err)
			}
			written = true
			fmt.Fprintf(w, "revocations written in %s; feed version %d\n", time.Since(start).Round(time.Millisecond), target)
			done = nil
		case <-tick.C:
		}
		s, err := pg.stats()
		if err != nil {
			return nil, err
		}
		res.ReplayPeakHeap = max(res.ReplayPeakHeap, s.HeapAlloc)
		if written && s.Version >= target {
			res.Replay = time.Since(start)
			res.Applied = s.Version - st.Version
			break
		}
	}
	after, err := pg.gcStats()
	if err != nil {
		return nil, err
	}
	res.ReplayLiveHeap, res.Compactions = after.HeapAlloc, after.Compactions
	hwm, _ = peakRSS(pg.pid())
	res.EndRSS = uint64(hwm)
	fmt.Fprintf(w, "replica applied %d feed entries in %s (write to last applied); %d index segments compacted\n",
		res.Applied, res.Replay.Round(time.Millisecond), res.Compactions)
	fmt.Fprintf(w, "heap: live %d MiB before, peak %d MiB while applying (sampled every %s), live %d MiB after (%.0f B/key); peak RSS %d MiB\n",
		res.LiveHeap>>20, res.ReplayPeakHeap>>20, o.Sample, res.ReplayLiveHeap>>20,
		float64(res.ReplayLiveHeap)/float64(o.Keys), hwm>>20)
	return res, nil
}

// revokeBatch is how many revocations one transaction writes.
const revokeBatch = 10_000

// revokeKeys revokes the first n credentials of the SQLite store at path
// as the store's own revocation does — revoked_at set, the row's version
// moved, a change-feed entry appended — but with SQL, many to a
// transaction and without audit events: a million audited admin calls
// would take the better part of an hour, and the replica reads only the
// feed and the credentials. It returns the newest feed version.
func revokeKeys(ctx context.Context, path string, n int) (int64, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, `SELECT id FROM credentials WHERE revoked_at IS NULL ORDER BY rowid LIMIT $1`, n)
	if err != nil {
		return 0, err
	}
	ids := make([]string, 0, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	var last int64
	for len(ids) > 0 {
		batch := ids[:min(revokeBatch, len(ids))]
		ids = ids[len(batch):]
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			now := time.Now().UnixMicro()
			upd, err := tx.PrepareContext(ctx, `UPDATE credentials SET revoked_at = $1, version = version + 1 WHERE id = $2`)
			if err != nil {
				return err
			}
			feed, err := tx.PrepareContext(ctx, `INSERT INTO changes (kind, id, at) VALUES ($1, $2, $3) RETURNING version`)
			if err != nil {
				return err
			}
			for _, id := range batch {
				if _, err := upd.ExecContext(ctx, now, id); err != nil {
					return err
				}
				if err := feed.QueryRowContext(ctx, string(store.KindCredential), id, now).Scan(&last); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			return 0, err
		}
	}
	return last, nil
}
