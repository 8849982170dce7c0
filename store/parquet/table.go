package parquet

import (
	"fmt"
	"io"
	"slices"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
)

// WriteTable writes cols, in their order, as one flat Parquet file (one row
// group per rowGroupRows rows). The columns named in timestamps must be Int64
// columns holding microseconds since the epoch without nulls; they are
// written as required TIMESTAMP(MICROS, UTC). Every other column is written
// nullable with its type. It is how tables that do not come from Parquet (an
// entity table read from CSV) reach the readers of this package unchanged.
func WriteTable(w io.Writer, cols []*features.Column, timestamps ...string) error {
	sb := newSchemaBuilder()
	n := -1
	for _, c := range cols {
		if n >= 0 && c.Len() != n {
			return fmt.Errorf("write table: column %s has %d rows, %s has %d", c.Name, c.Len(), cols[0].Name, n)
		}
		n = c.Len()
		var node goparquet.Node
		if slices.Contains(timestamps, c.Name) {
			if c.Type != features.Int64 {
				return fmt.Errorf("write table: timestamp column %s holds %s, want int64 microseconds", c.Name, c.Type)
			}
			if i := slices.Index(c.Valid, false); i >= 0 {
				return fmt.Errorf("write table: timestamp column %s is null in row %d", c.Name, i)
			}
			node = timestampNode()
		} else {
			var err error
			if node, err = nodeFor(c.Type); err != nil {
				return fmt.Errorf("write table: column %s: %w", c.Name, err)
			}
		}
		if err := sb.add(c.Name, node); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	n = max(n, 0)
	pw := goparquet.NewWriter(w, sb.schema(), goparquet.Compression(&goparquet.Snappy))
	buf := make([]goparquet.Value, 0, 8192)
	for lo := 0; lo < n; lo += rowGroupRows {
		hi := min(lo+rowGroupRows, n)
		cw := pw.ColumnWriters()
		for ci, c := range cols {
			required := slices.Contains(timestamps, c.Name)
			for b := lo; b < hi; b += cap(buf) {
				e := min(b+cap(buf), hi)
				if required {
					buf = buf[:0]
					for _, t := range c.Ints[b:e] {
						buf = append(buf, goparquet.Int64Value(t).Level(0, 0, ci))
					}
				} else {
					buf = appendColumnValues(buf[:0], c, b, e, ci)
				}
				if _, err := cw[ci].WriteRowValues(buf); err != nil {
					return fmt.Errorf("write table: column %s: %w", c.Name, err)
				}
			}
		}
		if err := pw.Flush(); err != nil {
			return fmt.Errorf("write table: flush row group: %w", err)
		}
	}
	return pw.Close()
}
