package parquet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

func TestHasWindow(t *testing.T) {
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	stamp := parquet.WindowStamp(end)
	created, later := parquet.VersionStamp(end.Add(15*time.Minute)), parquet.VersionStamp(end.Add(time.Hour))
	marker := fmt.Sprintf(`{"view":"v","window_end":%q,"published":"2026-11-20T02:00:00Z"}`, end.Format(time.RFC3339))
	cases := []struct {
		name  string
		files []string // created empty under <view>/date=2026-11-20/
		want  bool
	}{
		{"no folder", nil, false},
		{"file from before versions", []string{"part-" + stamp + ".parquet"}, true},
		{"another tool's file", []string{"part-" + stamp + "-20261120T021500.123456Z.parquet"}, true},
		{"shard from before versions", []string{"part-" + stamp + "-0003.parquet"}, true},
		// Versions of ours count once published only.
		{"version, unpublished", []string{"part-" + stamp + "-v" + created + ".parquet"}, false},
		{"version, published", []string{"part-" + stamp + "-v" + created + ".parquet", "_published/part-" + stamp + "-v" + created + ".json"}, true},
		{"lone shard of a failed sharded run", []string{"part-" + stamp + "-v" + created + "-0000.parquet"}, false},
		{"shard of a published sharded run", []string{"part-" + stamp + "-v" + created + "-0000.parquet", "_published/part-" + stamp + "-v" + created + ".json"}, true},
		{"unpublished version beside a published one", []string{"part-" + stamp + "-v" + created + ".parquet", "part-" + stamp + "-v" + later + "-0001.parquet",
			"_published/part-" + stamp + "-v" + later + ".json"}, true},
		{"marker of another window", []string{"part-" + stamp + "-v" + created + ".parquet", "_published/part-" + parquet.WindowStamp(end.Add(time.Hour)) + "-v" + created + ".json"}, false},
		{"write in progress only", []string{".part-" + stamp + ".parquet.tmp-123"}, false},
		{"hidden parquet", []string{".part-" + stamp + "-x.parquet"}, false},
		{"other window of the day", []string{"part-" + parquet.WindowStamp(end.Add(time.Hour)) + ".parquet"}, false},
		{"longer stamp", []string{"part-" + stamp + "0.parquet"}, false},
		{"not parquet", []string{"part-" + stamp + ".json"}, false},
		{"folder named like a version", []string{"part-" + stamp + "-x.parquet/"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := parquet.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(st.Root(), "v", "date=2026-11-20")
			for _, f := range c.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				switch {
				case f[len(f)-1] == '/':
					err = os.Mkdir(p, 0o755)
				case filepath.Ext(f) == ".json":
					err = os.WriteFile(p, []byte(marker), 0o644)
				default:
					err = os.WriteFile(p, nil, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.HasWindow(context.Background(), "v", end)
			if err != nil || got != c.want {
				t.Fatalf("HasWindow = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// A window written by the store is found once published; its neighbours
// are not.
func TestHasWindowAfterWrite(t *testing.T) { onEachFS(t, testHasWindowAfterWrite) }

func testHasWindowAfterWrite(t *testing.T, st *parquet.Store) {
	ctx := context.Background()
	end := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	// Its own frame: sampleFrame belongs to the format tests.
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, 2)}
	cnt := features.NewColumn("cnt", features.Int64, 2)
	for i := range 2 {
		_ = f.Key.Append(features.StringValue(fmt.Sprint("u", i)))
		f.Time = append(f.Time, features.Micros(end))
		f.Created = append(f.Created, features.Micros(end.Add(time.Minute)))
		_ = cnt.Append(features.IntValue(int64(i)))
	}
	f.Columns = []*features.Column{cnt}
	p, err := st.WriteWindow(ctx, "v", end, end.Add(time.Minute), -1, f, "fp")
	if err != nil {
		t.Fatal(err)
	}
	// Written, not yet published: a backfill must still run it.
	if got, err := st.HasWindow(ctx, "v", end); err != nil || got {
		t.Errorf("unpublished version: HasWindow = %v, %v; want false", got, err)
	}
	pub := parquet.Publication{View: "v", WindowEnd: end, Created: end.Add(time.Minute), Published: end.Add(2 * time.Minute), Partitions: []parquet.Partition{p}}
	if err := st.MarkPublished(ctx, pub); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		end  time.Time
		want bool
	}{{end, true}, {end.Add(-time.Hour), false}, {end.Add(24 * time.Hour), false}} {
		if got, err := st.HasWindow(ctx, "v", c.end); err != nil || got != c.want {
			t.Errorf("HasWindow(%s) = %v, %v; want %v", c.end, got, err, c.want)
		}
	}
	if got, err := st.HasWindow(ctx, "other", end); err != nil || got {
		t.Errorf("another view's window: %v, %v", got, err)
	}
}
