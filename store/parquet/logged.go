package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/skewfree/skewfree/features"
)

// ReadLogged is Read for fresh views' training sets: the source's events
// with event time in [from, to), every field of the source definition, and
// their ingest times as an int64 column named features.IngestTimestampColumn
// (microseconds; null for events that were not pushed, and for every event
// of a file without the column).
func (s *Sources) ReadLogged(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	dir := filepath.ToSlash(src.Path)
	if _, err := s.fs.List(ctx, dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: source %s: %s: %w", ErrNoSource, src.Name, s.fs.Location(dir), err)
		}
		return nil, fmt.Errorf("sources: %s: %w", src.Name, err)
	}
	files, err := listParquet(ctx, s.fs, dir, from, to.Add(-time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	out := &features.Frame{}
	for _, fd := range src.Fields {
		out.Columns = append(out.Columns, features.NewColumn(fd.Name, fd.Type, 0))
	}
	ingest := features.NewColumn(features.IngestTimestampColumn, features.Int64, 0)
	out.Columns = append(out.Columns, ingest)
	lo, hi := features.Micros(from), features.Micros(to)
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := readLoggedFile(ctx, s.fs, path, src, lo, hi, out, ingest); err != nil {
			return nil, fmt.Errorf("sources: %s: %w", src.Name, err)
		}
	}
	return out, nil
}

func readLoggedFile(ctx context.Context, fsys FS, name string, src *features.Source, lo, hi int64, out *features.Frame, ingest *features.Column) (err error) {
	f, err := openFS(ctx, fsys, name)
	if err != nil {
		return err
	}
	defer f.Close()
	defer features.RecoverPanic(&err, "decode "+f.Name())
	hasIngest := f.HasColumn(features.IngestTimestampColumn)
	for _, rg := range f.RowGroups() {
		n := int(rg.NumRows())
		times, valid, err := f.ReadTimes(rg, src.TimestampField, make([]int64, 0, n), make([]bool, 0, n))
		if err != nil {
			return err
		}
		cols := make([]*features.Column, len(src.Fields))
		for i, fd := range src.Fields {
			if cols[i], err = f.ReadColumn(rg, fd.Name, fd.Type, nil); err != nil {
				return err
			}
		}
		var in []int64
		var inValid []bool
		if hasIngest {
			if in, inValid, err = f.ReadTimes(rg, features.IngestTimestampColumn, make([]int64, 0, n), make([]bool, 0, n)); err != nil {
				return err
			}
		}
		for r := range times {
			if !valid[r] {
				return fmt.Errorf("%s: column %s is null in a row", f.Name(), src.TimestampField)
			}
			if times[r] < lo || times[r] >= hi {
				continue
			}
			out.Time = append(out.Time, times[r])
			for i, c := range cols {
				out.Columns[i].AppendRow(c, r)
			}
			if hasIngest && inValid[r] {
				_ = ingest.Append(features.IntValue(in[r]))
			} else {
				_ = ingest.Append(features.Null)
			}
		}
	}
	return nil
}

// WriteLoggedFrame is WriteFrame for raw events with ingest times: a column
// of f named features.IngestTimestampColumn (int64 microseconds, nullable)
// is written as a nullable TIMESTAMP(MICROS, UTC), which ReadLogged reads
// back.
func WriteLoggedFrame(w io.Writer, f *features.Frame, timeName string) error {
	if err := f.Validate(); err != nil {
		return err
	}
	cols := []outColumn{{name: timeName, times: f.Time}}
	for _, c := range f.Columns {
		oc := outColumn{name: c.Name, col: c}
		if c.Name == features.IngestTimestampColumn {
			if c.Type != features.Int64 {
				return fmt.Errorf("column %s is %s, want int64 microseconds", c.Name, c.Type)
			}
			oc.optTime = true
		}
		cols = append(cols, oc)
	}
	return writeColumns(w, cols, f.Len(), nil)
}
