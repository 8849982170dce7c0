package parquet

import (
	"fmt"
	"io"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
)

// WriteExtended writes the rows of in, every column passed through unchanged
// (types, nulls and order kept), followed by the extra columns, which hold one
// value per row of in. in must be flat (no nested columns).
func WriteExtended(w io.Writer, in *File, extra []*features.Column) error {
	sb := newSchemaBuilder()
	for _, name := range in.Columns() {
		if err := sb.add(name, in.leaves[name].Node); err != nil {
			return err
		}
	}
	for _, c := range extra {
		if c.Len() != int(in.NumRows()) {
			return fmt.Errorf("column %s has %d rows, input has %d", c.Name, c.Len(), in.NumRows())
		}
		n, err := nodeFor(c.Type)
		if err != nil {
			return err
		}
		if err := sb.add(c.Name, n); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	pw := goparquet.NewWriter(w, sb.schema(), goparquet.Compression(&goparquet.Snappy))
	buf := make([]goparquet.Value, 0, 8192)
	off := 0
	for _, rg := range in.RowGroups() {
		n := int(rg.NumRows())
		cw := pw.ColumnWriters()
		for ci, name := range in.Columns() {
			lc := in.leaves[name]
			if lc.MaxRepetitionLevel > 0 {
				return fmt.Errorf("column %s is repeated; only flat columns can pass through", name)
			}
			err := in.scan(rg, lc, func(vs []goparquet.Value) error {
				buf = buf[:0]
				for _, v := range vs {
					buf = append(buf, v.Level(0, v.DefinitionLevel(), ci))
				}
				_, err := cw[ci].WriteRowValues(buf)
				return err
			})
			if err != nil {
				return fmt.Errorf("copy column %s: %w", name, err)
			}
		}
		for k, c := range extra {
			ci := len(in.Columns()) + k
			for b := off; b < off+n; b += cap(buf) {
				buf = appendColumnValues(buf[:0], c, b, min(b+cap(buf), off+n), ci)
				if _, err := cw[ci].WriteRowValues(buf); err != nil {
					return fmt.Errorf("write %s: %w", c.Name, err)
				}
			}
		}
		if err := pw.Flush(); err != nil {
			return err
		}
		off += n
	}
	return pw.Close()
}
