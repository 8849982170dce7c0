// Package pipeline runs one materialization window end to end in-process:
// read the source window, run the view's transform, write the offline
// partition. The Temporal activities call these same functions, so a window
// computed here, by a schedule or by a backfill is the same.
package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// SourceReader reads a source's events with event time in [from, to).
type SourceReader interface {
	Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error)
}

// OfflineWriter writes a window's rows as the version created at created:
// earlier versions stay; a rewrite of the same version replaces it.
type OfflineWriter interface {
	WriteWindow(ctx context.Context, view string, end, created time.Time, shard int, f *features.Frame, fingerprint string) (parquet.Partition, error)
}

// ComputeWindow reads the input range of view's window ending at end and
// runs the transform. created stamps the rows' created_timestamp.
func ComputeWindow(ctx context.Context, reg *features.Registry, src SourceReader, view string, end, created time.Time) (*features.Frame, error) {
	return computeWindow(ctx, reg, src, nil, view, end, created)
}

// computeWindow is ComputeWindow that, when hist is not nil, also gives a
// row to every entity whose newest row in hist is not drained
// (NotDrainedKeys).
func computeWindow(ctx context.Context, reg *features.Registry, src SourceReader, hist HistoryReader, view string, end, created time.Time) (*features.Frame, error) {
	v, ok := reg.View(view)
	if !ok {
		return nil, fmt.Errorf("%w: unknown view %q", features.ErrInput, view)
	}
	if err := features.CheckWindowEnd(v, end); err != nil {
		return nil, err
	}
	ev, err := src.Read(ctx, reg.SourceOf(v), features.Window(v, end), end)
	if err != nil {
		return nil, fmt.Errorf("view %s window %s: %w", view, end.UTC().Format(time.RFC3339), err)
	}
	var opt features.ComputeOptions
	if hist != nil {
		if opt.ExtraKeys, err = NotDrainedKeys(ctx, reg, hist, v, end); err != nil {
			return nil, err
		}
	}
	return features.ComputeWith(reg, v, ev, end, created, opt)
}

// MaterializeOffline computes one window and writes its offline partition.
// When off can read its history (a HistoryReader, as *parquet.Store is),
// entities whose newest row is not drained get their drained row too.
func MaterializeOffline(ctx context.Context, reg *features.Registry, src SourceReader, off OfflineWriter, view string, end, created time.Time) (parquet.Partition, error) {
	hist, _ := off.(HistoryReader)
	fr, err := computeWindow(ctx, reg, src, hist, view, end, created)
	if err != nil {
		return parquet.Partition{}, err
	}
	return off.WriteWindow(ctx, view, end, created, -1, fr, reg.Fingerprint(view))
}
