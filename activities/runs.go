package activities

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// RunRecorder is what the activities need to keep run records
// (docs/format/runs.md). *parquet.Store is one.
type RunRecorder interface {
	WriteRunRecord(ctx context.Context, r features.RunRecord) error
	RunRecords(ctx context.Context, view string, from, to time.Time) ([]features.RunRecord, error)
}

// ErrTypeCheckFailed is the error type of a run whose data-quality checks
// failed (non-retryable: the same rows fail again). Its details are a
// CheckFailure; its message names view, window, feature, check, value and
// bound of every failed check.
const ErrTypeCheckFailed = "CheckFailed"

// CheckFailure is what a CheckFailed error carries to the workflow: what
// the view's policy still allows (features.CheckPolicy) and what was done.
type CheckFailure struct {
	// Output is what the activity wrote (ComputeWindow of a whole window);
	// its Partition is zero when the version was discarded.
	Output ComputeOutput
	// Discarded: nothing of this run is offline (DiscardOffline).
	Discarded bool
	// PushOnline: the policy pushes and publishes the flagged version.
	PushOnline bool
	Failed     []features.CheckResult
}

// AsCheckFailure reports whether err is (or wraps) a CheckFailed error,
// and returns its details. Workflows call it: it does no I/O.
func AsCheckFailure(err error) (CheckFailure, bool) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrTypeCheckFailed {
		return CheckFailure{}, false
	}
	var cf CheckFailure
	if app.HasDetails() {
		if derr := app.Details(&cf); derr != nil {
			return CheckFailure{}, true
		}
	}
	return cf, true
}

func checkFailed(view string, end time.Time, cf CheckFailure) error {
	return temporal.NewNonRetryableApplicationError(features.CheckFailureMessage(view, end, cf.Failed), ErrTypeCheckFailed, nil, cf)
}

// newRunRecord starts the record of one run (or shard) of v's window.
func (a *Activities) newRunRecord(v *features.View, in ComputeInput) features.RunRecord {
	shard := in.Shard
	if shard < 0 {
		shard = -1
	}
	return features.RunRecord{
		View: v.Name, WindowStart: in.WindowEnd.Add(-v.Cadence.Duration()).UTC(), WindowEnd: in.WindowEnd.UTC(),
		Created: in.Created.UTC().Truncate(time.Microsecond), Shard: shard, Fingerprint: a.Registry.Fingerprint(v.Name),
		Status: features.RunOK,
	}
}

// previousRun is the previous window's newest published version, its
// shards merged; nil when there is none (first window, or the previous
// window never published).
func (a *Activities) previousRun(ctx context.Context, v *features.View, end time.Time) (*features.RunRecord, error) {
	prevEnd := end.Add(-v.Cadence.Duration())
	rs, err := a.Offline.RunRecords(ctx, v.Name, prevEnd, prevEnd.Add(time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("previous run of %s: %w", v.Name, err)
	}
	// Records come sorted by created then shard: take the newest version
	// with a publication time.
	var newest time.Time
	for _, r := range rs {
		if r.Published != nil && r.Status != features.RunFailed && r.Created.After(newest) {
			newest = r.Created
		}
	}
	if newest.IsZero() {
		return nil, nil
	}
	var parts []features.RunRecord
	for _, r := range rs {
		if r.Created.Equal(newest) {
			parts = append(parts, r)
		}
	}
	m := features.MergeShardRecords(parts)
	return &m, nil
}

// runRecords returns the records of one run (all its shards).
func (a *Activities) runRecords(ctx context.Context, view string, end, created time.Time) ([]features.RunRecord, error) {
	rs, err := a.Offline.RunRecords(ctx, view, end, end.Add(time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("run records of %s: %w", view, err)
	}
	created = created.UTC().Truncate(time.Microsecond)
	var out []features.RunRecord
	for _, r := range rs {
		if r.Created.Equal(created) {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkStatus is a run's status once its checks ran.
func checkStatus(v *features.View, failed []features.CheckResult) features.RunStatus {
	switch {
	case len(failed) == 0:
		return features.RunOK
	case v.OnCheckFailure.DiscardOffline:
		return features.RunFailed
	}
	return features.RunFlagged
}

// publicationReader reads a version's publication marker
// (*parquet.Store does).
type publicationReader interface {
	Publication(ctx context.Context, view string, end, created time.Time) (parquet.Publication, bool, error)
}

var _ publicationReader = (*parquet.Store)(nil)

// markerTime is the version's publication time as its marker says: the
// first attempt's, which a retry (with a later in.Published) keeps.
func (a *Activities) markerTime(ctx context.Context, in PublishInput) time.Time {
	if pr, ok := a.Offline.(publicationReader); ok {
		if m, ok, err := pr.Publication(ctx, in.View, in.WindowEnd, in.Created); err == nil && ok {
			return m.Published.UTC()
		}
	}
	return in.Published.UTC()
}

// recordPublished adds the publication time (the marker's, see markerTime)
// and each shard's push counts to the run's records.
func (a *Activities) recordPublished(ctx context.Context, in PublishInput, published time.Time) error {
	rs, err := a.runRecords(ctx, in.View, in.WindowEnd, in.Created)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		a.log().Warn("published a run without run records", "view", in.View, "window_end", in.WindowEnd, "created", in.Created)
		return nil
	}
	byShard := map[int]OnlineStats{}
	for i, p := range in.Partitions {
		if i >= len(in.Online) {
			break
		}
		n, ok := parquet.ParseFileName(filepath.Base(p.Path))
		if !ok {
			continue
		}
		byShard[n.Shard] = in.Online[i]
	}
	for _, r := range rs {
		r.Published = &published
		if st, ok := byShard[r.Shard]; ok {
			r.Online = &features.OnlineCounts{Written: int64(st.Written), Stale: int64(st.Stale), Expired: int64(st.Expired)}
		}
		if err := a.Offline.WriteRunRecord(ctx, r); err != nil {
			return fmt.Errorf("write run record: %w", err)
		}
	}
	return nil
}
