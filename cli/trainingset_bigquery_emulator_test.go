package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
)

// TestTrainingSetOnBigQuery runs `starter training-set --engine bigquery`
// on the emulator against a hand-written user_orders history table (demo
// registry: TTL 2d, lateness 2h): --out, --out-table and --dry-run.
func TestTrainingSetOnBigQuery(t *testing.T) {
	ctx := context.Background()
	bq := testenv.StartBigQuery(t, "skewfree-cli", "hist")
	t.Setenv("SKEWFREE_BIGQUERY", "skewfree-cli.hist")
	t.Setenv("BIGQUERY_EMULATOR_HOST", strings.TrimPrefix(bq.URL, "http://"))

	// The table lacks distinct_products_30d: no run since it was added, so
	// it reads as nulls.
	schema := gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.StringFieldType, Required: true},
		{Name: "event_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "created_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "order_count_7d", Type: gbigquery.IntegerFieldType},
		{Name: "spend_30d", Type: gbigquery.FloatFieldType},
		{Name: "last_order_status", Type: gbigquery.StringFieldType},
	}
	tbl := bq.Client.Dataset("hist").Table("user_orders")
	if err := tbl.Create(ctx, &gbigquery.TableMetadata{Schema: schema,
		TimePartitioning: &gbigquery.TimePartitioning{Field: "event_timestamp", Type: gbigquery.DayPartitioningType}}); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	row := func(u string, e time.Time, cr time.Duration, n int64, spend float64, status string) *gbigquery.ValuesSaver {
		return &gbigquery.ValuesSaver{Schema: schema, Row: []gbigquery.Value{u, e, e.Add(cr), n, spend, status}}
	}
	if err := tbl.Inserter().Put(ctx, []*gbigquery.ValuesSaver{
		row("u1", day(2), 2*time.Hour, 3, 10.5, "completed"),
		row("u1", day(2), 5*time.Hour, 30, 105, "returned"), // a later version of the same window
		row("u1", day(3), 2*time.Hour, 4, 12.25, "completed"),
		row("u2", day(2), 2*time.Hour, 1, 1, "cancelled"),
	}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ents := filepath.Join(dir, "ents.csv")
	if err := os.WriteFile(ents, []byte(`user_id,event_timestamp,label
u1,2026-11-02T01:59:59.999999Z,1
u1,2026-11-02T02:00:00Z,2
u2,2026-11-04T00:00:00Z,3
u2,2026-11-04T00:00:00.000001Z,4
u9,2026-11-03T12:00:00Z,5
u1,2026-11-03T02:00:00Z,6
u1,2026-11-02T02:00:00Z,7
`), 0o644); err != nil {
		t.Fatal(err)
	}
	feats := "user_orders:order_count_7d,user_orders:last_order_status,user_orders:distinct_products_30d"
	// Availability E + 2h; newest version of a window; TTL 2d inclusive;
	// unknown key; duplicates; a feature without a column.
	wantCount := []any{nil, int64(30), int64(1), nil, nil, int64(4), int64(30)}
	wantStatus := []any{nil, "returned", "cancelled", nil, nil, "completed", "returned"}

	out := filepath.Join(dir, "out.parquet")
	code, _, errs := run(t, "training-set", "--engine", "bigquery", "--entities", ents, "--features", feats, "--out", out)
	if code != 0 {
		t.Fatalf("training-set: %s", errs)
	}
	check := func(name string, got []features.Value, want []any) {
		t.Helper()
		for i, w := range want {
			if w == nil && !got[i].IsNull() || w != nil && got[i].Any() != w {
				t.Errorf("%s row %d = %s, want %v", name, i, got[i], w)
			}
		}
	}
	check("order_count_7d", parquetColumn(t, out, "user_orders__order_count_7d", features.Int64), wantCount)
	check("last_order_status", parquetColumn(t, out, "user_orders__last_order_status", features.String), wantStatus)
	check("distinct_products_30d", parquetColumn(t, out, "user_orders__distinct_products_30d", features.Int64), make([]any, 7))
	check("label", parquetColumn(t, out, "label", features.Int64), []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7)})

	// --out-table: the same answers in a table, ordered by _row.
	code, _, errs = run(t, "training-set", "--engine", "bigquery", "--entities", ents, "--features", feats, "--out-table", "train")
	if code != 0 {
		t.Fatalf("training-set --out-table: %s", errs)
	}
	it, err := bq.Client.Query("SELECT label, user_orders__order_count_7d, user_orders__last_order_status FROM `skewfree-cli.hist.train` ORDER BY _row").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotCount, gotStatus []features.Value
	for i := 0; ; i++ {
		var r []gbigquery.Value
		if err := it.Next(&r); err == iterator.Done {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if r[0] != int64(i+1) {
			t.Errorf("table row %d has label %v: input order lost", i, r[0])
		}
		gotCount = append(gotCount, anyValue(r[1]))
		gotStatus = append(gotStatus, anyValue(r[2]))
	}
	if len(gotCount) != 7 {
		t.Fatalf("table has %d rows, want 7", len(gotCount))
	}
	check("table order_count_7d", gotCount, wantCount)
	check("table last_order_status", gotStatus, wantStatus)

	// --dry-run prints per view and total, writes nothing.
	code, stdout, errs := run(t, "training-set", "--engine", "bigquery", "--entities", ents, "--features", feats, "--dry-run")
	if code != 0 {
		t.Fatalf("training-set --dry-run: %s", errs)
	}
	t.Logf("dry run: %s", stdout)
	if !strings.Contains(stdout, "view user_orders: ") || !strings.Contains(stdout, "would be scanned for 7 entity rows") {
		t.Errorf("dry run printed %q", stdout)
	}

	// --as-known-at without the _published table: one clear error.
	code, _, errs = run(t, "training-set", "--engine", "bigquery", "--entities", ents, "--features", feats, "--out", filepath.Join(dir, "k.parquet"), "--as-known-at")
	if code == 0 || !strings.Contains(errs, "needs table skewfree-cli.hist._published") {
		t.Errorf("as-known-at without _published: code %d, %q", code, errs)
	}
	// A view without a history table names it.
	code, _, errs = run(t, "training-set", "--engine", "bigquery", "--entities", ents, "--features", "user_activity:page_views_1h", "--out", filepath.Join(dir, "x.parquet"))
	if code == 0 || !strings.Contains(errs, "history table skewfree-cli.hist.") {
		t.Errorf("missing history table: code %d, %q", code, errs)
	}
}

func anyValue(v gbigquery.Value) features.Value {
	switch x := v.(type) {
	case int64:
		return features.IntValue(x)
	case string:
		return features.StringValue(x)
	}
	return features.Null
}

func parquetColumn(t *testing.T, path, name string, typ features.Type) []features.Value {
	t.Helper()
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var col *features.Column
	for _, rg := range f.RowGroups() {
		if col, err = f.ReadColumn(rg, name, typ, col); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	out := make([]features.Value, col.Len())
	for i := range out {
		out[i] = col.Value(i)
	}
	return out
}
