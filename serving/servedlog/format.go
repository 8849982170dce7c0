package servedlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
)

// Column names and file metadata of the format (docs/format/served.md).
const (
	// Prefix starts the columns of every served feature, so they never
	// collide with a training set's own view__feature columns.
	Prefix = "served__"
	// StatusSuffix and TimeSuffix end a feature's status and
	// event_timestamp columns.
	StatusSuffix = "__status"
	TimeSuffix   = "__ts"
	// FeaturesKey and JoinKeysKey are file metadata: the served feature
	// references ("view:feature", comma-separated, in column order) and
	// the join key columns.
	FeaturesKey = "skewfree.served.features"
	JoinKeysKey = "skewfree.served.join_keys"
)

// ValueColumn, StatusColumn and TimeColumn name a served feature's columns:
// served__view__feature, served__view__feature__status and
// served__view__feature__ts.
func ValueColumn(r features.FeatureRef) string  { return Prefix + r.Column() }
func StatusColumn(r features.FeatureRef) string { return Prefix + r.Column() + StatusSuffix }
func TimeColumn(r features.FeatureRef) string   { return Prefix + r.Column() + TimeSuffix }

// writeRecords writes records of one feature list as one Parquet file.
func writeRecords(w io.Writer, reg *features.Registry, recs []*record, rows int) error {
	refs, joinKeys := recs[0].refs, recs[0].joinKeys
	cols := make([]*features.Column, 0, len(joinKeys)+1+3*len(refs))
	for j, name := range joinKeys {
		c := features.NewColumn(name, keyType(reg, refs, name, recs, j), rows)
		for _, r := range recs {
			for i := range r.rows {
				if err := c.Append(r.keys[i*len(joinKeys)+j]); err != nil {
					return fmt.Errorf("join key %s: %w", name, err)
				}
			}
		}
		cols = append(cols, c)
	}
	at := features.NewColumn(parquet.EventTimestamp, features.Int64, rows)
	for _, r := range recs {
		for range r.rows {
			_ = at.Append(features.IntValue(r.at))
		}
	}
	cols = append(cols, at)
	var times []string
	names := make([]string, len(refs))
	for j, ref := range refs {
		names[j] = ref.String()
		val := features.NewColumn(ValueColumn(ref), featureType(reg, ref, recs, j), rows)
		st := features.NewColumn(StatusColumn(ref), features.String, rows)
		ts := features.NewColumn(TimeColumn(ref), features.Int64, rows)
		for _, r := range recs {
			for i := range r.rows {
				fv := r.vals[i*len(refs)+j]
				if err := val.Append(fv.Value); err != nil {
					return fmt.Errorf("feature %s: %w", ref, err)
				}
				_ = st.Append(features.StringValue(fv.Status.String()))
				if fv.EventTime.IsZero() {
					_ = ts.Append(features.Null)
				} else {
					_ = ts.Append(features.IntValue(features.Micros(fv.EventTime)))
				}
			}
		}
		cols = append(cols, val, st, ts)
		times = append(times, ts.Name)
	}
	meta := map[string]string{FeaturesKey: strings.Join(names, ","), JoinKeysKey: strings.Join(joinKeys, ",")}
	return parquet.WriteTableTimes(w, cols, []string{parquet.EventTimestamp}, times, meta)
}

// keyType is a join key's type: its values' (checked by the reader against
// the registry it served, see featureType), else its entity's in reg.
func keyType(reg *features.Registry, refs []features.FeatureRef, name string, recs []*record, j int) features.Type {
	n := len(recs[0].joinKeys)
	for _, r := range recs {
		for i := range r.rows {
			if v := r.keys[i*n+j]; !v.IsNull() {
				return v.Type()
			}
		}
	}
	if reg != nil {
		for _, ref := range refs {
			if v, ok := reg.View(ref.View); ok {
				if e := reg.EntityOf(v); e != nil && e.JoinKey == name {
					return e.KeyType
				}
			}
		}
	}
	return features.String
}

// featureType is a feature's type: its values' (the reader checked them
// against the definition it served them under, which may be newer than reg
// once the reader follows the published catalog), else reg's, else String.
func featureType(reg *features.Registry, ref features.FeatureRef, recs []*record, j int) features.Type {
	n := len(recs[0].refs)
	for _, r := range recs {
		for i := range r.rows {
			if v := r.vals[i*n+j].Value; !v.IsNull() {
				return v.Type()
			}
		}
	}
	if reg != nil {
		if v, ok := reg.View(ref.View); ok {
			if f, ok := v.Feature(ref.Feature); ok {
				return f.Type
			}
		}
	}
	return features.String
}

// Log is one served log file read back, column-major.
type Log struct {
	Path     string
	JoinKeys []*features.Column // the entity columns, in file order
	Times    []int64            // request times (event_timestamp), µs
	Features []features.FeatureRef
	Values   []*features.Column // per feature, the served value
	Status   [][]serving.Status // per feature, per row
	// EventTimes per feature: the served value's event_timestamp (µs),
	// null when NOT_FOUND.
	EventTimes []*features.Column
}

// Len is the number of rows.
func (l *Log) Len() int { return len(l.Times) }

// ErrNotServedLog marks a Parquet file without the served log's metadata.
var ErrNotServedLog = errors.New("not a served log file")

// ReadFile reads a served log file.
func ReadFile(path string) (*Log, error) {
	f, err := parquet.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("servedlog: %w", err)
	}
	defer f.Close()
	return readLog(f, path)
}

// readLog reads an open served log file; path names it in errors.
func readLog(f *parquet.File, path string) (*Log, error) {
	var err error
	fl, ok1 := f.Metadata(FeaturesKey)
	jk, ok2 := f.Metadata(JoinKeysKey)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("servedlog: %s: %w (no %s metadata)", path, ErrNotServedLog, FeaturesKey)
	}
	l := &Log{Path: path}
	for _, s := range strings.Split(fl, ",") {
		r, err := features.ParseRef(s)
		if err != nil {
			return nil, fmt.Errorf("servedlog: %s: metadata %s: %w", path, FeaturesKey, err)
		}
		l.Features = append(l.Features, r)
	}
	keyNames := strings.Split(jk, ",")
	keyTypes := make([]features.Type, len(keyNames))
	for i, k := range keyNames {
		t, ok := f.TypeOf(k)
		if !ok {
			return nil, fmt.Errorf("servedlog: %s: join key column %s: %s", path, k, f.ColumnType(k))
		}
		keyTypes[i] = t
	}
	valTypes := make([]features.Type, len(l.Features))
	for i, r := range l.Features {
		t, ok := f.TypeOf(ValueColumn(r))
		if !ok {
			return nil, fmt.Errorf("servedlog: %s: column %s: %s", path, ValueColumn(r), f.ColumnType(ValueColumn(r)))
		}
		valTypes[i] = t
	}
	l.JoinKeys = make([]*features.Column, len(keyNames))
	l.Values = make([]*features.Column, len(l.Features))
	l.EventTimes = make([]*features.Column, len(l.Features))
	l.Status = make([][]serving.Status, len(l.Features))
	var st *features.Column
	for _, rg := range f.RowGroups() {
		if l.Times, _, err = f.ReadTimes(rg, parquet.EventTimestamp, l.Times, nil); err != nil {
			return nil, fmt.Errorf("servedlog: %w", err)
		}
		for i, k := range keyNames {
			if l.JoinKeys[i], err = f.ReadColumn(rg, k, keyTypes[i], l.JoinKeys[i]); err != nil {
				return nil, fmt.Errorf("servedlog: %w", err)
			}
		}
		for i, r := range l.Features {
			if l.Values[i], err = f.ReadColumn(rg, ValueColumn(r), valTypes[i], l.Values[i]); err != nil {
				return nil, fmt.Errorf("servedlog: %w", err)
			}
			if st, err = f.ReadColumn(rg, StatusColumn(r), features.String, nil); err != nil {
				return nil, fmt.Errorf("servedlog: %w", err)
			}
			for _, s := range st.Strings {
				l.Status[i] = append(l.Status[i], parseStatus(s))
			}
			var ts []int64
			var valid []bool
			if ts, valid, err = f.ReadTimes(rg, TimeColumn(r), nil, nil); err != nil {
				return nil, fmt.Errorf("servedlog: %w", err)
			}
			if l.EventTimes[i] == nil {
				l.EventTimes[i] = features.NewColumn(TimeColumn(r), features.Int64, len(ts))
			}
			l.EventTimes[i].Ints = append(l.EventTimes[i].Ints, ts...)
			l.EventTimes[i].Valid = append(l.EventTimes[i].Valid, valid...)
		}
	}
	for i, c := range l.JoinKeys {
		if c == nil {
			l.JoinKeys[i] = features.NewColumn(keyNames[i], keyTypes[i], 0)
		}
	}
	for i, r := range l.Features {
		if l.Values[i] == nil {
			l.Values[i] = features.NewColumn(ValueColumn(r), valTypes[i], 0)
			l.EventTimes[i] = features.NewColumn(TimeColumn(r), features.Int64, 0)
		}
	}
	return l, nil
}

func parseStatus(s string) serving.Status {
	switch s {
	case "PRESENT":
		return serving.Present
	case "OUTSIDE_MAX_AGE":
		return serving.OutsideMaxAge
	}
	return serving.NotFound
}

// Files lists the served log files under dir (usually <offline
// root>/_served) whose request times may fall in [from, to] (zero:
// unbounded), by their date= folders, sorted. Hidden files (writes in
// progress) are skipped.
func Files(ctx context.Context, dir string, from, to time.Time) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if date, ok := strings.CutPrefix(name, "date="); ok {
				if day, err := time.Parse(time.DateOnly, date); err == nil &&
					((!from.IsZero() && day.Before(from.UTC().Truncate(24*time.Hour))) || (!to.IsZero() && day.After(to.UTC()))) {
					return fs.SkipDir
				}
			}
			return nil
		}
		if strings.HasSuffix(name, ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("servedlog: list %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}
