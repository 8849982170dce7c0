package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// gcsFixture starts a fake Cloud Storage with bucket "b", points the
// command's clients at it (STORAGE_EMULATOR_HOST) and returns an FS on
// gs://b to put and get objects.
func gcsFixture(t *testing.T) *gcsfs.FS {
	t.Helper()
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host())
	f, err := gcsfs.Open(context.Background(), "gs://b", gcsfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func putObject(t *testing.T, f parquet.FS, name string, data []byte) {
	t.Helper()
	if err := f.WriteFile(context.Background(), name, parquet.Replace, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

type entityRow struct {
	UserID string    `parquet:"user_id"`
	TS     time.Time `parquet:"event_timestamp,timestamp(microsecond)"`
	Label  int64     `parquet:"label"`
}

func entityParquet(t *testing.T, rows []entityRow) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := goparquet.Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// `training-set --entities gs://...` (an object, Parquet or CSV, or a folder
// of Parquet files such as a served log) and `--out gs://...` give, with
// the local engine, byte for byte the training set of the same files on
// local disk; a missing object is one clear error, and nothing is written.
func TestTrainingSetEntitiesAndOutOnGCS(t *testing.T) {
	dir := t.TempDir()
	raw, off := "file://"+filepath.Join(dir, "raw"), "file://"+filepath.Join(dir, "offline")
	if code, _, errs := run(t, "generate", "--out", raw, "--users", "40", "--products", "10", "--days", "4", "--start", "2026-11-01"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	if code, _, errs := run(t, "materialize", "--local", "--view", "user_orders", "--source", raw, "--offline", off,
		"--from", "2026-11-01T00:00:00Z", "--to", "2026-11-05T00:00:00Z"); code != 0 {
		t.Fatalf("materialize: %s", errs)
	}
	var rows []entityRow
	for i := range 60 {
		rows = append(rows, entityRow{UserID: demo.UserID(i % 45), TS: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 67 * time.Minute), Label: int64(i)})
	}
	pq := entityParquet(t, rows)
	csv := "user_id,event_timestamp,label\n" + demo.UserID(1) + ",2026-11-03T05:00:00Z,1\n" + demo.UserID(2) + ",2026-11-04T00:00:00Z,2\n"
	local := filepath.Join(dir, "ents")
	for name, data := range map[string][]byte{
		"labels.parquet": pq, "labels.csv": []byte(csv),
		"folder/date=2026-11-02/a.parquet": entityParquet(t, rows[:30]), "folder/date=2026-11-03/b.parquet": entityParquet(t, rows[30:]),
	} {
		p := filepath.Join(local, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gcs := gcsFixture(t)
	putObject(t, gcs, "in/labels.parquet", pq)
	putObject(t, gcs, "in/labels.csv", []byte(csv))
	putObject(t, gcs, "in/folder/date=2026-11-02/a.parquet", entityParquet(t, rows[:30]))
	putObject(t, gcs, "in/folder/date=2026-11-03/b.parquet", entityParquet(t, rows[30:]))
	putObject(t, gcs, "in/folder/_tmp/ignored.parquet", []byte("not parquet: hidden, never read"))
	putObject(t, gcs, "in/folder/empty/", nil) // a console folder placeholder

	feats := "user_orders:order_count_7d,user_orders:spend_30d"
	for _, c := range []struct{ name, local, remote string }{
		{"parquet", filepath.Join(local, "labels.parquet"), "gs://b/in/labels.parquet"},
		{"csv", filepath.Join(local, "labels.csv"), "gs://b/in/labels.csv"},
		{"folder", filepath.Join(local, "folder"), "gs://b/in/folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := filepath.Join(t.TempDir(), "want.parquet")
			if code, _, errs := run(t, "training-set", "--entities", c.local, "--features", feats, "--out", want, "--offline", off); code != 0 {
				t.Fatalf("local training-set: %s", errs)
			}
			wantBytes, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			// gs:// entities, local output.
			got := filepath.Join(t.TempDir(), "got.parquet")
			if code, _, errs := run(t, "training-set", "--entities", c.remote, "--features", feats, "--out", got, "--offline", off); code != 0 {
				t.Fatalf("training-set --entities %s: %s", c.remote, errs)
			}
			if b, _ := os.ReadFile(got); !bytes.Equal(b, wantBytes) {
				t.Fatalf("training set from %s differs from the local one", c.remote)
			}
			// gs:// entities and output.
			obj := "out/" + c.name + ".parquet"
			if code, _, errs := run(t, "training-set", "--entities", c.remote, "--features", feats, "--out", "gs://b/"+obj, "--offline", off); code != 0 {
				t.Fatalf("training-set --out gs://: %s", errs)
			}
			if b, err := gcs.ReadFile(context.Background(), obj); err != nil || !bytes.Equal(b, wantBytes) {
				t.Fatalf("gs://b/%s: %v, or it differs from the local training set", obj, err)
			}
		})
	}
	code, _, errs := run(t, "training-set", "--entities", "gs://b/in/none.parquet", "--features", feats, "--out", "gs://b/out/none.parquet", "--offline", off)
	if code == 0 || !strings.Contains(errs, "gs://b/in/none.parquet: no such object or folder") {
		t.Fatalf("missing entity object: exit %d, %q", code, errs)
	}
	t.Logf("missing entity object: %s", errs)
	if _, err := gcs.Stat(context.Background(), "out/none.parquet"); err == nil {
		t.Fatal("a failed training set left an output object")
	}
	// A bad entity table on gs:// is named as the user gave it, not as its
	// (already removed) local copy.
	putObject(t, gcs, "in/bad.csv", []byte("uid,event_timestamp\nu1,2026-11-03T05:00:00Z\n"))
	code, _, errs = run(t, "training-set", "--entities", "gs://b/in/bad.csv", "--features", feats, "--out", filepath.Join(dir, "bad.parquet"), "--offline", off)
	if code == 0 || !strings.Contains(errs, "gs://b/in/bad.csv") || strings.Contains(errs, "skewfree-gcs-") {
		t.Fatalf("entity table without its join key: exit %d, %q: want an error naming gs://b/in/bad.csv", code, errs)
	}
	code, _, errs = run(t, "training-set", "--entities", "gs://nope/in/labels.parquet", "--features", feats, "--out", filepath.Join(dir, "x.parquet"), "--offline", off)
	if code == 0 || !strings.Contains(errs, `bucket "nope" does not exist`) {
		t.Fatalf("missing bucket: exit %d, %q", code, errs)
	}
}

// --engine bigquery takes a gs:// entity table and --out too.
func TestTrainingSetOnBigQueryFromGCS(t *testing.T) {
	ctx := context.Background()
	bq := testenv.StartBigQuery(t, "skewfree-cli", "hist")
	t.Setenv("SKEWFREE_BIGQUERY", "skewfree-cli.hist")
	t.Setenv("SKEWFREE_BIGQUERY_ENDPOINT", bq.URL)
	schema := gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.StringFieldType, Required: true},
		{Name: "event_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "created_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "order_count_7d", Type: gbigquery.IntegerFieldType},
	}
	tbl := bq.Client.Dataset("hist").Table("user_orders")
	if err := tbl.Create(ctx, &gbigquery.TableMetadata{Schema: schema,
		TimePartitioning: &gbigquery.TimePartitioning{Field: "event_timestamp", Type: gbigquery.DayPartitioningType}}); err != nil {
		t.Fatal(err)
	}
	e := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if err := tbl.Inserter().Put(ctx, []*gbigquery.ValuesSaver{
		{Schema: schema, Row: []gbigquery.Value{"u1", e, e.Add(time.Hour), int64(3)}},
		{Schema: schema, Row: []gbigquery.Value{"u2", e, e.Add(time.Hour), int64(5)}},
	}); err != nil {
		t.Fatal(err)
	}
	gcs := gcsFixture(t)
	putObject(t, gcs, "in/ents.parquet", entityParquet(t, []entityRow{
		{UserID: "u2", TS: e.Add(3 * time.Hour), Label: 1}, // available at E + 2h
		{UserID: "u1", TS: e.Add(time.Hour), Label: 2},     // not yet
		{UserID: "u1", TS: e.Add(5 * time.Hour), Label: 3},
	}))
	code, _, errs := run(t, "training-set", "--engine", "bigquery", "--entities", "gs://b/in/ents.parquet", "--features", "user_orders:order_count_7d", "--out", "gs://b/out/train.parquet")
	if code != 0 {
		t.Fatalf("training-set --engine bigquery from gs://: %s", errs)
	}
	b, err := gcs.ReadFile(ctx, "out/train.parquet")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "train.parquet")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got := parquetColumn(t, out, "user_orders__order_count_7d", features.Int64)
	labels := parquetColumn(t, out, "label", features.Int64)
	want := []features.Value{features.IntValue(5), features.Null, features.IntValue(3)}
	for i := range want {
		if !got[i].Equal(want[i]) || labels[i].Int64() != int64(i+1) {
			t.Fatalf("row %d: %s (label %s), want %s", i, got[i], labels[i], want[i])
		}
	}
}
