package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// HistoryReader reads a view's offline history: the rows with
// event_timestamp in [from, to) (zero from: unbounded), every version, one
// frame at a time. *parquet.Store is one.
type HistoryReader interface {
	ReadHistory(ctx context.Context, view string, spec parquet.FrameSpec, from, to time.Time, fn func(*features.Frame) error) error
}

var _ HistoryReader = (*parquet.Store)(nil)

// NotDrainedKeys returns the keys of view v whose newest offline row before
// end is not drained (see features.NotDrained), sorted. The run for window
// end passes them to the transform as extra keys, so an entity whose drained
// row a skipped or failed run never wrote gets it now instead of keeping a
// stale value. With a TTL only [end - TTL, end) is read: older rows have
// expired online and in training sets alike; with TTL 0 the whole history is.
func NotDrainedKeys(ctx context.Context, reg *features.Registry, hist HistoryReader, v *features.View, end time.Time) (*features.Column, error) {
	var from time.Time
	if v.TTL > 0 {
		from = end.Add(-v.TTL)
	}
	spec := parquet.HistorySpec(reg.EntityOf(v), v.Features())
	spec.MissingAsNull = true // a feature added later is null in older rows
	newest := features.NewNewest(reg, v)
	if err := hist.ReadHistory(ctx, v.Name, spec, from, end, newest.Add); err != nil {
		return nil, fmt.Errorf("view %s: newest rows before %s: %w", v.Name, end.UTC().Format(time.RFC3339), err)
	}
	keys, err := features.NotDrained(reg, v, newest.Frame())
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", v.Name, err)
	}
	return keys, nil
}
