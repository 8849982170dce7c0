// Package activities holds the side-effecting steps of Skewfree's Temporal
// workflows: compute a window and write its offline partition, then push the
// rows of that partition to the online store. They are thin: the transform is
// features.Compute via package pipeline, the stores are interfaces.
//
// Activities exchange partition references and counts, never rows, so
// workflow histories stay small whatever the data size. Every activity is
// idempotent: a retry recomputes the same rows (created_timestamp comes from
// the workflow, not the clock) and rewrites the same file, and the online
// store's monotonic write makes a repeated push a no-op.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/store/parquet"
)

// Offline is what the activities need of the offline store.
type Offline interface {
	pipeline.OfflineWriter
	pipeline.HistoryReader
	RunRecorder
	RemoveStaleShards(ctx context.Context, view string, end, created time.Time, shards int) error
	RemoveWindowFile(ctx context.Context, view string, end, created time.Time) error
	MarkPublished(ctx context.Context, p parquet.Publication) error
	// HasWindow reports whether a window is stored for good (published).
	HasWindow(ctx context.Context, view string, end time.Time) (bool, error)
	// OpenPartition opens a written partition by its path relative to the
	// store's root, from the shared store (local disk or Cloud Storage), so
	// the push may run on another host than the compute.
	OpenPartition(ctx context.Context, rel string) (*parquet.File, error)
	Root() string
}

// ShardReader is a source reader that can keep one shard's events while it
// decodes (by features.ShardOf of the key column), so a shard's memory
// shrinks with the shard count. *parquet.Sources is one; other readers are
// read whole and filtered.
type ShardReader interface {
	ReadShard(ctx context.Context, src *features.Source, from, to time.Time, key string, i, n int) (*features.Frame, error)
}

var _ ShardReader = (*parquet.Sources)(nil)
var _ Offline = (*parquet.Store)(nil)

// Online is what the activities need of the online store.
type Online interface {
	Write(ctx context.Context, view string, f *features.Frame) (OnlineStats, error)
}

// OnlineStats counts what a push did.
type OnlineStats struct {
	Rows, Written, Stale, Expired int
}

// Add sums o into s.
func (s *OnlineStats) Add(o OnlineStats) {
	s.Rows += o.Rows
	s.Written += o.Written
	s.Stale += o.Stale
	s.Expired += o.Expired
}

// Activities is registered once on a worker; workflows call its methods by
// reference and never build one.
type Activities struct {
	Registry *features.Registry
	Sources  pipeline.SourceReader
	Offline  Offline
	Online   Online // nil: offline only
	// History, when set, also gets every written run's rows (BigQuery),
	// before the offline write: a run whose rows it refuses (an
	// incompatible table) writes nothing anywhere.
	History History
	Logger  *slog.Logger
	// Metrics, when set, count rows, durations and check failures and
	// track each view's staleness.
	Metrics *Metrics
}

// ComputeInput names one window (or one shard of it) to compute.
type ComputeInput struct {
	View      string
	WindowEnd time.Time
	// Created stamps created_timestamp; the workflow fixes it once so that
	// retries write identical rows.
	Created time.Time
	Shard   int // -1: the whole window
	Shards  int // shard count when Shard >= 0
}

// ComputeOutput refers to the partition written.
type ComputeOutput struct {
	Partition parquet.Partition
	Events    int64 // source events read
}

// Error types of non-retryable failures, for workflows and people.
const (
	ErrTypeBadInput = "BadInput"
	// ErrTypePanic: the transform (a FuncTransform's Fn, typically) or a
	// Parquet decoder panicked. The worker lives on; the same input would
	// panic again, so it is not retried.
	ErrTypePanic = "Panic"
)

// ComputeWindow reads the source window, runs the view's transform and
// writes the offline partition as the run's version (whole, atomically;
// replacing only an earlier attempt of the same run, never another run's
// version of the window), then the run's record (profile and checks, see
// docs/format/runs.md).
//
// A whole window's checks run on the computed rows before anything is
// written; when one fails, the view's OnCheckFailure policy decides
// whether the version is still written (flagged) or not (failed), and the
// activity then fails with a non-retryable CheckFailed error. A shard's
// checks wait for every shard: CommitShards runs them.
func (a *Activities) ComputeWindow(ctx context.Context, in ComputeInput) (ComputeOutput, error) {
	began := time.Now()
	v, ok := a.Registry.View(in.View)
	if !ok {
		return ComputeOutput{}, badInput(fmt.Errorf("unknown view %q", in.View))
	}
	if err := features.CheckWindowEnd(v, in.WindowEnd); err != nil {
		return ComputeOutput{}, badInput(err)
	}
	if in.Shard >= 0 && (in.Shards < 1 || in.Shard >= in.Shards) {
		return ComputeOutput{}, badInput(fmt.Errorf("shard %d of %d is invalid", in.Shard, in.Shards))
	}
	defer keepAlive(ctx)()
	src := a.Registry.SourceOf(v)
	joinKey := a.Registry.EntityOf(v).JoinKey
	var ev *features.Frame
	var err error
	if sr, ok := a.Sources.(ShardReader); ok && in.Shard >= 0 {
		// The run's shards may share one scan of the window (BigQuery
		// sources): tell the reader which run this is.
		rctx := pipeline.WithRun(ctx, fmt.Sprintf("%s/%d/%d", in.View, features.Micros(in.WindowEnd), features.Micros(in.Created)))
		ev, err = sr.ReadShard(rctx, src, features.Window(v, in.WindowEnd), in.WindowEnd, joinKey, in.Shard, in.Shards)
	} else {
		ev, err = a.Sources.Read(ctx, src, features.Window(v, in.WindowEnd), in.WindowEnd)
		if err == nil && in.Shard >= 0 {
			ev = shardOf(ev, joinKey, in.Shard, in.Shards)
		}
	}
	if err != nil {
		return ComputeOutput{}, classify(fmt.Errorf("read source %s: %w", src.Name, err))
	}
	activity.RecordHeartbeat(ctx, "source read")
	// Entities whose drained row a skipped or failed run never wrote.
	// Runs publish: a drained row whose push failed does not hide an
	// older value serving still holds.
	scan := pipeline.DrainScan{Published: true}
	if in.Shard >= 0 {
		scan.Shard, scan.Shards = in.Shard, in.Shards
	}
	extra, err := pipeline.NotDrainedKeysOf(ctx, a.Registry, a.Offline, v, in.WindowEnd, scan)
	if err != nil {
		return ComputeOutput{}, classify(err)
	}
	activity.RecordHeartbeat(ctx, "history read")
	opt := features.ComputeOptions{ExtraKeys: extra}
	fr, err := features.ComputeWith(a.Registry, v, ev, in.WindowEnd, in.Created, opt)
	if err != nil {
		return ComputeOutput{}, classify(err)
	}
	activity.RecordHeartbeat(ctx, "computed")
	rec := a.newRunRecord(v, in)
	rec.EventsRead = int64(ev.Len())
	rec.Features = features.Profile(fr, v)
	var failed []features.CheckResult
	if in.Shard < 0 && len(v.Checks) > 0 {
		prev, err := a.previousRun(ctx, v, in.WindowEnd)
		if err != nil {
			return ComputeOutput{}, err
		}
		rec.Checks = features.RunChecks(v, int64(fr.Len()), rec.Features, prev)
		failed = features.FailedChecks(rec.Checks)
		rec.Status = checkStatus(v, failed)
	}
	out := ComputeOutput{Events: int64(ev.Len())}
	if rec.Status == features.RunFailed {
		// An earlier attempt of this run may have passed its checks and
		// written the version (a retry can read later source rows, or a
		// previous window published meanwhile): "failed" means nothing of
		// the run is offline.
		if err := a.Offline.RemoveWindowFile(ctx, v.Name, in.WindowEnd, in.Created); err != nil {
			return ComputeOutput{}, fmt.Errorf("discard failed run: %w", err)
		}
	} else {
		if a.History != nil {
			// A table that cannot take the rows fails the run before
			// anything is written; the rows go there once committed
			// (AppendHistory).
			if err := a.History.Prepare(ctx, v.Name); err != nil {
				return ComputeOutput{}, classify(fmt.Errorf("history table: %w", err))
			}
		}
		p, err := a.Offline.WriteWindow(ctx, v.Name, in.WindowEnd, in.Created, in.Shard, fr, a.Registry.Fingerprint(v.Name))
		if err != nil {
			return ComputeOutput{}, fmt.Errorf("write offline: %w", err)
		}
		out.Partition = p
		rec.RowsWritten = p.Rows
	}
	rec.DurationMS = time.Since(began).Milliseconds()
	if err := a.Offline.WriteRunRecord(ctx, rec); err != nil {
		return ComputeOutput{}, fmt.Errorf("write run record: %w", err)
	}
	a.Metrics.ran(v.Name, rec.RowsWritten, time.Since(began))
	a.log().Info("window computed", "view", v.Name, "window_end", in.WindowEnd, "shard", in.Shard, "events", ev.Len(), "rows", out.Partition.Rows,
		"path", out.Partition.Path, "status", rec.Status)
	if len(failed) > 0 {
		a.Metrics.checksFailed(v.Name, failed)
		cf := CheckFailure{Output: out, Discarded: rec.Status == features.RunFailed, PushOnline: v.OnCheckFailure.PushOnline, Failed: failed}
		a.log().Warn("checks failed", "view", v.Name, "window_end", in.WindowEnd, "status", rec.Status, "error", features.CheckFailureMessage(v.Name, in.WindowEnd, failed))
		return out, checkFailed(v.Name, in.WindowEnd, cf)
	}
	return out, nil
}

// CommitShards removes what an earlier attempt of this run (same Created)
// left that this attempt did not write: its unsharded file and its shards
// numbered >= Shards. Other runs' versions of the window are never touched.
//
// It then runs the view's checks on the shards' merged run records (the
// whole window's stats) and writes the results into every shard's record.
// When one fails it applies the view's OnCheckFailure policy (flag the
// shards, or remove this run's shard files: never published, so no
// as-known-at reader saw them) and fails with a non-retryable CheckFailed
// error.
func (a *Activities) CommitShards(ctx context.Context, in ComputeInput) error {
	defer keepAlive(ctx)()
	if err := a.Offline.RemoveStaleShards(ctx, in.View, in.WindowEnd, in.Created, in.Shards); err != nil {
		return err
	}
	if err := a.Offline.RemoveWindowFile(ctx, in.View, in.WindowEnd, in.Created); err != nil {
		return err
	}
	v, ok := a.Registry.View(in.View)
	if !ok || len(v.Checks) == 0 {
		return nil
	}
	all, err := a.runRecords(ctx, in.View, in.WindowEnd, in.Created)
	if err != nil {
		return err
	}
	var rs []features.RunRecord
	for _, r := range all {
		if r.Shard >= 0 && r.Shard < in.Shards {
			rs = append(rs, r)
		}
	}
	if len(rs) != in.Shards {
		// Every shard activity of this code writes its record before it
		// succeeds, so missing ones were computed by a worker from before
		// run records (a run in flight across a deploy): the window's stats
		// are unknown and the checks cannot run. Failing here would only
		// retry in vain and lose the window; the run goes on unchecked.
		a.log().Warn("checks skipped: shards computed without run records", "view", in.View, "window_end", in.WindowEnd,
			"records", len(rs), "shards", in.Shards)
		return nil
	}
	prev, err := a.previousRun(ctx, v, in.WindowEnd)
	if err != nil {
		return err
	}
	whole := features.MergeShardRecords(rs)
	checks := features.RunChecks(v, whole.RowsWritten, whole.Features, prev)
	status := checkStatus(v, features.FailedChecks(checks))
	// An earlier attempt that decided to discard may have removed the
	// shard files and rewritten some records (rows written 0) before it
	// failed: its decision stands, the records left are not a window to
	// judge again.
	for _, r := range rs {
		if r.Status == features.RunFailed {
			checks, status = r.Checks, features.RunFailed
			break
		}
	}
	failed := features.FailedChecks(checks)
	if status == features.RunFailed {
		if err := a.Offline.RemoveStaleShards(ctx, in.View, in.WindowEnd, in.Created, 0); err != nil {
			return err
		}
	}
	for _, r := range rs {
		r.Checks, r.Status = checks, status
		if status == features.RunFailed {
			r.RowsWritten = 0
		}
		if err := a.Offline.WriteRunRecord(ctx, r); err != nil {
			return fmt.Errorf("write run record: %w", err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	a.Metrics.checksFailed(v.Name, failed)
	a.log().Warn("checks failed", "view", v.Name, "window_end", in.WindowEnd, "status", status, "error", features.CheckFailureMessage(v.Name, in.WindowEnd, failed))
	return checkFailed(v.Name, in.WindowEnd, CheckFailure{Discarded: status == features.RunFailed, PushOnline: v.OnCheckFailure.PushOnline, Failed: failed})
}

// PublishInput names a run's version of a window whose pushes all
// succeeded, and the workflow time taken after they returned.
type PublishInput struct {
	View       string
	WindowEnd  time.Time
	Created    time.Time
	Published  time.Time
	Partitions []parquet.Partition
	// Online holds what each partition's push did (same order), for the
	// run records; empty in histories recorded before run records.
	Online []OnlineStats `json:",omitempty"`
}

// MarkPublished records that a run's version is online from Published on
// (its marker next to the data), then adds the publication time and the
// push counts to the run's records. Idempotent: a retry keeps the first
// marker and rewrites the same records.
func (a *Activities) MarkPublished(ctx context.Context, in PublishInput) error {
	if _, ok := a.Registry.View(in.View); !ok {
		return badInput(fmt.Errorf("unknown view %q", in.View))
	}
	defer keepAlive(ctx)()
	err := a.Offline.MarkPublished(ctx, parquet.Publication{View: in.View, WindowEnd: in.WindowEnd, Created: in.Created,
		Published: in.Published, Partitions: in.Partitions})
	if err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	// Records and BigQuery take the marker's time: a retry keeps the first.
	published := a.markerTime(ctx, in)
	if err := a.recordPublished(ctx, in, published); err != nil {
		return err
	}
	if a.History != nil {
		// After the marker, exactly once.
		if err := a.History.MarkPublished(ctx, in.View, in.WindowEnd, in.Created, published); err != nil {
			return classify(fmt.Errorf("mark published in history: %w", err))
		}
		shards := 0
		for _, p := range in.Partitions {
			if n, ok := parquet.ParseFileName(path.Base(p.Path)); ok && n.Shard >= 0 {
				shards = max(shards, n.Shard+1)
			}
		}
		if err := a.historyRuns(ctx, "published", in.View, in.WindowEnd, in.Created, shards); err != nil {
			return err
		}
	}
	a.Metrics.Published(in.View, in.WindowEnd)
	a.log().Info("version published", "view", in.View, "window_end", in.WindowEnd, "created", in.Created, "published", in.Published)
	return nil
}

// HistoryInput names a run's committed version of a window: its partitions
// are every file of the version (all shards), as the offline store holds
// them once the run's checks and shard commit are done; none when the run
// was discarded.
type HistoryInput struct {
	View       string
	WindowEnd  time.Time
	Created    time.Time
	Shards     int // the run's shard count; 0 or 1: not sharded
	Partitions []parquet.Partition
}

// AppendHistory appends a committed version to the History (BigQuery),
// read back from the offline store, so the second history holds exactly
// the rows of the Parquet one: the last attempt's rows, only the shards
// the run committed, nothing of a discarded run. Then it appends the run's
// records (stage "committed", a discarded run's too). Exactly once: a
// retry adds nothing. Without a History it does nothing.
func (a *Activities) AppendHistory(ctx context.Context, in HistoryInput) (int64, error) {
	if a.History == nil {
		return 0, nil
	}
	v, ok := a.Registry.View(in.View)
	if !ok {
		return 0, badInput(fmt.Errorf("unknown view %q", in.View))
	}
	defer keepAlive(ctx)()
	var n int64
	if len(in.Partitions) > 0 {
		spec := parquet.HistorySpec(a.Registry.EntityOf(v), v.Features())
		var want int64
		for _, p := range in.Partitions {
			want += p.Rows
		}
		rows := func(yield func(*features.Frame) error) error {
			var read int64
			for _, p := range in.Partitions {
				f, err := a.Offline.OpenPartition(ctx, p.Path)
				if err != nil {
					return fmt.Errorf("open partition: %w", err)
				}
				err = f.ReadFrames(spec, func(fr *features.Frame) error {
					read += int64(fr.Len())
					return yield(fr)
				})
				f.Close()
				if err != nil {
					return fmt.Errorf("read partition %s: %w", p.Path, err)
				}
			}
			if read != want {
				return fmt.Errorf("the version's partitions hold %d rows, their writes reported %d", read, want)
			}
			return nil
		}
		var err error
		n, err = a.History.AppendVersion(ctx, in.View, in.WindowEnd, in.Created, want, rows)
		if err != nil {
			return 0, classify(fmt.Errorf("append history of %s window %s: %w", in.View, in.WindowEnd.Format(time.RFC3339), err))
		}
		a.log().Info("history appended", "view", in.View, "window_end", in.WindowEnd, "created", in.Created, "rows", n)
	}
	if err := a.historyRuns(ctx, "committed", in.View, in.WindowEnd, in.Created, in.Shards); err != nil {
		return n, err
	}
	return n, nil
}

// historyRuns appends the run's records of the shards it committed (shards
// < 1: its whole-window record) to the History at stage.
func (a *Activities) historyRuns(ctx context.Context, stage, view string, end, created time.Time, shards int) error {
	all, err := a.runRecords(ctx, view, end, created)
	if err != nil {
		return err
	}
	var rs []features.RunRecord
	for _, r := range all {
		if shards > 1 && r.Shard >= 0 && r.Shard < shards || shards <= 1 && r.Shard < 0 {
			rs = append(rs, r)
		}
	}
	if err := a.History.AppendRuns(ctx, stage, rs); err != nil {
		if errors.Is(err, features.ErrInput) {
			// The records are a copy (the offline store has them): a
			// _runs table that cannot take them must not stop the data,
			// nor every later run.
			a.log().Error("run records not written to the history: fix the table", "view", view, "window_end", end, "stage", stage, "error", err)
			return nil
		}
		return fmt.Errorf("run records to history: %w", err)
	}
	return nil
}

// PushInput names a partition to push online.
type PushInput struct {
	View      string
	Partition parquet.Partition
}

// PushOnline reads back the partition just written (this run's own version
// file, so a concurrent run of the window cannot change what it reads) from
// the shared offline store, wherever the compute ran, and
// writes its rows to the online store, so online values are exactly the
// offline rows.
func (a *Activities) PushOnline(ctx context.Context, in PushInput) (OnlineStats, error) {
	if a.Online == nil {
		return OnlineStats{}, nil
	}
	v, ok := a.Registry.View(in.View)
	if !ok {
		return OnlineStats{}, badInput(fmt.Errorf("unknown view %q", in.View))
	}
	defer keepAlive(ctx)()
	ent := a.Registry.EntityOf(v)
	f, err := a.Offline.OpenPartition(ctx, in.Partition.Path)
	if err != nil {
		return OnlineStats{}, fmt.Errorf("open partition: %w", err)
	}
	defer f.Close()
	spec := parquet.HistorySpec(ent, v.Features())
	var total OnlineStats
	err = f.ReadFrames(spec, func(fr *features.Frame) error {
		// Several writers keep Redis busy while the others encode their
		// next batch; the monotonic rule makes their order irrelevant, and
		// a partition holds each entity once.
		// Writer w takes the contiguous rows [w*n/pushWriters, (w+1)*n/pushWriters).
		n := fr.Len()
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sts := make([]OnlineStats, pushWriters)
		errs := make([]error, pushWriters)
		var wg sync.WaitGroup
		for w := range pushWriters {
			rows := idx[w*n/pushWriters : (w+1)*n/pushWriters]
			if len(rows) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer features.RecoverPanic(&errs[w], "push "+v.Name)
				sts[w], errs[w] = a.Online.Write(ctx, v.Name, fr.Take(rows))
			}()
		}
		wg.Wait()
		for _, st := range sts {
			total.Add(st)
		}
		activity.RecordHeartbeat(ctx, total.Rows)
		return errors.Join(errs...)
	})
	if err != nil {
		return total, classify(fmt.Errorf("push %s online: %w", in.Partition.Path, err))
	}
	if int64(total.Rows) != in.Partition.Rows {
		return total, fmt.Errorf("push %s online: read %d rows back, the write reported %d", in.Partition.Path, total.Rows, in.Partition.Rows)
	}
	return total, nil
}

// pushWriters is how many concurrent writers PushOnline runs per row group.
const pushWriters = 4

// heartbeatEvery is well inside the workflows' heartbeat timeout, so that a
// single long step (reading 90 days of source, writing a huge window) is not
// mistaken for a dead worker.
const heartbeatEvery = 20 * time.Second

// keepAlive heartbeats until the returned stop is called, every
// heartbeatEvery or a third of the activity's heartbeat timeout when that is
// shorter (a test's few seconds). The steps' own heartbeats say where the
// activity is; this one says it is alive.
func keepAlive(ctx context.Context) (stop func()) {
	every := heartbeatEvery
	if activity.IsActivity(ctx) {
		if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 {
			every = min(every, max(hb/3, 100*time.Millisecond))
		}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx, "working")
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done) }
}

func (a *Activities) log() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

func badInput(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
}

// classify marks input problems (schema mismatches, bad definitions)
// non-retryable: retrying cannot fix them, and the message says what to fix.
func classify(err error) error {
	if pe := (*features.PanicError)(nil); errors.As(err, &pe) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePanic, err, string(pe.Stack))
	}
	if errors.Is(err, features.ErrInput) || errors.Is(err, parquet.ErrSchema) || errors.Is(err, parquet.ErrNoSource) {
		return badInput(err)
	}
	return err
}

// ShardOf assigns an entity key to one of n shards: features.ShardOf, kept
// here for callers of this package.
func ShardOf(key *features.Column, row, n int) int { return features.ShardOf(key, row, n) }

// shardOf keeps the events whose key falls in shard i of n.
func shardOf(ev *features.Frame, joinKey string, i, n int) *features.Frame {
	key := ev.Column(joinKey)
	if key == nil {
		return ev // Compute reports the missing key
	}
	var rows []int
	for r := range ev.Time {
		if key.Valid[r] && ShardOf(key, r, n) == i {
			rows = append(rows, r)
		}
	}
	return ev.Take(rows)
}
