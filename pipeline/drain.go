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
// frame at a time, each with where it comes from (published or not, fitting
// the spec or not). *parquet.Store is one.
type HistoryReader interface {
	ReadHistory(ctx context.Context, view string, spec parquet.FrameSpec, from, to time.Time, fn func(*features.Frame, parquet.HistoryPart) error) error
}

var _ HistoryReader = (*parquet.Store)(nil)

// DrainScan says how NotDrainedKeysOf reads the history.
type DrainScan struct {
	// Published decides from what serving could hold, for runs that
	// publish (a worker's): a version without a publication marker may be
	// online in part or not at all, so a key counts as drained only when
	// both its newest published row and its newest row of any version are
	// drained. A drained row whose push failed then does not hide an older
	// value still served. Without it (`materialize --local`, which never
	// publishes) the newest row of any version decides.
	Published bool
	// Shards > 0 keeps only the keys of shard Shard of Shards
	// (features.ShardOf), dropped as they are read: a sharded run's share.
	Shard, Shards int
}

// NotDrainedKeys is NotDrainedKeysOf over every version and every key.
func NotDrainedKeys(ctx context.Context, reg *features.Registry, hist HistoryReader, v *features.View, end time.Time) (*features.Column, error) {
	return NotDrainedKeysOf(ctx, reg, hist, v, end, DrainScan{})
}

// NotDrainedKeysOf returns the keys of view v whose newest offline row
// before end is not drained (see features.NotDrained, and DrainScan for
// which rows count), sorted. The run for window end passes them to the
// transform as extra keys, so an entity whose drained row a skipped or
// failed run never wrote gets it now instead of keeping a stale value. With
// a TTL only [end - TTL, end) is read: older rows have expired online and in
// training sets alike; with TTL 0 the whole history is. A row stored under
// an earlier definition of the view (a feature's type changed since) counts
// as not drained: the key gets one drained row under the current definition.
func NotDrainedKeysOf(ctx context.Context, reg *features.Registry, hist HistoryReader, v *features.View, end time.Time, scan DrainScan) (*features.Column, error) {
	var from time.Time
	if v.TTL > 0 {
		from = end.Add(-v.TTL)
	}
	spec := parquet.HistorySpec(reg.EntityOf(v), v.Features())
	spec.MissingAsNull = true // a feature added later is null in older rows
	all, published := features.NewNewest(reg, v), features.NewNewest(reg, v)
	add := func(n *features.Newest, fr *features.Frame, part parquet.HistoryPart) error {
		if part.Misfit {
			return n.AddMisfit(fr)
		}
		return n.Add(fr)
	}
	err := hist.ReadHistory(ctx, v.Name, spec, from, end, func(fr *features.Frame, part parquet.HistoryPart) error {
		if scan.Shards > 0 {
			var rows []int
			for r := range fr.Time {
				if fr.Key.Valid[r] && features.ShardOf(fr.Key, r, scan.Shards) == scan.Shard {
					rows = append(rows, r)
				}
			}
			if len(rows) == 0 {
				return nil
			}
			if len(rows) < fr.Len() {
				fr = fr.Take(rows)
			}
		}
		if scan.Published && !part.Unpublished {
			if err := add(published, fr, part); err != nil {
				return err
			}
		}
		return add(all, fr, part)
	})
	if err != nil {
		return nil, fmt.Errorf("view %s: newest rows before %s: %w", v.Name, end.UTC().Format(time.RFC3339), err)
	}
	keys, err := all.NotDrained(reg, v)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", v.Name, err)
	}
	if scan.Published {
		pk, err := published.NotDrained(reg, v)
		if err != nil {
			return nil, fmt.Errorf("view %s: %w", v.Name, err)
		}
		keys = features.UnionKeys(keys, pk)
	}
	return keys, nil
}
