package parquet_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

// pushFrame builds page view events at times ts.
func pushFrame(t *testing.T, src *features.Source, ts ...time.Time) *features.Frame {
	t.Helper()
	f := &features.Frame{}
	for _, fd := range src.Fields {
		f.Columns = append(f.Columns, features.NewColumn(fd.Name, fd.Type, len(ts)))
	}
	for i, at := range ts {
		f.Time = append(f.Time, features.Micros(at))
		for _, c := range f.Columns {
			var v features.Value
			switch c.Type {
			case features.Int64:
				v = features.IntValue(int64(i))
			case features.Float64:
				if i%2 == 0 {
					v = features.FloatValue(float64(i) + 0.5)
				}
			case features.String:
				v = features.StringValue("u" + string(rune('a'+i)))
			}
			if err := c.Append(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// A push is appended as one file per event day, read back by the source
// reader with every field, beside the batch files; the files carry the
// ingest time; a retry rewrites identical bytes under the same names.
func TestAppendPushDurableIdempotent(t *testing.T) {
	ctx := context.Background()
	reg := demo.Registry()
	src, _ := reg.Source("page_views")
	s, err := parquet.OpenSources(filepath.Join(t.TempDir(), "raw"))
	if err != nil {
		t.Fatal(err)
	}
	d := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	// a batch file the same day: the push must not replace it
	if _, err := s.Write(ctx, src, pushFrame(t, src, d.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	ingest := d.Add(24*time.Hour + 5*time.Second + 123*time.Microsecond)
	f := pushFrame(t, src, d.Add(23*time.Hour+59*time.Minute), d.Add(24*time.Hour+time.Second), d.Add(24*time.Hour+2*time.Second))
	parts, err := s.AppendPush(ctx, src, f, ingest, "req/1")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Rows != 1 || parts[1].Rows != 2 {
		t.Fatalf("partitions %+v, want one per event day (1 and 2 rows)", parts)
	}
	want := filepath.Join("page_views", "date=2026-11-21", "push-20261121T000005.000123Z-")
	if got := parts[1].Path; len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("file %s, want %s…", got, want)
	}
	before, err := os.ReadFile(filepath.Join(s.Root(), parts[1].Path))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AppendPush(ctx, src, f, ingest, "req/1")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(s.Root(), again[1].Path))
	if again[1].Path != parts[1].Path || !bytes.Equal(before, after) {
		t.Fatal("a retry did not rewrite the same file with the same bytes")
	}
	got, err := s.Read(ctx, src, d, d.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 4 {
		t.Fatalf("read %d rows, want the batch row and 3 pushed rows", got.Len())
	}
	pf, err := parquet.OpenFile(filepath.Join(s.Root(), parts[1].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if !pf.IsTimestamp(parquet.IngestTimestamp) {
		t.Fatalf("%s is %s, want a TIMESTAMP", parquet.IngestTimestamp, pf.ColumnType(parquet.IngestTimestamp))
	}
	times, valid, err := pf.ReadTimes(pf.RowGroups()[0], parquet.IngestTimestamp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 {
		t.Fatalf("%d ingest times, want 2", len(times))
	}
	for i := range times {
		if !valid[i] || times[i] != features.Micros(ingest) {
			t.Fatalf("row %d ingest %d (valid %v), want %d", i, times[i], valid[i], features.Micros(ingest))
		}
	}
	// wrong columns: nothing written
	bad := pushFrame(t, src, d)
	bad.Columns = bad.Columns[1:]
	if _, err := s.AppendPush(ctx, src, bad, ingest, "req/2"); err == nil {
		t.Fatal("a frame without the source's columns was appended")
	}
}
