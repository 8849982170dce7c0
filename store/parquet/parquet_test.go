package parquet_test

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

var (
	end = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	// created is sampleFrame's created_timestamp: the run's version.
	created = end.Add(time.Minute)
)

func sampleFrame(n int, at time.Time) *features.Frame {
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, n)}
	cnt := features.NewColumn("cnt", features.Int64, n)
	avg := features.NewColumn("avg", features.Float64, n)
	last := features.NewColumn("last", features.String, n)
	flag := features.NewColumn("flag", features.Bool, n)
	for i := range n {
		_ = f.Key.Append(features.StringValue("u" + string(rune('a'+i%26)) + string(rune('a'+i/26))))
		f.Time = append(f.Time, features.Micros(at))
		f.Created = append(f.Created, features.Micros(at.Add(time.Minute)))
		_ = cnt.Append(features.IntValue(int64(i)))
		if i%3 == 0 {
			_ = avg.Append(features.Null)
			_ = last.Append(features.Null)
		} else {
			_ = avg.Append(features.FloatValue(float64(i) / 3))
			_ = last.Append(features.StringValue("s" + string(rune('a'+i%5))))
		}
		_ = flag.Append(features.BoolValue(i%2 == 0))
	}
	f.Columns = []*features.Column{cnt, avg, last, flag}
	return f
}

var sampleFields = []features.Field{{Name: "cnt", Type: features.Int64}, {Name: "avg", Type: features.Float64},
	{Name: "last", Type: features.String}, {Name: "flag", Type: features.Bool}}

func readAll(t *testing.T, path string, spec parquet.FrameSpec) *features.Frame {
	t.Helper()
	out, err := parquet.ReadFile(path, spec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteWindowRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, err := parquet.Open("file://" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := sampleFrame(300, end)
	p, err := s.WriteWindow(ctx, "v", end, created, -1, in, "fp123")
	if err != nil {
		t.Fatal(err)
	}
	if want := "v/date=2026-11-20/part-20261120T000000Z-v20261120T000100.000000Z.parquet"; p.Path != want || p.Rows != 300 {
		t.Fatalf("partition %+v, want %s with 300 rows", p, want)
	}
	path := filepath.Join(s.Root(), p.Path)
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := f.Metadata(parquet.FingerprintKey); fp != "fp123" {
		t.Errorf("fingerprint metadata %q", fp)
	}
	if got := strings.Join(f.Columns(), ","); got != "user_id,event_timestamp,created_timestamp,cnt,avg,last,flag" {
		t.Errorf("columns %s", got)
	}
	f.Close()
	out := readAll(t, path, parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Created: true, Columns: sampleFields})
	assertFramesEqual(t, in, out)

	// Rewriting the window replaces it: same rows, no duplicates, no temp files.
	if _, err := s.WriteWindow(ctx, "v", end, created, -1, in, "fp123"); err != nil {
		t.Fatal(err)
	}
	files, err := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if err != nil || len(files) != 1 {
		t.Fatalf("files after rewrite: %v %v", files, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("window folder holds %d entries, want just the file", len(ents))
	}
}

func assertFramesEqual(t *testing.T, a, b *features.Frame) {
	t.Helper()
	if a.Len() != b.Len() {
		t.Fatalf("rows %d vs %d", a.Len(), b.Len())
	}
	for i := 0; i < a.Len(); i++ {
		if a.Time[i] != b.Time[i] || (a.Created != nil && a.Created[i] != b.Created[i]) || !a.Key.Value(i).Equal(b.Key.Value(i)) {
			t.Fatalf("row %d key/time differ", i)
		}
		for k := range a.Columns {
			if !a.Columns[k].Value(i).Equal(b.Columns[k].Value(i)) {
				t.Fatalf("row %d column %s: %s vs %s", i, a.Columns[k].Name, a.Columns[k].Value(i), b.Columns[k].Value(i))
			}
		}
	}
}

func TestRewriteRemovesStaleTempFiles(t *testing.T) {
	ctx := context.Background()
	s, _ := parquet.Open(t.TempDir())
	p, err := s.WriteWindow(ctx, "v", end, created, -1, sampleFrame(2, end), "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(filepath.Join(s.Root(), p.Path))
	old := filepath.Join(dir, ".part-20261120T000000Z-v20261120T000100.000000Z.parquet.tmp-111")
	fresh := filepath.Join(dir, ".part-20261120T000000Z-v20261120T000100.000000Z.parquet.tmp-222")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("half a file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-3 * time.Hour)
	os.Chtimes(old, past, past)
	if _, err := s.WriteWindow(ctx, "v", end, created, -1, sampleFrame(2, end), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("a crashed writer's old temp file survived the rewrite")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a recent temp file (maybe a live writer's) was removed")
	}
}

func TestWriteWindowRejectsForeignTimestamps(t *testing.T) {
	s, _ := parquet.Open(t.TempDir())
	in := sampleFrame(3, end)
	in.Time[1] += 1
	if _, err := s.WriteWindow(context.Background(), "v", end, created, -1, in, ""); err == nil || !strings.Contains(err.Error(), "want the window end") {
		t.Fatalf("err = %v", err)
	}
	if files, _ := s.ViewFiles(context.Background(), "v", time.Time{}, time.Time{}); len(files) != 0 {
		t.Fatalf("a rejected write left files %v", files)
	}
}

func TestFailedWriteKeepsPreviousFile(t *testing.T) {
	ctx := context.Background()
	s, _ := parquet.Open(t.TempDir())
	if _, err := s.WriteWindow(ctx, "v", end, created, -1, sampleFrame(5, end), ""); err != nil {
		t.Fatal(err)
	}
	bad := sampleFrame(5, end)
	bad.Columns[0].Valid = bad.Columns[0].Valid[:2] // ragged: the writer must refuse
	if _, err := s.WriteWindow(ctx, "v", end, created, -1, bad, ""); err == nil {
		t.Fatal("ragged frame written")
	}
	files, _ := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	out := readAll(t, files[0], parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Columns: sampleFields})
	if out.Len() != 5 {
		t.Fatalf("previous file damaged: %d rows", out.Len())
	}
}

func TestShardsAndStaleShardRemoval(t *testing.T) { onEachFS(t, testShardsAndStaleShardRemoval) }

func testShardsAndStaleShardRemoval(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	for sh := range 4 {
		if _, err := s.WriteWindow(ctx, "v", end, created, sh, sampleFrame(2, end), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveStaleShards(ctx, "v", end, created, 2); err != nil {
		t.Fatal(err)
	}
	files, _ := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if len(files) != 2 || !strings.HasSuffix(files[1], "part-20261120T000000Z-v20261120T000100.000000Z-0001.parquet") {
		t.Fatalf("after shrinking to 2 shards: %v", files)
	}
	// An unsharded rewrite removes every shard.
	if _, err := s.WriteWindow(ctx, "v", end, created, -1, sampleFrame(2, end), ""); err != nil {
		t.Fatal(err)
	}
	files, _ = s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if len(files) != 1 || !strings.HasSuffix(files[0], "part-20261120T000000Z-v20261120T000100.000000Z.parquet") {
		t.Fatalf("after unsharded rewrite: %v", files)
	}
}

func TestViewFilesPrunesByDate(t *testing.T) { onEachFS(t, testViewFilesPrunesByDate) }

func testViewFilesPrunesByDate(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	for d := range 5 {
		at := end.Add(time.Duration(d) * 24 * time.Hour)
		if _, err := s.WriteWindow(ctx, "v", at, at.Add(time.Minute), -1, sampleFrame(1, at), ""); err != nil {
			t.Fatal(err)
		}
	}
	// A file from another tool outside date= folders, and litter to skip.
	put(t, s, "v/export.parquet", nil)
	put(t, s, "v/.part-x.parquet.tmp-1", nil)
	put(t, s, "v/_SUCCESS", nil)
	files, err := s.ViewFiles(ctx, "v", end.Add(24*time.Hour+time.Hour), end.Add(3*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, path.Base(path.Dir(f))+"/"+path.Base(f))
	}
	want := "date=2026-11-21/part-20261121T000000Z-v20261121T000100.000000Z.parquet,date=2026-11-22/part-20261122T000000Z-v20261122T000100.000000Z.parquet,date=2026-11-23/part-20261123T000000Z-v20261123T000100.000000Z.parquet,v/export.parquet"
	if got := strings.Join(names, ","); got != want {
		t.Fatalf("files\n got %s\nwant %s", got, want)
	}
}

// writeForeign writes a file the way other tools do: millisecond or INT96
// timestamps, not UTC-adjusted, required columns, INT32 and FLOAT numbers.
func writeForeign(t *testing.T, path string, millis bool) {
	t.Helper()
	ts := goparquet.TimestampAdjusted(goparquet.Millisecond, false)
	if !millis {
		ts = goparquet.Leaf(goparquet.Int96Type)
	}
	schema := goparquet.NewSchema("spark_schema", goparquet.Group{
		"user_id":         goparquet.String(),
		"event_timestamp": ts,
		"cnt":             goparquet.Int(32),
		"avg":             goparquet.Optional(goparquet.Leaf(goparquet.FloatType)),
	})
	w := goparquet.NewWriter(nil, schema)
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Reset(fh)
	at := time.Date(2026, 11, 20, 13, 14, 15, 678_000_000, time.UTC)
	var tsv goparquet.Value
	if millis {
		tsv = goparquet.Int64Value(at.UnixMilli())
	} else {
		nanos := at.Sub(at.Truncate(24 * time.Hour)).Nanoseconds()
		jd := uint32(at.Unix()/86400 + 2440588)
		tsv = goparquet.Int96Value(deprecated.Int96{uint32(nanos), uint32(nanos >> 32), jd})
	}
	// Columns are in Group order (sorted by name): avg, cnt, event_timestamp, user_id.
	row := goparquet.Row{
		goparquet.FloatValue(2.5).Level(0, 1, 0),
		goparquet.Int32Value(7).Level(0, 0, 1),
		tsv.Level(0, 0, 2),
		goparquet.ByteArrayValue([]byte("ua")).Level(0, 0, 3),
	}
	if _, err := w.WriteRows([]goparquet.Row{row}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
}

func TestReadsFilesFromOtherTools(t *testing.T) {
	want := time.Date(2026, 11, 20, 13, 14, 15, 678_000_000, time.UTC)
	for _, millis := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "f.parquet")
		writeForeign(t, path, millis)
		out := readAll(t, path, parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Created: true,
			Columns:       []features.Field{{Name: "cnt", Type: features.Int64}, {Name: "avg", Type: features.Float64}, {Name: "missing", Type: features.Bool}},
			MissingAsNull: true})
		if out.Len() != 1 || out.Time[0] != features.Micros(want) {
			t.Fatalf("millis=%v: time %v, want %v", millis, features.FromMicros(out.Time[0]), want)
		}
		if out.Created != nil {
			t.Errorf("created_timestamp invented for a file without one")
		}
		if got := out.Columns[0].Value(0); !got.Equal(features.IntValue(7)) {
			t.Errorf("int32 column read as %s", got)
		}
		if got := out.Columns[1].Value(0); !got.Equal(features.FloatValue(2.5)) {
			t.Errorf("float column read as %s", got)
		}
		if got := out.Columns[2].Value(0); !got.IsNull() {
			t.Errorf("missing column read as %s, want null", got)
		}
	}
}

func TestReadErrorsNameTheProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.parquet")
	writeForeign(t, path, true)
	cases := []struct {
		name string
		spec parquet.FrameSpec
		want string
	}{
		{"missing key", parquet.FrameSpec{Key: "product_id", KeyType: features.Int64, Time: parquet.EventTimestamp}, "missing join key column product_id"},
		{"key of the wrong type", parquet.FrameSpec{Key: "user_id", KeyType: features.Int64, Time: parquet.EventTimestamp}, "column user_id has type STRING, want int64"},
		{"time is not a timestamp", parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: "cnt"}, "column cnt has type"},
		{"missing column", parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Columns: []features.Field{{Name: "x", Type: features.Int64}}}, "missing column x"},
		{"column of the wrong type", parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Columns: []features.Field{{Name: "avg", Type: features.String}}}, "column avg has type FLOAT, want string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := parquet.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.ReadFrames(c.spec, func(*features.Frame) error { return nil })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := parquet.OpenFile(filepath.Join(t.TempDir(), "nope.parquet")); err == nil {
		t.Error("opening a missing file succeeded")
	}
	junk := filepath.Join(t.TempDir(), "junk.parquet")
	os.WriteFile(junk, []byte("not parquet at all"), 0o644)
	if _, err := parquet.OpenFile(junk); err == nil || !strings.Contains(err.Error(), "not a readable parquet file") {
		t.Errorf("junk file: %v", err)
	}
}
