package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	goparquet "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/skewfree/skewfree/features"
)

// ErrSchema marks a file whose columns do not fit what the reader was asked
// for (missing, or of another type). Retrying cannot fix it.
var ErrSchema = errors.New("schema mismatch")

// File is an open Parquet file whose top-level columns can be read as
// feature columns and timestamps, whatever tool wrote it. Not safe for
// concurrent use.
type File struct {
	name   string
	closer io.Closer
	pf     *goparquet.File
	leaves map[string]goparquet.LeafColumn
	order  []string // top-level leaf columns in file order
	vals   []goparquet.Value
	pre    Prefetcher // the reader, when it fetches ahead (a remote object)
}

// OpenFile opens a local Parquet file.
func OpenFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := NewFile(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// NewFile reads a Parquet file from r; name is used in error messages.
func NewFile(r io.ReaderAt, size int64, name string) (_ *File, err error) {
	defer features.RecoverPanic(&err, "open "+name) // a malformed footer must not crash a worker
	pf, err := goparquet.OpenFile(r, size, goparquet.SkipPageIndex(true), goparquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable parquet file: %w", name, err)
	}
	f := &File{name: name, pf: pf, leaves: map[string]goparquet.LeafColumn{}}
	f.pre, _ = r.(Prefetcher)
	for _, fld := range pf.Schema().Fields() {
		if !fld.Leaf() {
			continue // nested columns are never ours; callers that need one get a clear error
		}
		lc, ok := pf.Schema().Lookup(fld.Name())
		if !ok {
			continue
		}
		// A malformed type (a MAP annotation on a leaf) panics when asked
		// its kind: ask now, under the recover above, not in every reader.
		_ = lc.Node.Type().Kind()
		timeUnit(lc)
		f.leaves[fld.Name()] = lc
		f.order = append(f.order, fld.Name())
	}
	return f, nil
}

// Close releases the file.
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// Name is the path the file was opened with.
func (f *File) Name() string { return f.name }

// NumRows of the whole file.
func (f *File) NumRows() int64 { return f.pf.NumRows() }

// RowGroups of the file.
func (f *File) RowGroups() []goparquet.RowGroup { return f.pf.RowGroups() }

// Columns lists the top-level flat columns, in file order.
func (f *File) Columns() []string { return f.order }

// HasColumn reports whether name is a top-level flat column.
func (f *File) HasColumn(name string) bool { _, ok := f.leaves[name]; return ok }

// Metadata returns a key/value metadata entry.
func (f *File) Metadata(key string) (string, bool) { return f.pf.Lookup(key) }

// Schema is the file's Parquet schema.
func (f *File) Schema() *goparquet.Schema { return f.pf.Schema() }

// timeUnit returns the length of one step of a timestamp column, or 0 when
// the column is not a timestamp.
func timeUnit(lc goparquet.LeafColumn) (unit int64, int96 bool) {
	t := lc.Node.Type()
	if t.Kind() == goparquet.Int96 {
		return 1, true // nanoseconds, decoded separately
	}
	if t.Kind() != goparquet.Int64 {
		return 0, false
	}
	if lt := t.LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
			return int64(ts.Unit.Value.Duration()), false
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return 1e6, false
		case deprecated.TimestampMicros:
			return 1e3, false
		}
	}
	return 0, false
}

// describe names a column's type for error messages.
func describe(lc goparquet.LeafColumn) string {
	t := lc.Node.Type()
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		return lt.String()
	}
	return t.Kind().String()
}

// ColumnType describes a column's Parquet type for messages.
func (f *File) ColumnType(name string) string {
	lc, ok := f.leaves[name]
	if !ok {
		return "missing"
	}
	return describe(lc)
}

// IsTimestamp reports whether the named column holds timestamps.
func (f *File) IsTimestamp(name string) bool {
	lc, ok := f.leaves[name]
	if !ok {
		return false
	}
	u, _ := timeUnit(lc)
	return u != 0
}

// scan calls fn with the values of one column chunk, in batches whose
// buffers are reused: fn must copy what it keeps.
// A panic while decoding (a malformed file) is returned as a
// *features.PanicError.
func (f *File) scan(rg goparquet.RowGroup, lc goparquet.LeafColumn, fn func([]goparquet.Value) error) (err error) {
	defer features.RecoverPanic(&err, "decode "+f.name+" column "+lc.Path[0])
	if f.vals == nil {
		f.vals = make([]goparquet.Value, 4096)
	}
	pages := rg.ColumnChunks()[lc.ColumnIndex].Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: read column %s: %w", f.name, lc.Path[0], err)
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(f.vals)
			if n > 0 {
				if ferr := fn(f.vals[:n]); ferr != nil {
					goparquet.Release(p)
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				goparquet.Release(p)
				return fmt.Errorf("%s: read column %s: %w", f.name, lc.Path[0], err)
			}
		}
		goparquet.Release(p)
	}
}

// ReadTimes reads a timestamp column of one row group as microseconds since
// the epoch; valid is false for nulls. Non-UTC-adjusted timestamps are taken
// as UTC wall-clock times.
func (f *File) ReadTimes(rg goparquet.RowGroup, name string, times []int64, valid []bool) ([]int64, []bool, error) {
	lc, ok := f.leaves[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: no column %q", ErrSchema, f.name, name)
	}
	unit, int96 := timeUnit(lc)
	if unit == 0 {
		return nil, nil, fmt.Errorf("%w: %s: column %s has type %s, want a TIMESTAMP", ErrSchema, f.name, name, describe(lc))
	}
	err := f.scan(rg, lc, func(vs []goparquet.Value) error {
		for _, v := range vs {
			if v.IsNull() {
				times, valid = append(times, 0), append(valid, false)
				continue
			}
			var us int64
			switch {
			case int96:
				us = int96Micros(v.Int96())
			case unit == 1e3:
				us = v.Int64()
			case unit > 1e3:
				us = v.Int64() * (unit / 1e3)
			default:
				us = floorDiv(v.Int64(), 1e3/unit)
			}
			times, valid = append(times, us), append(valid, true)
		}
		return nil
	})
	return times, valid, err
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// int96Micros decodes Impala/Spark INT96 timestamps: nanoseconds within the
// day, then the Julian day number.
func int96Micros(v deprecated.Int96) int64 {
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	const julianUnixEpoch = 2440588
	days := int64(v[2]) - julianUnixEpoch
	return days*86400e6 + nanos/1e3
}

// ReadColumn reads a column of one row group as a feature column of type t,
// appending to into (which may be nil). INT32 widens to int64 and FLOAT to
// float64; other mismatches are an error naming the column.
func (f *File) ReadColumn(rg goparquet.RowGroup, name string, t features.Type, into *features.Column) (*features.Column, error) {
	lc, ok := f.leaves[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s: no column %q", ErrSchema, f.name, name)
	}
	if into == nil {
		into = features.NewColumn(name, t, int(rg.NumRows()))
	}
	k := lc.Node.Type().Kind()
	ok = false
	switch t {
	case features.Int64:
		ok = (k == goparquet.Int64 || k == goparquet.Int32) && !f.IsTimestamp(name)
	case features.Float64:
		ok = k == goparquet.Double || k == goparquet.Float
	case features.String:
		ok = k == goparquet.ByteArray
	case features.Bool:
		ok = k == goparquet.Boolean
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s: column %s has type %s, want %s", ErrSchema, f.name, name, describe(lc), t)
	}
	// One loop per type: the switch stays out of the per-value path.
	var err error
	switch {
	case t == features.Int64 && k == goparquet.Int32:
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				into.Valid = append(into.Valid, !v.IsNull())
				into.Ints = append(into.Ints, int64(v.Int32()))
			}
			return nil
		})
	case t == features.Int64:
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				into.Valid = append(into.Valid, !v.IsNull())
				into.Ints = append(into.Ints, v.Int64())
			}
			return nil
		})
	case t == features.Float64 && k == goparquet.Float:
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				into.Valid = append(into.Valid, !v.IsNull())
				into.Floats = append(into.Floats, float64(v.Float()))
			}
			return nil
		})
	case t == features.Float64:
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				into.Valid = append(into.Valid, !v.IsNull())
				into.Floats = append(into.Floats, v.Double())
			}
			return nil
		})
	case t == features.String:
		// Equal neighbours share one string: keys and categories repeat,
		// and the allocation per value is most of the cost.
		var last string
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				if v.IsNull() {
					into.Valid = append(into.Valid, false)
					into.Strings = append(into.Strings, "")
					continue
				}
				b := v.ByteArray()
				if string(b) != last {
					last = string(b)
				}
				into.Valid = append(into.Valid, true)
				into.Strings = append(into.Strings, last)
			}
			return nil
		})
	case t == features.Bool:
		err = f.scan(rg, lc, func(vs []goparquet.Value) error {
			for _, v := range vs {
				into.Valid = append(into.Valid, !v.IsNull())
				into.Bools = append(into.Bools, v.Boolean())
			}
			return nil
		})
	}
	return into, err
}

// TypeOf maps a column to the feature type it reads as, if any.
func (f *File) TypeOf(name string) (features.Type, bool) {
	lc, ok := f.leaves[name]
	if !ok {
		return features.Invalid, false
	}
	if u, _ := timeUnit(lc); u != 0 {
		return features.Invalid, false
	}
	switch lc.Node.Type().Kind() {
	case goparquet.Int64, goparquet.Int32:
		return features.Int64, true
	case goparquet.Double, goparquet.Float:
		return features.Float64, true
	case goparquet.ByteArray:
		return features.String, true
	case goparquet.Boolean:
		return features.Bool, true
	}
	return features.Invalid, false
}

// FrameSpec says how to read a file as a frame.
type FrameSpec struct {
	Key     string // key column; "" for none
	KeyType features.Type
	Time    string // timestamp column, required
	Created bool   // read created_timestamp when the file has it
	Columns []features.Field
	// MissingAsNull reads a listed column the file lacks as nulls (history
	// written before a feature existed) instead of failing.
	MissingAsNull bool
}

// HistorySpec reads the offline files of an entity's view: its join key,
// event_timestamp, created_timestamp and the given features.
func HistorySpec(ent *features.Entity, feats []features.Feature) FrameSpec {
	spec := FrameSpec{Key: ent.JoinKey, KeyType: ent.KeyType, Time: EventTimestamp, Created: true,
		Columns: make([]features.Field, len(feats))}
	for i, f := range feats {
		spec.Columns[i] = features.Field{Name: f.Name, Type: f.Type}
	}
	return spec
}

// ReadFrames calls fn with one frame per row group. Rows whose time is null
// are an error: an as-of time is required of every row.
func (f *File) ReadFrames(spec FrameSpec, fn func(*features.Frame) error) (err error) {
	defer features.RecoverPanic(&err, "decode "+f.name)
	if !f.HasColumn(spec.Time) {
		return fmt.Errorf("%w: %s: missing column %s", ErrSchema, f.name, spec.Time)
	}
	if spec.Key != "" && !f.HasColumn(spec.Key) {
		return fmt.Errorf("%w: %s: missing join key column %s", ErrSchema, f.name, spec.Key)
	}
	if !spec.MissingAsNull {
		for _, c := range spec.Columns {
			if !f.HasColumn(c.Name) {
				return fmt.Errorf("%w: %s: missing column %s", ErrSchema, f.name, c.Name)
			}
		}
	}
	for i, rg := range f.RowGroups() {
		if err := f.prefetch(i, spec); err != nil {
			return err
		}
		n := int(rg.NumRows())
		fr := &features.Frame{}
		times, valid, err := f.ReadTimes(rg, spec.Time, make([]int64, 0, n), make([]bool, 0, n))
		if err != nil {
			return err
		}
		for i, ok := range valid {
			if !ok {
				return fmt.Errorf("%s: column %s is null in a row (row %d of its row group)", f.name, spec.Time, i)
			}
		}
		fr.Time = times
		if spec.Key != "" {
			if fr.Key, err = f.ReadColumn(rg, spec.Key, spec.KeyType, nil); err != nil {
				return fmt.Errorf("join key: %w", err)
			}
		}
		if spec.Created && f.HasColumn(CreatedTimestamp) {
			created, cvalid, err := f.ReadTimes(rg, CreatedTimestamp, make([]int64, 0, n), make([]bool, 0, n))
			if err != nil {
				return err
			}
			for i, ok := range cvalid {
				if !ok {
					created[i] = math.MinInt64
				}
			}
			fr.Created = created
		}
		for _, c := range spec.Columns {
			if !f.HasColumn(c.Name) {
				fr.Columns = append(fr.Columns, features.NewNullColumn(c.Name, c.Type, n))
				continue
			}
			col, err := f.ReadColumn(rg, c.Name, c.Type, nil)
			if err != nil {
				return err
			}
			fr.Columns = append(fr.Columns, col)
		}
		if err := fr.Validate(); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := fn(fr); err != nil {
			return err
		}
	}
	return nil
}

// prefetch hands a remote reader the byte ranges of the column chunks that
// reading row group i with spec takes, so it fetches them in a few large
// requests instead of page by page (and nothing of the other columns).
func (f *File) prefetch(i int, spec FrameSpec) error {
	if f.pre == nil {
		return nil
	}
	md := f.pf.Metadata()
	if i >= len(md.RowGroups) {
		return nil
	}
	cols := md.RowGroups[i].Columns
	names := []string{spec.Time, spec.Key}
	if spec.Created {
		names = append(names, CreatedTimestamp)
	}
	for _, c := range spec.Columns {
		names = append(names, c.Name)
	}
	var rs []ByteRange
	for _, name := range names {
		lc, ok := f.leaves[name]
		if !ok || lc.ColumnIndex >= len(cols) {
			continue
		}
		m := cols[lc.ColumnIndex].MetaData
		off := m.DataPageOffset
		if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < off {
			off = m.DictionaryPageOffset
		}
		rs = append(rs, ByteRange{Off: off, Len: m.TotalCompressedSize})
	}
	if err := f.pre.Prefetch(rs); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	return nil
}

// ReadFile reads a whole file as one frame (a window's partition: small
// enough by construction; history is streamed with ReadFrames instead).
func ReadFile(path string, spec FrameSpec) (*features.Frame, error) {
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	return readAll(f, spec)
}

// readFS is ReadFile of a file of fsys.
func readFS(ctx context.Context, fsys FS, name string, spec FrameSpec) (*features.Frame, error) {
	f, err := openFS(ctx, fsys, name)
	if err != nil {
		return nil, err
	}
	return readAll(f, spec)
}

func readAll(f *File, spec FrameSpec) (*features.Frame, error) {
	defer f.Close()
	var out *features.Frame
	err := f.ReadFrames(spec, func(fr *features.Frame) error {
		if out == nil {
			out = fr
			return nil
		}
		out.Append(fr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil { // no row groups
		out = &features.Frame{}
		if spec.Key != "" {
			out.Key = features.NewColumn(spec.Key, spec.KeyType, 0)
		}
		for _, c := range spec.Columns {
			out.Columns = append(out.Columns, features.NewColumn(c.Name, c.Type, 0))
		}
	}
	return out, nil
}
