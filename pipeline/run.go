package pipeline

import "context"

type runKey struct{}

// WithRun tells source readers which run a read is for (view, window end and
// created_timestamp, as the caller formats them): readers that share one scan
// of a window between the shards of a run (the BigQuery sources) key it on
// this, so a later run of the same window (a correction) scans afresh.
func WithRun(ctx context.Context, run string) context.Context {
	return context.WithValue(ctx, runKey{}, run)
}

// RunOf returns the run WithRun set, if any.
func RunOf(ctx context.Context) (string, bool) {
	r, ok := ctx.Value(runKey{}).(string)
	return r, ok && r != ""
}
