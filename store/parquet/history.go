package parquet

import (
	"context"
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
)

// HistoryPart says where the rows ReadHistory hands over come from.
type HistoryPart struct {
	// Unpublished: a version of ours without a publication marker (its
	// push failed or is still running: some of its rows may be online,
	// maybe none). Files in the old unversioned form and other tools' files
	// count as published (see KnownAt).
	Unpublished bool
	// Misfit: the file's stored columns do not fit the spec (a listed
	// column stored as another type, as after a feature's type changed;
	// without spec.MissingAsNull, also a missing one). Key, event_timestamp
	// and created_timestamp are read; every listed column is null.
	Misfit bool
}

// ReadHistory calls fn with the rows of a view's offline history whose
// event_timestamp is in [from, to) (a zero from: unbounded), every version
// of every window, file by file in name order, one frame per row group
// (rows outside the range dropped), each with where it comes from. spec says
// which columns to read, as for ReadFrames; a file whose columns do not fit
// it is read as a Misfit part rather than failing. fn owns the frames.
func (s *Store) ReadHistory(ctx context.Context, view string, spec FrameSpec, from, to time.Time, fn func(*features.Frame, HistoryPart) error) error {
	files, err := s.ViewFiles(ctx, view, from, to)
	if err != nil {
		return fmt.Errorf("offline store: history of %s: %w", view, err)
	}
	known, err := s.KnownAt(ctx, files)
	if err != nil {
		return fmt.Errorf("offline store: history of %s: %w", view, err)
	}
	lo, hi := int64(-1<<63), features.Micros(to)
	if !from.IsZero() {
		lo = features.Micros(from)
	}
	for i, loc := range files {
		f, err := s.OpenFile(ctx, loc)
		if err != nil {
			return fmt.Errorf("offline store: history of %s: %w", view, err)
		}
		part := HistoryPart{Unpublished: known[i] == features.NeverKnown, Misfit: !fits(f, spec)}
		read := spec
		if part.Misfit {
			read.Columns = nil // key and times only; the listed columns null
		}
		err = f.ReadFrames(read, func(fr *features.Frame) error {
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
			if part.Misfit {
				for _, c := range spec.Columns {
					fr.Columns = append(fr.Columns, features.NewNullColumn(c.Name, c.Type, fr.Len()))
				}
			}
			return fn(fr, part)
		})
		f.Close()
		if err != nil {
			return fmt.Errorf("offline store: history of %s: %w", view, err)
		}
	}
	return nil
}

// fits reports whether every column spec lists reads as its type from f (a
// missing one fits when spec.MissingAsNull).
func fits(f *File, spec FrameSpec) bool {
	for _, c := range spec.Columns {
		if !f.HasColumn(c.Name) {
			if spec.MissingAsNull {
				continue
			}
			return false
		}
		if t, ok := f.TypeOf(c.Name); !ok || t != c.Type {
			return false
		}
	}
	return true
}
