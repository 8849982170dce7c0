package bigquery

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/pipeline"
)

// Sources reads raw sources kept in BigQuery tables (features.Source.Table
// "project.dataset.table"). Safe for concurrent use; the client stays the
// caller's to close.
type Sources struct {
	client *gbigquery.Client
	// Logger receives the warning about a table whose partitioning does
	// not prune a window (once per table). Default slog.Default().
	Logger *slog.Logger
	warned sync.Map // table name -> struct{}: partitioning warning given
	// onQuery, when set (tests), is called for every query job created.
	onQuery func(jobID string)
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

// sourceQuery is a source window's query, checked against the table.
type sourceQuery struct {
	name     string // project.dataset.table
	location string
	sql      string
	params   []gbigquery.QueryParameter
}

// prepare checks src's table and builds the window's query. The query has
// no ORDER BY (a sort BigQuery would do for nothing: readers sort in Go).
func (s *Sources) prepare(ctx context.Context, src *features.Source, from, to time.Time) (*sourceQuery, error) {
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
	s.checkPartitioning(src, name, md)
	cols := make([]string, 0, len(src.Fields)+1)
	cols = append(cols, quoteIdent(src.TimestampField))
	for _, f := range src.Fields {
		cols = append(cols, quoteIdent(f.Name))
	}
	ts := quoteIdent(src.TimestampField)
	return &sourceQuery{
		name:     name,
		location: md.Location,
		sql:      fmt.Sprintf("SELECT %s FROM %s WHERE %s >= @from AND %s < @to", strings.Join(cols, ", "), quoteIdent(name), ts, ts),
		params:   []gbigquery.QueryParameter{{Name: "from", Value: from.UTC()}, {Name: "to", Value: to.UTC()}},
	}, nil
}

// checkPartitioning warns, once per table, when the window filter on the
// source's timestamp field cannot prune the table's partitions: the table
// is not partitioned, or partitioned by ingestion time or on another
// column. Every window then scans (and bills) the whole table.
func (s *Sources) checkPartitioning(src *features.Source, name string, md *gbigquery.TableMetadata) {
	tp := md.TimePartitioning
	if tp != nil && strings.EqualFold(tp.Field, src.TimestampField) {
		return
	}
	if _, dup := s.warned.LoadOrStore(name, struct{}{}); dup {
		return
	}
	how := "is not partitioned"
	switch {
	case tp != nil && tp.Field == "":
		how = "is partitioned by ingestion time"
	case tp != nil:
		how = "is partitioned on " + tp.Field
	case md.RangePartitioning != nil:
		how = "is range-partitioned on " + md.RangePartitioning.Field
	}
	s.logger().Warn(fmt.Sprintf("bigquery source %s: table %s %s, not on the timestamp field %s: every window's query scans the whole table (partition it on %s to scan only the window)",
		src.Name, name, how, src.TimestampField, src.TimestampField), "source", src.Name, "table", name)
}

func (s *Sources) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Read returns the source's events with event time in [from, to), every
// field of the source definition as a column, oldest first (events at the
// same time in no particular order). The filter is on the source's
// timestamp column, so on a table partitioned by it only the window's
// partitions are scanned (and billed); on a table partitioned otherwise
// the whole table is, and a warning says so once per table. A table
// lacking a field or holding it with another type is an ErrSchema naming
// both.
func (s *Sources) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	sq, err := s.prepare(ctx, src, from, to)
	if err != nil {
		return nil, err
	}
	q := s.client.Query(sq.sql)
	q.Parameters = sq.params
	q.Location = sq.location
	job, err := q.Run(ctx)
	if err != nil {
		return nil, resourceError(fmt.Sprintf("source %s: query table %s", src.Name, sq.name), err)
	}
	if s.onQuery != nil {
		s.onQuery(job.ID())
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, resourceError(fmt.Sprintf("source %s: query table %s", src.Name, sq.name), err)
	}
	return readSourceRows(it, src, sq.name, "", 0, 1)
}

// sharedAttempts bounds the job ids a run's shards try in turn when the
// job under an id failed or its results expired.
const sharedAttempts = 4

// ReadShard is Read keeping only the events whose key column (named key)
// falls in shard i of n by features.ShardOf (the assignment of the Parquet
// sources, so keys stay in their shard whichever reader a run uses);
// events with a null key are dropped.
//
// Within a run (pipeline.WithRun on ctx) the window is scanned once for
// all n shards: the query job's id is derived from the table, the columns,
// the window, the run and the shard count, so the first shard to get there
// creates it and the others find it, wait for it and page through its
// result (reading a finished job's result is not billed again). A failed
// job, or one whose result BigQuery has dropped (after about 24 hours),
// moves every shard on to the next id. Without a run each shard queries
// the window itself.
func (s *Sources) ReadShard(ctx context.Context, src *features.Source, from, to time.Time, key string, i, n int) (*features.Frame, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("sources: shard %d of %d is invalid", i, n)
	}
	if _, ok := src.Field(key); !ok {
		return nil, fmt.Errorf("%w: source %s has no key column %q", ErrSchema, src.Name, key)
	}
	run, ok := pipeline.RunOf(ctx)
	if !ok {
		ev, err := s.Read(ctx, src, from, to)
		if err != nil {
			return nil, err
		}
		return keepShard(ev, key, i, n), nil
	}
	sq, err := s.prepare(ctx, src, from, to)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%s\x00%d", sq.name, sq.sql, features.Micros(from), features.Micros(to), run, n)
	base := "skewfree_src_" + hex.EncodeToString(h.Sum(nil))[:40]
	var last error
	for attempt := range sharedAttempts {
		id := fmt.Sprintf("%s_%d", base, attempt)
		job, err := s.sharedJob(ctx, sq, id)
		if err != nil {
			return nil, resourceError(fmt.Sprintf("source %s: query table %s (job %s)", src.Name, sq.name, id), err)
		}
		st, err := job.Wait(ctx)
		if err != nil {
			return nil, resourceError(fmt.Sprintf("source %s: query table %s (job %s)", src.Name, sq.name, id), err)
		}
		if err := st.Err(); err != nil {
			last = fmt.Errorf("job %s: %w", id, err)
			s.logger().Warn("bigquery source: shared query job failed, trying the next id", "source", src.Name, "job", id, "err", err)
			continue
		}
		it, err := job.Read(ctx)
		if err == nil {
			var fr *features.Frame
			if fr, err = readSourceRows(it, src, sq.name, key, i, n); err == nil {
				return fr, nil
			}
		}
		if !isNotFound(err) {
			return nil, err
		}
		last = fmt.Errorf("job %s: result gone: %w", id, err)
	}
	return nil, fmt.Errorf("bigquery: source %s: query table %s: %d shared jobs failed, last: %w", src.Name, sq.name, sharedAttempts, last)
}

// sharedJob returns the query job with id: the existing one, or a new one
// (another shard may create it at the same moment: then that one).
func (s *Sources) sharedJob(ctx context.Context, sq *sourceQuery, id string) (*gbigquery.Job, error) {
	job, err := s.client.JobFromIDLocation(ctx, id, sq.location)
	if err == nil || !isNotFound(err) {
		return job, err
	}
	q := s.client.Query(sq.sql)
	q.Parameters = sq.params
	q.Location = sq.location
	q.JobID = id
	job, err = q.Run(ctx)
	if err == nil {
		if s.onQuery != nil {
			s.onQuery(id)
		}
		return job, nil
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusConflict {
		return s.client.JobFromIDLocation(ctx, id, sq.location)
	}
	return nil, err
}

// readSourceRows decodes a window query's rows (the timestamp, then the
// source's fields), keeping with key != "" only shard i of n of the key
// column, and returns them sorted by time (stable).
func readSourceRows(it *gbigquery.RowIterator, src *features.Source, name, key string, i, n int) (*features.Frame, error) {
	out := &features.Frame{}
	keyAt := -1
	for k, f := range src.Fields {
		out.Columns = append(out.Columns, features.NewColumn(f.Name, f.Type, 0))
		if key != "" && f.Name == key {
			keyAt = k
		}
	}
	var scratch *features.Column // the row's key, for features.ShardOf
	if keyAt >= 0 {
		scratch = features.NewNullColumn(key, src.Fields[keyAt].Type, 1)
	}
	vals := make([]features.Value, len(src.Fields))
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
		for k, f := range src.Fields {
			v, err := ValueOf(row[k+1], f.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: source %s table %s column %s: %w", ErrSchema, src.Name, name, f.Name, err)
			}
			vals[k] = v
		}
		if scratch != nil {
			if vals[keyAt].IsNull() {
				continue
			}
			if err := scratch.Set(0, vals[keyAt]); err != nil {
				return nil, err
			}
			if features.ShardOf(scratch, 0, n) != i {
				continue
			}
		}
		out.Time = append(out.Time, features.Micros(t))
		for k, v := range vals {
			if err := out.Columns[k].Append(v); err != nil {
				return nil, err
			}
		}
	}
	return sortByTime(out), nil
}

// sortByTime returns f with its rows in time order, ties in read order.
func sortByTime(f *features.Frame) *features.Frame {
	if slices.IsSorted(f.Time) {
		return f
	}
	rows := make([]int, len(f.Time))
	for r := range rows {
		rows[r] = r
	}
	slices.SortStableFunc(rows, func(a, b int) int { return cmp.Compare(f.Time[a], f.Time[b]) })
	return f.Take(rows)
}

// keepShard keeps the events whose key falls in shard i of n.
func keepShard(ev *features.Frame, key string, i, n int) *features.Frame {
	kc := ev.Column(key)
	if kc == nil {
		return ev
	}
	var rows []int
	for r := range ev.Time {
		if kc.Valid[r] && features.ShardOf(kc, r, n) == i {
			rows = append(rows, r)
		}
	}
	return ev.Take(rows)
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
