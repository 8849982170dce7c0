package parquet

import (
	"fmt"
	"io"
	"slices"

	"github.com/skewfree/skewfree/features"
)

// WriteTable writes cols, in their order, as one flat Parquet file (one row
// group per rowGroupRows rows). The columns named in timestamps must be Int64
// columns holding microseconds since the epoch without nulls; they are
// written as required TIMESTAMP(MICROS, UTC). Every other column is written
// nullable with its type. It is how tables that do not come from Parquet (an
// entity table read from CSV) reach the readers of this package unchanged.
func WriteTable(w io.Writer, cols []*features.Column, timestamps ...string) error {
	return WriteTableTimes(w, cols, timestamps, nil, nil)
}

// WriteTableTimes is WriteTable with, besides the required timestamp
// columns, nullable ones: the columns named in optional must be Int64
// columns of microseconds since the epoch and are written as nullable
// TIMESTAMP(MICROS, UTC), nulls kept. meta becomes file key/value metadata.
func WriteTableTimes(w io.Writer, cols []*features.Column, timestamps, optional []string, meta map[string]string) error {
	out := make([]outColumn, len(cols))
	n := 0
	for i, c := range cols {
		if i > 0 && c.Len() != n {
			return fmt.Errorf("write table: column %s has %d rows, %s has %d", c.Name, c.Len(), cols[0].Name, n)
		}
		n = c.Len()
		out[i] = outColumn{name: c.Name, col: c}
		if slices.Contains(timestamps, c.Name) {
			if c.Type != features.Int64 {
				return fmt.Errorf("write table: timestamp column %s holds %s, want int64 microseconds", c.Name, c.Type)
			}
			if i := slices.Index(c.Valid, false); i >= 0 {
				return fmt.Errorf("write table: timestamp column %s is null in row %d", c.Name, i)
			}
			out[i] = outColumn{name: c.Name, times: c.Ints}
		} else if slices.Contains(optional, c.Name) {
			if c.Type != features.Int64 {
				return fmt.Errorf("write table: timestamp column %s holds %s, want int64 microseconds", c.Name, c.Type)
			}
			out[i] = outColumn{name: c.Name, col: c, optTime: true}
		}
	}
	if err := writeColumns(w, out, n, meta); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
