// Package trainingset builds point-in-time correct training sets: an entity
// table (keys, event_timestamp, labels) joined against the offline history
// of the requested views, written as one Parquet file.
//
// The join itself is features.AsOfJoin; this package wires it to files. It
// streams history (never holding it), runs one accumulator per core, and when
// the entity table is too large for the memory budget, splits it by key hash
// into partitions that each take one pass over the history.
package trainingset

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// History lists the offline files of a view that may hold rows with an
// event_timestamp in [from, to] (zero = unbounded). *parquet.Store is one.
type History interface {
	ViewFiles(ctx context.Context, view string, from, to time.Time) ([]string, error)
}

// Publications tells from when each history file's rows are known (see
// parquet.Store.KnownAt): what the as-known-at rule needs. *parquet.Store is
// one; a History without it has every row known at its created_timestamp.
type Publications interface {
	KnownAt(ctx context.Context, files []string) ([]int64, error)
}

// FileOpener opens the files a History lists (local paths or gs:// URLs)
// wherever they are kept: on Cloud Storage by range reads of the column
// chunks a join needs. *parquet.Store is one; a History without it lists
// local paths.
type FileOpener interface {
	OpenFile(ctx context.Context, loc string) (*parquet.File, error)
}

var (
	_ History      = (*parquet.Store)(nil)
	_ Publications = (*parquet.Store)(nil)
	_ FileOpener   = (*parquet.Store)(nil)
)

// Options of a build. Zero values mean the documented defaults.
type Options struct {
	Entities string                // entity table: a Parquet or CSV (".csv", see ReadCSV) file, or a folder of Parquet files; required
	Features []features.FeatureRef // resolved references; required
	Out      string                // output Parquet file; required
	// Visibility is when a history row becomes visible at T: by default
	// when available, event_timestamp + the view's lateness <= T;
	// features.VisibleAtEventTime gives Feast's event_timestamp <= T.
	Visibility features.Visibility
	// AsKnownAt also requires the row's version to have been published by T
	// (rows of other tools' files: created_timestamp <= T; null: never), so
	// a row at T holds what serving returned at T, and values computed after
	// T (backfills, corrections) never reach it.
	AsKnownAt bool
	// MemoryBudget bounds the join state; above it, entity rows are split by
	// key hash into partitions. Default 1 GiB.
	MemoryBudget int64
	// Workers reading history in parallel. Default GOMAXPROCS.
	Workers int
	Logger  *slog.Logger
	// Sources holds the raw source events; required when a fresh view is
	// requested (its values are computed from the logged events, see
	// docs/format/fresh.md), unused otherwise.
	Sources LoggedEvents
}

func (o *Options) init() error {
	if o.Entities == "" || o.Out == "" {
		return errors.New("training set: entity file and output file are required")
	}
	if len(o.Features) == 0 {
		return errors.New("training set: no features requested")
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = 1 << 30
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats describe a finished build.
type Stats struct {
	EntityRows  int64
	HistoryRows int64 // history rows scanned, over all views and passes
	Files       int   // history files scanned
	Partitions  int   // largest partition count of any view
	Elapsed     time.Duration
}

// EntityColumn is the name of the as-of time column of entity tables.
const EntityColumn = parquet.EventTimestamp

// Build runs the join and writes Options.Out atomically: on any error no
// file (or the previous one) is left at Out.
func Build(ctx context.Context, reg *features.Registry, hist History, opt Options) (Stats, error) {
	start := time.Now()
	if err := opt.init(); err != nil {
		return Stats{}, err
	}
	in, err := openEntities(reg, opt)
	if err != nil {
		return Stats{}, fmt.Errorf("entity file: %w", err)
	}
	defer in.Close()
	if err := checkEntityFile(in); err != nil {
		return Stats{}, err
	}

	// Group the references by view, in request order.
	type viewReq struct {
		view  *features.View
		ent   *features.Entity
		feats []features.Feature
		cols  []int // result column index per feature
	}
	var reqs []*viewReq
	byView := map[string]*viewReq{}
	results := make([]*features.Column, len(opt.Features))
	n := int(in.NumRows())
	outNames := map[string]bool{}
	for _, c := range in.Columns() {
		outNames[c] = true
	}
	for i, ref := range opt.Features {
		v, ok := reg.View(ref.View)
		if !ok {
			return Stats{}, fmt.Errorf("unknown view %q", ref.View)
		}
		f, ok := v.Feature(ref.Feature)
		if !ok {
			return Stats{}, fmt.Errorf("unknown feature %q in view %s", ref.Feature, ref.View)
		}
		if outNames[ref.Column()] {
			return Stats{}, fmt.Errorf("entity file already has a column %s", ref.Column())
		}
		outNames[ref.Column()] = true
		r := byView[v.Name]
		if r == nil {
			ent := reg.EntityOf(v)
			if !in.HasColumn(ent.JoinKey) {
				return Stats{}, fmt.Errorf("entity file %s: missing join key column %s (needed by view %s)", opt.Entities, ent.JoinKey, v.Name)
			}
			r = &viewReq{view: v, ent: ent}
			byView[v.Name] = r
			reqs = append(reqs, r)
		}
		r.feats = append(r.feats, f)
		r.cols = append(r.cols, i)
		results[i] = features.NewNullColumn(ref.Column(), f.Type, n)
	}

	// Entity keys and times, whole: they are what the join state is sized by.
	times, err := readAllTimes(in)
	if err != nil {
		return Stats{}, err
	}
	// Key columns by name and type: two entities may share a join key name
	// with different key types.
	type keyCol struct {
		name string
		typ  features.Type
	}
	keys := map[keyCol]*features.Column{}
	for _, r := range reqs {
		kc := keyCol{r.ent.JoinKey, r.ent.KeyType}
		if keys[kc] != nil {
			continue
		}
		k, err := readAllColumn(in, r.ent.JoinKey, r.ent.KeyType)
		if err != nil {
			return Stats{}, fmt.Errorf("entity file: join key: %w", err)
		}
		keys[kc] = k
	}

	st := Stats{EntityRows: int64(n)}
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		dst := make([]*features.Column, len(r.cols))
		for i, c := range r.cols {
			dst[i] = results[c]
		}
		key := keys[keyCol{r.ent.JoinKey, r.ent.KeyType}]
		if r.view.Fresh != nil {
			rows, err := freshView(ctx, reg, r.view, r.ent, key, times, r.feats, dst, opt)
			if err != nil {
				return st, err
			}
			st.HistoryRows += rows
			opt.Logger.Debug("computed fresh view", "view", r.view.Name, "events", rows)
			continue
		}
		parts := partitions(n, len(r.feats), opt)
		st.Partitions = max(st.Partitions, parts)
		// The view's files and when each became known, once for every
		// partition: partitions split by key hash, so each spans about the
		// whole time range anyway.
		var files []string
		var known []int64
		if n > 0 {
			var from time.Time
			if r.view.TTL > 0 {
				from = features.FromMicros(slices.Min(times)).Add(-r.view.TTL)
			}
			if files, err = hist.ViewFiles(ctx, r.view.Name, from, features.FromMicros(slices.Max(times))); err != nil {
				return st, fmt.Errorf("view %s: %w", r.view.Name, err)
			}
			if pub, ok := hist.(Publications); ok && opt.AsKnownAt {
				if known, err = pub.KnownAt(ctx, files); err != nil {
					return st, fmt.Errorf("view %s: %w", r.view.Name, err)
				}
			}
		}
		for p, only := range splitByHash(key, parts) {
			if only != nil && len(only) == 0 {
				continue // no entity row hashed here (nil would mean all rows)
			}
			j := features.NewAsOfJoin(key, times, only, r.feats, features.JoinOptions{
				TTL: r.view.TTL, Lateness: r.view.Lateness, Visibility: opt.Visibility, AsKnownAt: opt.AsKnownAt})
			if j.Buckets() == 0 {
				continue
			}
			rows, err := scanHistory(ctx, j, opener(hist), files, known, r.ent, r.feats, opt.Workers, dst)
			if err != nil {
				return st, fmt.Errorf("view %s: %w", r.view.Name, err)
			}
			st.HistoryRows += rows
			st.Files += len(files)
			opt.Logger.Debug("joined view partition", "view", r.view.Name, "partition", p, "of", parts,
				"buckets", j.Buckets(), "files", len(files), "history_rows", rows)
		}
	}

	if err := parquet.WriteFileAtomic(opt.Out, func(w *os.File) error {
		return parquet.WriteExtended(w, in, results)
	}); err != nil {
		return st, fmt.Errorf("write %s: %w", opt.Out, err)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// openEntities opens the entity table: a folder of Parquet files (see
// openFolder), CSV (by extension, see ReadCSV) with the requested views'
// join keys typed as their entities' keys, else Parquet.
func openEntities(reg *features.Registry, opt Options) (*parquet.File, error) {
	if IsFolder(opt.Entities) {
		return openFolder(opt.Entities)
	}
	if !IsCSV(opt.Entities) {
		return parquet.OpenFile(opt.Entities)
	}
	keyTypes := map[string]features.Type{}
	for _, ref := range opt.Features {
		if v, ok := reg.View(ref.View); ok {
			if e := reg.EntityOf(v); e != nil {
				if _, seen := keyTypes[e.JoinKey]; !seen {
					keyTypes[e.JoinKey] = e.KeyType
				}
			}
		}
	}
	return openCSV(opt.Entities, keyTypes)
}

// checkEntityFile rejects, before any work, an entity table the join cannot
// take: every column must be a flat, non-repeated leaf with a unique name
// (they pass through to the output unchanged), and event_timestamp a
// TIMESTAMP.
func checkEntityFile(in *parquet.File) error {
	flat := map[string]bool{}
	for _, c := range in.Columns() {
		flat[c] = true
	}
	seen := map[string]bool{}
	for _, f := range in.Schema().Fields() {
		switch {
		case !f.Leaf():
			return fmt.Errorf("entity file %s: nested column %q (a group, list or map) is not supported; flatten it first", in.Name(), f.Name())
		case f.Repeated():
			return fmt.Errorf("entity file %s: repeated (list) column %q is not supported; one value per row, please", in.Name(), f.Name())
		case seen[f.Name()]:
			return fmt.Errorf("entity file %s: column %q appears twice", in.Name(), f.Name())
		case !flat[f.Name()]:
			return fmt.Errorf("entity file %s: column %q cannot be read as a flat column", in.Name(), f.Name())
		}
		seen[f.Name()] = true
	}
	if !in.HasColumn(EntityColumn) {
		return fmt.Errorf("entity file %s: missing column %s", in.Name(), EntityColumn)
	}
	if !in.IsTimestamp(EntityColumn) {
		return fmt.Errorf("entity file %s: column %s has type %s, want a TIMESTAMP", in.Name(), EntityColumn, in.ColumnType(EntityColumn))
	}
	return nil
}

func readAllTimes(in *parquet.File) ([]int64, error) {
	n := int(in.NumRows())
	times, valid := make([]int64, 0, n), make([]bool, 0, n)
	for _, rg := range in.RowGroups() {
		var err error
		if times, valid, err = in.ReadTimes(rg, EntityColumn, times, valid); err != nil {
			return nil, fmt.Errorf("entity file: %w", err)
		}
	}
	for i, ok := range valid {
		if !ok {
			return nil, fmt.Errorf("entity file %s: %s is null in row %d", in.Name(), EntityColumn, i)
		}
	}
	return times, nil
}

func readAllColumn(in *parquet.File, name string, t features.Type) (*features.Column, error) {
	var col *features.Column
	for _, rg := range in.RowGroups() {
		var err error
		if col, err = in.ReadColumn(rg, name, t, col); err != nil {
			return nil, err
		}
	}
	if col == nil {
		col = features.NewColumn(name, t, 0)
	}
	return col, nil
}

// bytesPerBucket estimates the join state per distinct (key, time): the key
// map and bucket arrays once, then per worker the best row's times and the
// feature values with their validity.
func bytesPerBucket(nfeat, workers int) int64 {
	return 64 + int64(workers)*(16+int64(nfeat)*(8+16+1))
}

func partitions(n, nfeat int, opt Options) int {
	need := int64(n) * bytesPerBucket(nfeat, opt.Workers)
	return int(max(1, (need+opt.MemoryBudget-1)/opt.MemoryBudget))
}

var hashSeed = maphash.MakeSeed()

// splitByHash lists the entity rows of each of n partitions (nil for one
// partition: all rows).
func splitByHash(key *features.Column, n int) [][]int32 {
	if n <= 1 {
		return [][]int32{nil}
	}
	out := make([][]int32, n)
	for p := range out {
		out[p] = []int32{}
	}
	for i := range key.Valid {
		var h uint64
		if key.Type == features.String {
			h = maphash.String(hashSeed, key.Strings[i])
		} else {
			h = uint64(key.Ints[i]) * 0x9E3779B97F4A7C15
			h ^= h >> 29
		}
		p := h % uint64(n)
		out[p] = append(out[p], int32(i))
	}
	return out
}

// opener is how files of hist are opened.
func opener(hist History) func(ctx context.Context, loc string) (*parquet.File, error) {
	if o, ok := hist.(FileOpener); ok {
		return o.OpenFile
	}
	return func(_ context.Context, path string) (*parquet.File, error) { return parquet.OpenFile(path) }
}

// scanHistory streams the files through one accumulator per worker and fills
// dst with the join's answers. known[i] is when files[i] became known (nil:
// every row at its created_timestamp).
func scanHistory(ctx context.Context, j *features.AsOfJoin, open func(ctx context.Context, loc string) (*parquet.File, error), files []string, known []int64, ent *features.Entity, feats []features.Feature, workers int, dst []*features.Column) (int64, error) {
	spec := parquet.HistorySpec(ent, feats)
	spec.MissingAsNull = true
	workers = max(1, min(workers, len(files)))
	accs := make([]*features.Accumulator, workers)
	type job struct {
		path  string
		rank  int64
		known int64
	}
	next := make(chan job)
	errs := make(chan error, workers)
	var rows atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range workers {
		accs[w] = j.NewAccumulator()
		wg.Add(1)
		go func(acc *features.Accumulator) {
			defer wg.Done()
			for jb := range next {
				f, err := open(ctx, jb.path)
				if err != nil {
					errs <- err
					cancel()
					return
				}
				err = f.ReadFrames(spec, func(fr *features.Frame) error {
					rows.Add(int64(fr.Len()))
					acc.AddKnown(fr, jb.rank, jb.known)
					return ctx.Err()
				})
				f.Close()
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}(accs[w])
	}
	// Newest files first: in our layout file names sort by window end, and
	// once a bucket holds its newest row, older rows only cost a compare.
feed:
	for i, path := range slices.Backward(files) {
		select {
		case next <- job{path, int64(i), knownAt(known, i)}:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return rows.Load(), err
	}
	if err := ctx.Err(); err != nil {
		return rows.Load(), err
	}
	j.Fill(dst, accs...)
	return rows.Load(), nil
}

func knownAt(known []int64, i int) int64 {
	if known == nil {
		return features.KnownAtCreated
	}
	return known[i]
}
