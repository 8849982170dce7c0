package bqjoin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	gbigquery "cloud.google.com/go/bigquery"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/trainingset"
)

// keyColumn is a join key column of the entity table, typed as its entity.
type keyColumn struct {
	name string
	typ  features.Type
}

// uploadCol is one column of the uploaded entity table.
type uploadCol struct {
	col    *features.Column
	isTime bool // Int64 microseconds, uploaded as TIMESTAMP
}

// upload loads the entity rows into t as one NDJSON load job (load jobs
// are free, keep microseconds exact, and replace t whole): RowColumn (the
// row's position in the input), the join keys, event_timestamp, and with
// passThrough every other column of the entity table too.
func upload(ctx context.Context, t *gbigquery.Table, in *trainingset.EntityTable, keys []keyColumn, passThrough bool, expires time.Time) error {
	n := len(in.Times)
	row := features.NewColumn(RowColumn, features.Int64, n)
	for i := range n {
		row.Ints = append(row.Ints, int64(i))
		row.Valid = append(row.Valid, true)
	}
	times := &features.Column{Name: EventTimestamp, Type: features.Int64, Ints: in.Times, Valid: make([]bool, n)}
	for i := range times.Valid {
		times.Valid[i] = true
	}
	cols := []uploadCol{{col: row}}
	added := map[string]bool{RowColumn: true, EventTimestamp: true}
	for _, k := range keys {
		c, err := in.Column(k.name, k.typ)
		if err != nil {
			return err
		}
		cols = append(cols, uploadCol{col: c})
		added[k.name] = true
	}
	cols = append(cols, uploadCol{col: times, isTime: true})
	if passThrough {
		for _, name := range in.File.Columns() {
			if added[name] {
				continue
			}
			var c *features.Column
			var err error
			isTime := in.File.IsTimestamp(name)
			if isTime {
				c, err = in.TimeColumn(name)
			} else if typ, ok := in.File.TypeOf(name); !ok {
				return fmt.Errorf("entity file %s: column %s has type %s, which a BigQuery table cannot take here", in.File.Name(), name, in.File.ColumnType(name))
			} else {
				c, err = in.Column(name, typ)
			}
			if err != nil {
				return err
			}
			if err := checkIdent(name); err != nil {
				return fmt.Errorf("entity file %s: %w", in.File.Name(), err)
			}
			cols = append(cols, uploadCol{col: c, isTime: isTime})
		}
	}
	var schema gbigquery.Schema
	for _, c := range cols {
		ft := gbigquery.TimestampFieldType
		if !c.isTime {
			st, err := sqlType(c.col.Type)
			if err != nil {
				return err
			}
			ft = gbigquery.FieldType(st)
		}
		schema = append(schema, &gbigquery.FieldSchema{Name: c.col.Name, Type: ft, Required: c.col.Name == RowColumn || c.col.Name == EventTimestamp})
	}
	if err := t.Create(ctx, &gbigquery.TableMetadata{Schema: schema, ExpirationTime: expires}); err != nil {
		return fmt.Errorf("bigquery: create: %w", err)
	}

	pr, pw := io.Pipe()
	go func() {
		var err error
		defer func() { pw.CloseWithError(err) }()
		defer features.RecoverPanic(&err, "bigquery: encode entity rows")
		err = writeNDJSON(pw, cols, n)
	}()
	src := gbigquery.NewReaderSource(pr)
	src.SourceFormat = gbigquery.JSON
	src.Schema = schema
	l := t.LoaderFrom(src)
	l.WriteDisposition = gbigquery.WriteTruncate
	job, err := l.Run(ctx)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("bigquery: load: %w", err)
	}
	s, err := job.Wait(ctx)
	if err == nil {
		err = s.Err()
	}
	if err != nil {
		return fmt.Errorf("bigquery: load job %s: %w", job.ID(), err)
	}
	return nil
}

// writeNDJSON writes one JSON object per row; timestamps as
// "YYYY-MM-DD HH:MM:SS.ffffff" UTC, which BigQuery loads to the microsecond.
func writeNDJSON(w io.Writer, cols []uploadCol, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	names := make([][]byte, len(cols))
	for i, c := range cols {
		b, _ := json.Marshal(c.col.Name)
		names[i] = b
	}
	var buf []byte
	for r := range n {
		buf = append(buf[:0], '{')
		for i, c := range cols {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, names[i]...)
			buf = append(buf, ':')
			col := c.col
			switch {
			case !col.Valid[r]:
				buf = append(buf, "null"...)
			case c.isTime:
				buf = append(buf, '"')
				buf = features.FromMicros(col.Ints[r]).AppendFormat(buf, "2006-01-02 15:04:05.000000")
				buf = append(buf, '"')
			case col.Type == features.Int64:
				// Quoted: exact for every int64, whatever parses the JSON.
				buf = append(buf, '"')
				buf = strconv.AppendInt(buf, col.Ints[r], 10)
				buf = append(buf, '"')
			case col.Type == features.Float64:
				f := col.Floats[r]
				switch {
				case math.IsNaN(f):
					buf = append(buf, `"NaN"`...)
				case math.IsInf(f, 1):
					buf = append(buf, `"Infinity"`...)
				case math.IsInf(f, -1):
					buf = append(buf, `"-Infinity"`...)
				default:
					buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
				}
			case col.Type == features.String:
				b, err := json.Marshal(col.Strings[r])
				if err != nil {
					return err
				}
				buf = append(buf, b...)
			case col.Type == features.Bool:
				buf = strconv.AppendBool(buf, col.Bools[r])
			}
		}
		buf = append(buf, '}', '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
