package parquet

import (
	"context"
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
)

// ReadHistory calls fn with the rows of a view's offline history whose
// event_timestamp is in [from, to) (a zero from: unbounded), every version
// of every window, file by file in name order, one frame per row group
// (rows outside the range dropped). spec says which columns to read, as for
// ReadFrames; fn owns the frames.
func (s *Store) ReadHistory(ctx context.Context, view string, spec FrameSpec, from, to time.Time, fn func(*features.Frame) error) error {
	files, err := s.ViewFiles(ctx, view, from, to)
	if err != nil {
		return fmt.Errorf("offline store: history of %s: %w", view, err)
	}
	lo, hi := int64(-1<<63), features.Micros(to)
	if !from.IsZero() {
		lo = features.Micros(from)
	}
	for _, path := range files {
		f, err := OpenFile(path)
		if err != nil {
			return fmt.Errorf("offline store: history of %s: %w", view, err)
		}
		err = f.ReadFrames(spec, func(fr *features.Frame) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var keep []int
			for i, t := range fr.Time {
				if t >= lo && t < hi {
					keep = append(keep, i)
				}
			}
			if len(keep) == 0 {
				return nil
			}
			if len(keep) < fr.Len() {
				fr = fr.Take(keep)
			}
			return fn(fr)
		})
		f.Close()
		if err != nil {
			return fmt.Errorf("offline store: history of %s: %w", view, err)
		}
	}
	return nil
}
