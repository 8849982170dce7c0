package bigquery

import (
	"context"
	"fmt"
	"io"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
)

// PublishedTable is the table, in the history dataset, that says when each
// version went online (docs/format/bigquery.md): what --as-known-at reads,
// as the Parquet store's _published markers.
const PublishedTable = "_published"

// publishedSchema: view, window_end, created, published, all required.
var publishedSchema = gbigquery.Schema{
	{Name: "view", Type: gbigquery.StringFieldType, Required: true},
	{Name: "window_end", Type: gbigquery.TimestampFieldType, Required: true},
	{Name: "created", Type: gbigquery.TimestampFieldType, Required: true},
	{Name: "published", Type: gbigquery.TimestampFieldType, Required: true},
}

// MarkPublished records that the version (view, window end, created) is
// online from published on: one row in _published, loaded exactly once (a
// job id derived from the version, as AppendVersion's), created with the
// table when missing. Call it after the version's rows were appended: a
// reader that finds the row finds the rows too.
func (s *Store) MarkPublished(ctx context.Context, view string, end, created, published time.Time) error {
	if _, err := s.specOf(view); err != nil {
		return err
	}
	if err := s.ensurePublished(ctx); err != nil {
		return err
	}
	name := s.dataset.String() + "." + PublishedTable
	id := JobIDOf(s.dataset, s.opts.Project, "published", view, end, created)
	_, err := s.loadOnce(ctx, id, name, 1, s.ds().Table(PublishedTable), map[string]string{"skewfree_view": labelValue(view)},
		func(w io.Writer) (int64, error) {
			buf := appendJSONString([]byte(`{"view":`), view)
			buf = append(buf, `,"window_end":"`...)
			buf = end.UTC().AppendFormat(buf, tsFormat)
			buf = append(buf, `","created":"`...)
			buf = created.UTC().AppendFormat(buf, tsFormat)
			buf = append(buf, `","published":"`...)
			buf = published.UTC().AppendFormat(buf, tsFormat)
			buf = append(buf, "\"}\n"...)
			_, err := w.Write(buf)
			return 1, err
		})
	if err != nil {
		return fmt.Errorf("bigquery: publication of %s window %s version %s: %w", view, end.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339Nano), err)
	}
	return nil
}

// ensurePublished creates _published when missing (partitioned by day of
// window_end, clustered by view, as training sets filter it), or checks
// that it has the four columns.
func (s *Store) ensurePublished(ctx context.Context) error {
	return s.ensureAux(ctx, PublishedTable, publishedSchema, "window_end",
		"Skewfree publications: when each version of a view's window was online (append-only; take the earliest published)")
}
