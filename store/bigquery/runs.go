package bigquery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	gbigquery "cloud.google.com/go/bigquery"

	"github.com/skewfree/skewfree/features"
)

// RunsTable is the table, in the history dataset, of the runs' records
// (docs/format/runs.md, docs/format/bigquery.md): what the Parquet store
// keeps as _runs/*.json, for SQL over a view's data quality.
const RunsTable = "_runs"

// runsSchema: the record's keys and headline numbers as columns, the whole
// record as JSON text (its per-feature profile and checks).
var runsSchema = gbigquery.Schema{
	{Name: "view", Type: gbigquery.StringFieldType, Required: true},
	{Name: "window_end", Type: gbigquery.TimestampFieldType, Required: true},
	{Name: "created", Type: gbigquery.TimestampFieldType, Required: true},
	{Name: "shard", Type: gbigquery.IntegerFieldType, Required: true},
	{Name: "stage", Type: gbigquery.StringFieldType, Required: true},
	{Name: "status", Type: gbigquery.StringFieldType},
	{Name: "published", Type: gbigquery.TimestampFieldType},
	{Name: "events_read", Type: gbigquery.IntegerFieldType},
	{Name: "rows_written", Type: gbigquery.IntegerFieldType},
	{Name: "duration_ms", Type: gbigquery.IntegerFieldType},
	{Name: "record", Type: gbigquery.StringFieldType},
}

// Stages of a run whose records go to RunsTable: once its version is
// committed (or discarded) and once it is published. A reader takes per
// (view, window_end, created, shard) the row of the latest stage.
const (
	StageCommitted = "committed"
	StagePublished = "published"
)

// AppendRuns appends the records of one run (every shard's, one version)
// at stage, exactly once per (version, stage): one load job with an id
// derived from both.
func (s *Store) AppendRuns(ctx context.Context, stage string, recs []features.RunRecord) error {
	if len(recs) == 0 {
		return nil
	}
	view, end, created := recs[0].View, recs[0].WindowEnd, recs[0].Created
	for _, r := range recs {
		if r.View != view || !r.WindowEnd.Equal(end) || !r.Created.Equal(created) {
			return fmt.Errorf("%w: run records of more than one version (%s %s %s and %s %s %s)", features.ErrInput,
				view, end.Format(time.RFC3339), created.Format(time.RFC3339Nano), r.View, r.WindowEnd.Format(time.RFC3339), r.Created.Format(time.RFC3339Nano))
		}
	}
	if err := s.ensureAux(ctx, RunsTable, runsSchema, "window_end", "Skewfree run records: one row per run, shard and stage (committed, published); take the latest stage"); err != nil {
		return err
	}
	name := s.dataset.String() + "." + RunsTable
	id := JobIDOf(s.dataset, s.opts.Project, "runs_"+stage, view, end, created)
	_, err := s.loadOnce(ctx, id, name, int64(len(recs)), s.ds().Table(RunsTable), map[string]string{"skewfree_view": labelValue(view)},
		func(w io.Writer) (int64, error) {
			for _, r := range recs {
				rec, err := json.Marshal(r)
				if err != nil {
					return 0, err
				}
				buf := appendJSONString([]byte(`{"view":`), r.View)
				buf = appendTime(append(buf, `,"window_end":`...), r.WindowEnd)
				buf = appendTime(append(buf, `,"created":`...), r.Created)
				buf = strconv.AppendInt(append(buf, `,"shard":`...), int64(r.Shard), 10)
				buf = appendJSONString(append(buf, `,"stage":`...), stage)
				buf = appendJSONString(append(buf, `,"status":`...), string(r.Status))
				if r.Published != nil {
					buf = appendTime(append(buf, `,"published":`...), *r.Published)
				}
				buf = strconv.AppendInt(append(buf, `,"events_read":`...), r.EventsRead, 10)
				buf = strconv.AppendInt(append(buf, `,"rows_written":`...), r.RowsWritten, 10)
				buf = strconv.AppendInt(append(buf, `,"duration_ms":`...), r.DurationMS, 10)
				buf = appendJSONString(append(buf, `,"record":`...), string(rec))
				buf = append(buf, "}\n"...)
				if _, err := w.Write(buf); err != nil {
					return 0, err
				}
			}
			return int64(len(recs)), nil
		})
	if err != nil {
		return fmt.Errorf("bigquery: run records of %s window %s version %s: %w", view, end.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339Nano), err)
	}
	return nil
}

// appendTime appends t as a quoted TIMESTAMP value, microseconds exact.
func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, tsFormat)
	return append(buf, '"')
}

// ensureAux creates one of the dataset's own tables (_published, _runs)
// when missing, partitioned by day of partField and clustered by view, or
// checks that it has the schema's columns with their types.
func (s *Store) ensureAux(ctx context.Context, table string, schema gbigquery.Schema, partField, description string) error {
	name := s.dataset.String() + "." + table
	t := s.ds().Table(table)
	md, err := t.Metadata(ctx)
	if isNotFound(err) {
		err = t.Create(ctx, &gbigquery.TableMetadata{
			Schema:           schema,
			TimePartitioning: &gbigquery.TimePartitioning{Type: gbigquery.DayPartitioningType, Field: partField},
			Clustering:       &gbigquery.Clustering{Fields: []string{"view"}},
			Description:      description,
		})
		if err == nil || isConflict(err) {
			return nil
		}
		return resourceError("create table "+name, err)
	}
	if err != nil {
		return resourceError("table "+name, err)
	}
	have := map[string]gbigquery.FieldType{}
	for _, f := range md.Schema {
		have[f.Name] = normalType(f.Type)
	}
	for _, f := range schema {
		if got, ok := have[f.Name]; !ok || got != f.Type {
			return fmt.Errorf("%w: table %s column %s: want %s, the table has %q", ErrSchema, name, f.Name, f.Type, got)
		}
	}
	return nil
}
