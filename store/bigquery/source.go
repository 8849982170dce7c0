package bigquery

import (
	"context"
	"fmt"
	"strings"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/features"
)

// Sources reads raw sources kept in BigQuery tables (features.Source.Table
// "project.dataset.table"). Safe for concurrent use; the client stays the
// caller's to close.
type Sources struct {
	client *gbigquery.Client
}

// NewSources returns a source reader whose queries run (and are billed) in
// the client's project.
func NewSources(client *gbigquery.Client) *Sources { return &Sources{client: client} }

// IsTable reports whether src is read from BigQuery: its Table is fully
// qualified (project.dataset.table). Shorter names only document where the
// rows also live.
func IsTable(src *features.Source) bool {
	_, ok, _ := ParseTable(src.Table)
	return ok
}

// Read returns the source's events with event time in [from, to), every
// field of the source definition as a column, oldest first. The filter is
// on the source's timestamp column, so on a table partitioned by it only
// the window's partitions are scanned (and billed). A table lacking a field
// or holding it with another type is an ErrSchema naming both.
func (s *Sources) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	ref, ok, err := ParseTable(src.Table)
	if err != nil {
		return nil, fmt.Errorf("%w: source %s: %w", features.ErrInput, src.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: source %s: table %q is not project.dataset.table", features.ErrInput, src.Name, src.Table)
	}
	name := ref.String()
	md, err := s.client.DatasetInProject(ref.Project, ref.Dataset.Dataset).Table(ref.Table).Metadata(ctx)
	if err != nil {
		return nil, resourceError(fmt.Sprintf("source %s table %s", src.Name, name), err)
	}
	if err := checkSourceSchema(src, name, md.Schema); err != nil {
		return nil, err
	}
	cols := make([]string, 0, len(src.Fields)+1)
	cols = append(cols, quoteIdent(src.TimestampField))
	for _, f := range src.Fields {
		cols = append(cols, quoteIdent(f.Name))
	}
	ts := quoteIdent(src.TimestampField)
	q := s.client.Query(fmt.Sprintf("SELECT %s FROM %s WHERE %s >= @from AND %s < @to ORDER BY %s",
		strings.Join(cols, ", "), quoteIdent(name), ts, ts, ts))
	q.Parameters = []gbigquery.QueryParameter{{Name: "from", Value: from.UTC()}, {Name: "to", Value: to.UTC()}}
	q.Location = md.Location
	it, err := q.Read(ctx)
	if err != nil {
		return nil, resourceError(fmt.Sprintf("source %s: query table %s", src.Name, name), err)
	}
	out := &features.Frame{}
	for _, f := range src.Fields {
		out.Columns = append(out.Columns, features.NewColumn(f.Name, f.Type, 0))
	}
	for {
		var row []gbigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, resourceError(fmt.Sprintf("source %s: read table %s", src.Name, name), err)
		}
		t, ok := row[0].(time.Time)
		if !ok {
			return nil, fmt.Errorf("%w: source %s table %s: row with %s %v", ErrSchema, src.Name, name, src.TimestampField, row[0])
		}
		out.Time = append(out.Time, features.Micros(t))
		for k, f := range src.Fields {
			v, err := ValueOf(row[k+1], f.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: source %s table %s column %s: %w", ErrSchema, src.Name, name, f.Name, err)
			}
			if err := out.Columns[k].Append(v); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// checkSourceSchema reports a table lacking a field of the source, or
// holding it with another type.
func checkSourceSchema(src *features.Source, name string, schema gbigquery.Schema) error {
	have := map[string]*gbigquery.FieldSchema{}
	for _, f := range schema {
		have[strings.ToLower(f.Name)] = f
	}
	check := func(col string, want gbigquery.FieldType) error {
		h, ok := have[strings.ToLower(col)]
		if !ok {
			return fmt.Errorf("%w: source %s table %s has no column %s", ErrSchema, src.Name, name, col)
		}
		if h.Repeated || normalType(h.Type) != want {
			return fmt.Errorf("%w: source %s table %s column %s is %s, the source says %s", ErrSchema, src.Name, name, col, h.Type, want)
		}
		return nil
	}
	if err := check(src.TimestampField, gbigquery.TimestampFieldType); err != nil {
		return err
	}
	for _, f := range src.Fields {
		ft, err := fieldType(f.Type)
		if err != nil {
			return fmt.Errorf("%w: source %s field %s: %w", features.ErrInput, src.Name, f.Name, err)
		}
		if err := check(f.Name, ft); err != nil {
			return err
		}
	}
	return nil
}

// ValueOf converts a query result cell to a value of type t: the one
// conversion of BigQuery rows, for sources and training-set results alike.
func ValueOf(v gbigquery.Value, t features.Type) (features.Value, error) {
	if v == nil {
		return features.Null, nil
	}
	switch x := v.(type) {
	case int64:
		if t == features.Int64 {
			return features.IntValue(x), nil
		}
	case float64:
		if t == features.Float64 {
			return features.FloatValue(x), nil
		}
	case string:
		if t == features.String {
			return features.StringValue(x), nil
		}
	case bool:
		if t == features.Bool {
			return features.BoolValue(x), nil
		}
	}
	return features.Null, fmt.Errorf("value %v (%T) is not %s", v, v, t)
}

// quoteIdent quotes a column or table name for GoogleSQL.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "\\`") + "`"
}
