package parquet

import (
	"fmt"
	"io"
	"unsafe"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
)

// rowGroupRows bounds a row group: large enough for fast scans, small enough
// that a reader's per-row-group buffers stay a few MB.
const rowGroupRows = 256 << 10

// WriteFrame writes f as one Parquet file to w: key column (named after
// f.Key.Name, required), timeName (TIMESTAMP micros UTC), created_timestamp
// when f.Created is set, then f's columns, all nullable. meta becomes file
// key/value metadata.
func WriteFrame(w io.Writer, f *features.Frame, timeName string, meta map[string]string) error {
	if err := f.Validate(); err != nil {
		return err
	}
	sb := newSchemaBuilder()
	if f.Key != nil {
		kn, err := nodeFor(f.Key.Type)
		if err != nil {
			return err
		}
		if err := sb.add(f.Key.Name, kn); err != nil {
			return err
		}
	}
	if err := sb.add(timeName, timestampNode()); err != nil {
		return err
	}
	if f.Created != nil {
		if err := sb.add(CreatedTimestamp, timestampNode()); err != nil {
			return err
		}
	}
	for _, c := range f.Columns {
		n, err := nodeFor(c.Type)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		if err := sb.add(c.Name, n); err != nil {
			return err
		}
	}
	opts := []goparquet.WriterOption{sb.schema(), goparquet.Compression(&goparquet.Snappy)}
	for k, v := range meta {
		opts = append(opts, goparquet.KeyValueMetadata(k, v))
	}
	pw := goparquet.NewWriter(w, opts...)
	buf := make([]goparquet.Value, 0, 8192)
	n := f.Len()
	for lo := 0; lo < n || (n == 0 && lo == 0); lo += rowGroupRows {
		hi := min(lo+rowGroupRows, n)
		cw := pw.ColumnWriters()
		ci := 0
		writeCol := func(vals []goparquet.Value) error {
			_, err := cw[ci].WriteRowValues(vals)
			return err
		}
		writeFeature := func(c *features.Column) error {
			for b := lo; b < hi; b += cap(buf) {
				buf = appendColumnValues(buf[:0], c, b, min(b+cap(buf), hi), ci)
				if err := writeCol(buf); err != nil {
					return fmt.Errorf("write %s: %w", c.Name, err)
				}
			}
			ci++
			return nil
		}
		if f.Key != nil {
			if err := writeFeature(f.Key); err != nil {
				return err
			}
		}
		for _, ts := range [][]int64{f.Time, f.Created} {
			if ts == nil {
				continue
			}
			for b := lo; b < hi; b += cap(buf) {
				buf = buf[:0]
				for _, t := range ts[b:min(b+cap(buf), hi)] {
					buf = append(buf, goparquet.Int64Value(t).Level(0, 0, ci))
				}
				if err := writeCol(buf); err != nil {
					return fmt.Errorf("write timestamps: %w", err)
				}
			}
			ci++
		}
		for _, c := range f.Columns {
			if err := writeFeature(c); err != nil {
				return err
			}
		}
		if err := pw.Flush(); err != nil {
			return fmt.Errorf("flush row group: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return pw.Close()
}

// appendColumnValues appends rows [lo, hi) of c as optional-column values.
func appendColumnValues(buf []goparquet.Value, c *features.Column, lo, hi, ci int) []goparquet.Value {
	for i := lo; i < hi; i++ {
		if !c.Valid[i] {
			buf = append(buf, goparquet.Value{}.Level(0, 0, ci))
			continue
		}
		var v goparquet.Value
		switch c.Type {
		case features.Int64:
			v = goparquet.Int64Value(c.Ints[i])
		case features.Float64:
			v = goparquet.DoubleValue(c.Floats[i])
		case features.String:
			// The writer copies the bytes into its page buffer.
			v = goparquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(c.Strings[i]), len(c.Strings[i])))
		case features.Bool:
			v = goparquet.BooleanValue(c.Bools[i])
		}
		buf = append(buf, v.Level(0, 1, ci))
	}
	return buf
}
