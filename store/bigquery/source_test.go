package bigquery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/bigquery"
)

type event struct {
	UserID string                `bigquery:"user_id"`
	Amount gbigquery.NullFloat64 `bigquery:"amount"`
	TS     time.Time             `bigquery:"ts"`
}

// sourceTable creates raw.orders partitioned by DAY on ts and inserts evs.
func sourceTable(t *testing.T, bq *testenv.BigQuery, evs []event) {
	t.Helper()
	ctx := context.Background()
	tb := bq.Client.Dataset(bq.Dataset).Table("orders")
	schema := gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.StringFieldType, Required: true},
		{Name: "amount", Type: gbigquery.FloatFieldType},
		{Name: "ts", Type: gbigquery.TimestampFieldType, Required: true},
	}
	if err := tb.Create(ctx, &gbigquery.TableMetadata{Schema: schema,
		TimePartitioning: &gbigquery.TimePartitioning{Type: gbigquery.DayPartitioningType, Field: "ts"}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Inserter().Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
}

func ordersSource(table string) *features.Source {
	return &features.Source{Name: "orders", Table: table, TimestampField: "ts",
		Fields: []features.Field{{Name: "user_id", Type: features.String}, {Name: "amount", Type: features.Float64}}}
}

// A source table is read for a window [start, end) on its timestamp
// column: an event at start is in, one at end is out, microseconds stay
// exact, rows come oldest first, NULLs stay NULL.
func TestSourceWindowRead(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, "raw")
	from, to := day, day.Add(24*time.Hour)
	us := time.Microsecond
	evs := []event{
		{"before", gbigquery.NullFloat64{Float64: 1, Valid: true}, from.Add(-us)},
		{"at-start", gbigquery.NullFloat64{Float64: 2.5, Valid: true}, from},
		{"micros", gbigquery.NullFloat64{}, micros},
		{"last", gbigquery.NullFloat64{Float64: -4, Valid: true}, to.Add(-us)},
		{"at-end", gbigquery.NullFloat64{Float64: 5, Valid: true}, to},
		{"next-day", gbigquery.NullFloat64{Float64: 6, Valid: true}, to.Add(3 * time.Hour)},
	}
	sourceTable(t, bq, evs)
	src := ordersSource(testProject + ".raw.orders")
	if !bigquery.IsTable(src) {
		t.Fatal("a project.dataset.table source is not a BigQuery source")
	}
	fr, err := bigquery.NewSources(bq.Client).Read(context.Background(), src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range fr.Len() {
		got = append(got, fmt.Sprintf("%v %s %s", fr.Columns[0].Value(i).Any(), fr.Columns[1].Value(i),
			features.FromMicros(fr.Time[i]).UTC().Format(time.RFC3339Nano)))
	}
	want := []string{
		"at-start 2.5 2026-11-20T00:00:00Z",
		"micros null 2026-11-20T03:04:05.123456Z",
		"last -4 2026-11-20T23:59:59.999999Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("window rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The activities read a source from BigQuery when its Table is
// project.dataset.table, from files otherwise (the demo's bare "orders").
func TestTableSourcesRouting(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, "raw")
	sourceTable(t, bq, []event{{"u1", gbigquery.NullFloat64{Float64: 1, Valid: true}, micros}})
	files := fakeFiles{}
	ts := activities.TableSources{Files: files, Tables: bigquery.NewSources(bq.Client), IsTable: bigquery.IsTable}
	ctx := context.Background()
	fr, err := ts.ReadShard(ctx, ordersSource(testProject+".raw.orders"), day, day.Add(24*time.Hour), "user_id", 0, 1)
	if err != nil || fr.Len() != 1 {
		t.Fatalf("table source: %v rows, %v; want the table's row", fr, err)
	}
	plain := ordersSource("orders")
	plain.Path = "orders"
	if _, err := ts.Read(ctx, plain, day, day.Add(time.Hour)); !errors.Is(err, errFiles) {
		t.Fatalf("a bare table name read from %v, want the files", err)
	}
	noBQ := activities.TableSources{Files: files, IsTable: bigquery.IsTable}
	if _, err := noBQ.Read(ctx, ordersSource(testProject+".raw.orders"), day, day.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "SKEWFREE_BIGQUERY") {
		t.Fatalf("a table-only source without BigQuery: %v, want an error saying to set SKEWFREE_BIGQUERY", err)
	}
}

var errFiles = errors.New("read from files")

type fakeFiles struct{}

func (fakeFiles) Read(context.Context, *features.Source, time.Time, time.Time) (*features.Frame, error) {
	return nil, errFiles
}

// Bad source tables: missing table, missing column, wrong type; each
// error names the source, the table and the column.
func TestSourceBadTable(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, "raw")
	sourceTable(t, bq, nil)
	s := bigquery.NewSources(bq.Client)
	ctx := context.Background()
	table := testProject + ".raw.orders"
	missingCol := ordersSource(table)
	missingCol.Fields = append(missingCol.Fields, features.Field{Name: "coupon", Type: features.String})
	wrongType := ordersSource(table)
	wrongType.Fields[1].Type = features.Int64
	for _, tc := range []struct {
		name string
		src  *features.Source
		is   error
		says []string
	}{
		{"missing table", ordersSource(testProject + ".raw.nope"), bigquery.ErrNotFound, []string{testProject + ".raw.nope", "orders"}},
		{"missing column", missingCol, bigquery.ErrSchema, []string{table, "coupon"}},
		{"wrong type", wrongType, bigquery.ErrSchema, []string{table, "amount", "FLOAT"}},
	} {
		_, err := s.Read(ctx, tc.src, day, day.Add(time.Hour))
		if !errors.Is(err, tc.is) || !errors.Is(err, features.ErrInput) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.is)
			continue
		}
		for _, w := range tc.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %q", tc.name, err, w)
			}
		}
	}
}

// No permission: the API's 403 becomes ErrPermission naming the dataset
// (the emulator has no IAM, so a server answering 403 as BigQuery does
// stands in for it).
func TestPermissionDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"error":{"code":403,"message":"Access Denied: Dataset skewfree-test:history: Permission bigquery.datasets.get denied","errors":[{"reason":"accessDenied","message":"Access Denied"}]}}`)
	}))
	defer srv.Close()
	c, err := gbigquery.NewClient(context.Background(), testProject, option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = bigquery.Open(context.Background(), c, registry(t, "user_id", feats), bigquery.Dataset{Project: testProject, Dataset: testDataset}, bigquery.Options{})
	if !errors.Is(err, bigquery.ErrPermission) || !strings.Contains(err.Error(), testProject+"."+testDataset) {
		t.Fatalf("403: %v, want ErrPermission naming the dataset", err)
	}
}
