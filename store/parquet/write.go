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
// f.Key.Name), timeName (TIMESTAMP micros UTC), created_timestamp when
// f.Created is set, then f's columns, all nullable. meta becomes file
// key/value metadata.
func WriteFrame(w io.Writer, f *features.Frame, timeName string, meta map[string]string) error {
	if err := f.Validate(); err != nil {
		return err
	}
	cols := make([]outColumn, 0, len(f.Columns)+3)
	if f.Key != nil {
		cols = append(cols, outColumn{name: f.Key.Name, col: f.Key})
	}
	cols = append(cols, outColumn{name: timeName, times: f.Time})
	if f.Created != nil {
		cols = append(cols, outColumn{name: CreatedTimestamp, times: f.Created})
	}
	for _, c := range f.Columns {
		cols = append(cols, outColumn{name: c.Name, col: c})
	}
	return writeColumns(w, cols, f.Len(), meta)
}

// outColumn is one column for writeColumns: a required TIMESTAMP(MICROS,
// UTC) column of times, or col written nullable with its type.
type outColumn struct {
	name  string
	times []int64
	col   *features.Column
	// optTime writes col (Int64 microseconds) as a nullable TIMESTAMP.
	optTime bool
}

// writeColumns writes n rows of cols, in their order, as one Parquet file
// (one row group per rowGroupRows rows, one empty row group when n is 0).
func writeColumns(w io.Writer, cols []outColumn, n int, meta map[string]string) error {
	sb := newSchemaBuilder()
	for _, c := range cols {
		node := timestampNode()
		if c.optTime {
			node = goparquet.Optional(timestampNode())
		} else if c.col != nil {
			var err error
			if node, err = nodeFor(c.col.Type); err != nil {
				return fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		if err := sb.add(c.name, node); err != nil {
			return err
		}
	}
	opts := []goparquet.WriterOption{sb.schema(), goparquet.Compression(&goparquet.Snappy)}
	for k, v := range meta {
		opts = append(opts, goparquet.KeyValueMetadata(k, v))
	}
	pw := goparquet.NewWriter(w, opts...)
	buf := make([]goparquet.Value, 0, 8192)
	for lo := 0; lo < n || (n == 0 && lo == 0); lo += rowGroupRows {
		hi := min(lo+rowGroupRows, n)
		cw := pw.ColumnWriters()
		for ci, c := range cols {
			for b := lo; b < hi; b += cap(buf) {
				e := min(b+cap(buf), hi)
				if c.col != nil {
					buf = appendColumnValues(buf[:0], c.col, b, e, ci)
				} else {
					buf = buf[:0]
					for _, t := range c.times[b:e] {
						buf = append(buf, goparquet.Int64Value(t).Level(0, 0, ci))
					}
				}
				if _, err := cw[ci].WriteRowValues(buf); err != nil {
					return fmt.Errorf("write %s: %w", c.name, err)
				}
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
