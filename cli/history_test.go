package cli_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/store/parquet"
)

// starter history lists every version of a window: a re-run keeps the first
// run's rows, and shows which version was published.
func TestHistoryListsVersions(t *testing.T) {
	dir := t.TempDir()
	raw, off := "file://"+filepath.Join(dir, "raw"), "file://"+filepath.Join(dir, "offline")
	if code, _, errs := run(t, "generate", "--out", raw, "--users", "100", "--products", "20", "--days", "3", "--start", "2026-11-01"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	end := "2026-11-03T00:00:00Z"
	for range 2 {
		if code, _, errs := run(t, "materialize", "--local", "--view", "user_orders", "--source", raw, "--offline", off, "--window-end", end); code != 0 {
			t.Fatalf("materialize: %s", errs)
		}
		time.Sleep(2 * time.Millisecond) // distinct created times
	}
	store, err := parquet.Open(off)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := time.Parse(time.RFC3339, end)
	vs, err := store.WindowVersions(context.Background(), "user_orders", e)
	if err != nil || len(vs) != 2 || vs[0].Rows == 0 || vs[0].Rows != vs[1].Rows {
		t.Fatalf("versions %+v %v: want two of equal rows", vs, err)
	}
	pub := vs[0].Created.Add(time.Second)
	if err := store.MarkPublished(context.Background(), parquet.Publication{View: "user_orders", WindowEnd: e, Created: vs[0].Created,
		Published: pub, Partitions: []parquet.Partition{{Path: vs[0].Files[0], Rows: vs[0].Rows}}}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "history", "--view", "user_orders", "--window-end", end, "--offline", off)
	if code != 0 {
		t.Fatalf("history: %s", errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CREATED") {
		t.Fatalf("history output:\n%s", out)
	}
	for i, v := range vs {
		f := strings.Fields(lines[i+1])
		wantPub := "-"
		if i == 0 {
			wantPub = pub.Format(time.RFC3339Nano)
		}
		if len(f) != 4 || f[0] != v.Created.Format(time.RFC3339Nano) || f[1] != wantPub || f[2] != strconv.FormatInt(v.Rows, 10) || f[3] != v.Files[0] {
			t.Errorf("line %q, want version %+v published %s", lines[i+1], v, wantPub)
		}
	}
}
