package trainingset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// IsCSV reports whether an entity table path names a CSV file (by its
// ".csv" extension, any case); any other file is read as Parquet.
func IsCSV(path string) bool { return strings.EqualFold(filepath.Ext(path), ".csv") }

// ReadCSV reads an entity table kept as CSV (RFC 4180, comma-separated, UTF-8)
// into columns in header order. The first line is the header: unique column
// names, among them event_timestamp and the join keys. Types:
//
//   - event_timestamp: an RFC 3339 time with its offset
//     (2026-11-20T13:05:00Z, 2026-11-20T14:05:00+01:00), read as UTC; never
//     empty. The column is returned as Int64 microseconds since the epoch.
//   - a join key named in keyTypes: that type (a string key is taken as
//     written; an int64 key must be a base-10 integer); never empty.
//   - every other column is typed by its non-empty values: int64 if each is
//     a base-10 integer, else float64 if each is a finite decimal number,
//     else bool if each is exactly "true" or "false", else string (as
//     written). An empty field is null; a column with no values is string.
//
// Errors name the file, the row (1 = the first line after the header), its
// line in the file and the column.
func ReadCSV(r io.Reader, name string, keyTypes map[string]features.Type) ([]*features.Column, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("entity file %s: empty; want a header line with the join key(s) and %s", name, EntityColumn)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte order mark, as spreadsheets write
	}
	seen := map[string]bool{}
	for i, h := range header {
		switch {
		case h == "":
			return nil, fmt.Errorf("entity file %s: header: column %d has no name", name, i+1)
		case seen[h]:
			return nil, fmt.Errorf("entity file %s: header: column %s appears twice", name, h)
		}
		seen[h] = true
	}
	if !seen[EntityColumn] {
		return nil, fmt.Errorf("entity file %s: header has no column %s (have %s)", name, EntityColumn, strings.Join(header, ","))
	}

	raw := make([][]string, len(header))
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		lines = append(lines, line)
		for i, v := range rec {
			raw[i] = append(raw[i], v)
		}
	}
	bad := func(row int, col, format string, args ...any) error {
		return fmt.Errorf("entity file %s: row %d (line %d), column %s: %s", name, row+1, lines[row], col, fmt.Sprintf(format, args...))
	}

	cols := make([]*features.Column, len(header))
	for i, h := range header {
		vals := raw[i]
		switch kt, isKey := keyTypes[h]; {
		case h == EntityColumn:
			c := features.NewColumn(h, features.Int64, len(vals))
			for r, v := range vals {
				if v == "" {
					return nil, bad(r, h, "empty; want an RFC 3339 time such as 2026-11-20T00:00:00Z")
				}
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return nil, bad(r, h, "%q is not an RFC 3339 time such as 2026-11-20T00:00:00Z", v)
				}
				_ = c.Append(features.IntValue(features.Micros(t)))
			}
			cols[i] = c
		case isKey:
			c := features.NewColumn(h, kt, len(vals))
			for r, v := range vals {
				if v == "" {
					return nil, bad(r, h, "empty join key")
				}
				val, ok := parseAs(kt, v)
				if !ok {
					return nil, bad(r, h, "%q is not a %s join key", v, kt)
				}
				_ = c.Append(val)
			}
			cols[i] = c
		default:
			t := inferType(vals)
			c := features.NewColumn(h, t, len(vals))
			for _, v := range vals {
				val := features.Null
				if v != "" {
					val, _ = parseAs(t, v) // inferType checked every value
				}
				_ = c.Append(val)
			}
			cols[i] = c
		}
	}
	return cols, nil
}

// inferType is the type rule of ReadCSV for columns other than keys and
// event_timestamp.
func inferType(vals []string) features.Type {
	for _, t := range []features.Type{features.Int64, features.Float64, features.Bool} {
		all, any := true, false
		for _, v := range vals {
			if v == "" {
				continue
			}
			any = true
			if _, ok := parseAs(t, v); !ok {
				all = false
				break
			}
		}
		if all && any {
			return t
		}
	}
	return features.String
}

func parseAs(t features.Type, v string) (features.Value, bool) {
	switch t {
	case features.Int64:
		i, err := strconv.ParseInt(v, 10, 64)
		return features.IntValue(i), err == nil
	case features.Float64:
		f, err := strconv.ParseFloat(v, 64)
		// ParseFloat also takes "inf", "nan" and hex floats: not decimals.
		ok := err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && !strings.ContainsAny(v, "xXpP")
		return features.FloatValue(f), ok
	case features.Bool:
		return features.BoolValue(v == "true"), v == "true" || v == "false"
	case features.String:
		return features.StringValue(v), true
	}
	return features.Null, false
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("entity file %s: line %d: wrong number of fields (every line needs one per header column)", name, pe.Line)
		}
		return fmt.Errorf("entity file %s: line %d, column %d: %w", name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("entity file %s: %w", name, err)
}

// openCSV reads a CSV entity table into an in-memory Parquet file named
// after path, so the join reads it exactly as it reads Parquet input.
func openCSV(path string, keyTypes map[string]features.Type) (*parquet.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	cols, err := ReadCSV(fh, path, keyTypes)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := parquet.WriteTable(&buf, cols, EntityColumn); err != nil {
		return nil, fmt.Errorf("entity file %s: %w", path, err)
	}
	return parquet.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), path)
}

// WriteCSV writes f as a CSV entity table that ReadCSV reads back: the join
// key, event_timestamp (RFC 3339, UTC), then f's columns; nulls are empty
// fields. Floats are written in their shortest exact form, so a float64
// column whose values are all whole numbers reads back as int64.
func WriteCSV(w io.Writer, f *features.Frame) error {
	if err := f.Validate(); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	header := make([]string, 0, len(f.Columns)+2)
	if f.Key != nil {
		header = append(header, f.Key.Name)
	}
	header = append(header, EntityColumn)
	for _, c := range f.Columns {
		header = append(header, c.Name)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(header))
	for i := range f.Len() {
		rec = rec[:0]
		if f.Key != nil {
			rec = append(rec, csvField(f.Key, i))
		}
		rec = append(rec, features.FromMicros(f.Time[i]).Format(time.RFC3339Nano))
		for _, c := range f.Columns {
			rec = append(rec, csvField(c, i))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvField(c *features.Column, i int) string {
	if !c.Valid[i] {
		return ""
	}
	switch c.Type {
	case features.Int64:
		return strconv.FormatInt(c.Ints[i], 10)
	case features.Float64:
		return strconv.FormatFloat(c.Floats[i], 'g', -1, 64)
	case features.String:
		return c.Strings[i]
	case features.Bool:
		return strconv.FormatBool(c.Bools[i])
	}
	return ""
}
