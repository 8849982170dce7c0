package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/skewfree/skewfree/features"
)

// ErrNoSource marks a source whose folder does not exist: a configuration
// mistake, not a passing fault. (A folder without files for a window is
// fine: the window had no events.)
var ErrNoSource = errors.New("source missing")

// Sources reads and writes raw source data kept as Parquet under a root
// (a local folder or a Cloud Storage prefix, through an FS):
// <root>/<source path>/date=YYYY-MM-DD/*.parquet, by event time.
type Sources struct {
	fs FS
}

// OpenSources opens the raw-data root at url (file:// or a path). gs://
// roots open through package gcsfs and SourcesFS (app.OpenSources).
func OpenSources(url string) (*Sources, error) {
	root, err := LocalPath(url)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return &Sources{fs: DirFS(root)}, nil
}

// SourcesFS opens the raw-data root kept in fsys.
func SourcesFS(fsys FS) *Sources { return &Sources{fs: fsys} }

// FS is where the sources are kept.
func (s *Sources) FS() FS { return s.fs }

// Write stores raw events (f.Time is the source's event time; f.Key unused)
// split into one file per UTC day, each replacing that day's earlier file.
func (s *Sources) Write(ctx context.Context, src *features.Source, f *features.Frame) ([]Partition, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	byDay := map[string][]int{}
	for i, t := range f.Time {
		d := features.FromMicros(t).Format(time.DateOnly)
		byDay[d] = append(byDay[d], i)
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var out []Partition
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		part := f.Take(byDay[d])
		rel := join(filepath.ToSlash(src.Path), "date="+d, "part-0.parquet")
		if err := s.fs.WriteFile(ctx, rel, Replace, func(w io.Writer) error {
			return WriteFrame(w, part, src.TimestampField, nil)
		}); err != nil {
			return out, fmt.Errorf("sources: write %s: %w", s.fs.Location(rel), err)
		}
		out = append(out, Partition{Path: rel, Rows: int64(part.Len())})
	}
	return out, nil
}

// Read returns the source's events with event time in [from, to), every
// field of the source definition as a column. A file lacking a field, or
// holding it with another type, is an error naming both.
func (s *Sources) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	return s.read(ctx, src, from, to, "", 0, 1)
}

// ReadShard is Read keeping only the events whose key column (named key)
// falls in shard i of n by features.ShardOf; events with a null key are
// dropped. Rows are filtered as each row group is decoded, so a shard's
// peak memory is about its share of the window, not the whole window.
func (s *Sources) ReadShard(ctx context.Context, src *features.Source, from, to time.Time, key string, i, n int) (*features.Frame, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("sources: shard %d of %d is invalid", i, n)
	}
	if _, ok := src.Field(key); !ok {
		return nil, fmt.Errorf("%w: source %s has no key column %q", ErrSchema, src.Name, key)
	}
	return s.read(ctx, src, from, to, key, i, n)
}

func (s *Sources) read(ctx context.Context, src *features.Source, from, to time.Time, key string, shard, shards int) (*features.Frame, error) {
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
	opened := make([]*File, 0, len(files))
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, name := range files {
		f, err := openFS(ctx, s.fs, name)
		if err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
		opened = append(opened, f)
	}
	keyAt := -1
	for k, fd := range src.Fields {
		if key != "" && fd.Name == key {
			keyAt = k
		}
	}
	lo, hi := features.Micros(from), features.Micros(to)
	// keep filters a decoded row group: the time range and the shard. It
	// returns fr itself when every row stays (the common case when not
	// sharding: a row group wholly inside the range).
	keep := func(fr *features.Frame) *features.Frame {
		var kc *features.Column
		if keyAt >= 0 {
			kc = fr.Columns[keyAt]
		}
		if n := len(fr.Time); kc == nil && n > 0 && slices.IsSorted(fr.Time) && fr.Time[0] >= lo && fr.Time[n-1] < hi {
			return fr
		}
		var rows []int
		for i, t := range fr.Time {
			if t < lo || t >= hi || (kc != nil && (!kc.Valid[i] || features.ShardOf(kc, i, shards) != shard)) {
				continue
			}
			rows = append(rows, i)
		}
		if len(rows) == len(fr.Time) {
			return fr
		}
		return fr.Take(rows)
	}
	spec := FrameSpec{Time: src.TimestampField, Columns: src.Fields}
	// Decode the files in parallel (a window spans a file per day),
	// filtering each row group as it comes, then keep their rows in file
	// order.
	decoded := make([][]*features.Frame, len(opened))
	errs := make([]error, len(opened))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, f := range opened {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			defer features.RecoverPanic(&errs[i], "sources: decode "+f.Name())
			errs[i] = f.ReadFrames(spec, func(fr *features.Frame) error {
				if fr = keep(fr); fr.Len() > 0 {
					decoded[i] = append(decoded[i], fr)
				}
				return ctx.Err()
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sources: %s: %w", src.Name, err)
	}
	var total int
	for _, frames := range decoded {
		for _, fr := range frames {
			total += fr.Len()
		}
	}
	out := &features.Frame{Time: make([]int64, 0, total)}
	for _, fd := range src.Fields {
		out.Columns = append(out.Columns, features.NewColumn(fd.Name, fd.Type, total))
	}
	for i, frames := range decoded {
		for _, fr := range frames {
			out.Append(fr)
		}
		decoded[i] = nil // let the collector take what is copied
	}
	return out, nil
}
