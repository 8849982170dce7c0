package trainingset_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// TestFolderOfEntityFiles: --entities may name a folder of Parquet files
// whose columns differ (a served log: one feature list per file). The
// training set holds every file's rows, in path order, the union of their
// columns (nulls where a file lacks one, nullable timestamps kept), and the
// same features as a build from each file alone. Files being written
// (".tmp") and folders starting with "_" are skipped.
func TestFolderOfEntityFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := parquet.Open("file://" + filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	writeHistory(t, s, rand.New(rand.NewPCG(3, 3)), 20, 5)
	reg := registry(t)
	refs, err := reg.ResolveRefs([]string{"daily:cnt", "daily:avg"})
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "ents")
	// Two files of different columns, in date= folders like a served log.
	mk := func(name string, extra string, extraTime bool, users ...int64) string {
		key := features.NewColumn("user_id", features.Int64, 0)
		ts := features.NewColumn(trainingset.EntityColumn, features.Int64, 0)
		x := features.NewColumn(extra, features.Int64, 0)
		for i, u := range users {
			_ = key.Append(features.IntValue(u))
			_ = ts.Append(features.IntValue(features.Micros(day0.Add(time.Duration(50+i*7) * time.Hour))))
			if i%2 == 0 {
				_ = x.Append(features.IntValue(int64(i)))
			} else {
				_ = x.Append(features.Null)
			}
		}
		var opt []string
		if extraTime {
			opt = []string{extra}
		}
		path := filepath.Join(folder, name)
		if err := parquet.WriteFileAtomic(path, func(w *os.File) error {
			return parquet.WriteTableTimes(w, []*features.Column{key, ts, x}, []string{trainingset.EntityColumn}, opt, nil)
		}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := mk("date=2026-11-03/a.parquet", "label", false, 1, 2, 3, 4)
	b := mk("date=2026-11-04/b.parquet", "served_ts", true, 5, 6, 7)
	if err := os.WriteFile(filepath.Join(folder, "date=2026-11-04", ".c.parquet.tmp-1"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(folder, "_meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "_meta", "x.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}

	build := func(entities string) *parquet.File {
		t.Helper()
		out := filepath.Join(t.TempDir(), "train.parquet")
		if _, err := trainingset.Build(ctx, reg, s, trainingset.Options{Entities: entities, Features: refs, Out: out, AsKnownAt: true}); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	all := build(folder)
	if got := strings.Join(all.Columns(), ","); got != "user_id,event_timestamp,label,served_ts,daily__cnt,daily__avg" {
		t.Fatalf("columns %s", got)
	}
	if !all.IsTimestamp("served_ts") {
		t.Fatalf("served_ts is %s, want a TIMESTAMP", all.ColumnType("served_ts"))
	}
	read := func(f *parquet.File, name string, typ features.Type) *features.Column {
		t.Helper()
		var c *features.Column
		for _, rg := range f.RowGroups() {
			var err error
			if typ == features.Invalid {
				c = features.NewColumn(name, features.Int64, 0)
				c.Ints, c.Valid, err = f.ReadTimes(rg, name, c.Ints, c.Valid)
			} else if c, err = f.ReadColumn(rg, name, typ, c); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	keys := read(all, "user_id", features.Int64)
	if got := keys.Ints; len(got) != 7 || got[0] != 1 || got[4] != 5 {
		t.Fatalf("keys %v: want a's rows, then b's", got)
	}
	label, sts := read(all, "label", features.Int64), read(all, "served_ts", features.Invalid)
	for i := range 7 {
		inA := i < 4
		if label.Valid[i] != (inA && i%2 == 0) || sts.Valid[i] != (!inA && (i-4)%2 == 0) {
			t.Fatalf("row %d: label %v served_ts %v: nulls where a file lacks the column, values where it has them", i, label.Value(i), sts.Value(i))
		}
	}
	// The features equal those of each file built alone.
	for _, feat := range []struct {
		name string
		typ  features.Type
	}{{"daily__cnt", features.Int64}, {"daily__avg", features.Float64}} {
		got := read(all, feat.name, feat.typ)
		want := read(build(a), feat.name, feat.typ)
		want.AppendColumn(read(build(b), feat.name, feat.typ))
		present := 0
		for i := range 7 {
			if !got.Value(i).Equal(want.Value(i)) {
				t.Fatalf("%s row %d: folder %v, file alone %v", feat.name, i, got.Value(i), want.Value(i))
			}
			if got.Valid[i] {
				present++
			}
		}
		if feat.name == "daily__cnt" && present == 0 {
			t.Fatal("no row joined a value: the comparison proves nothing")
		}
	}

	// A column of another type in a later file is an error naming it.
	key := features.NewColumn("user_id", features.Int64, 0)
	ts := features.NewColumn(trainingset.EntityColumn, features.Int64, 0)
	lbl := features.NewColumn("label", features.String, 0)
	_ = key.Append(features.IntValue(1))
	_ = ts.Append(features.IntValue(features.Micros(day0)))
	_ = lbl.Append(features.StringValue("x"))
	if err := parquet.WriteFileAtomic(filepath.Join(folder, "z.parquet"), func(w *os.File) error {
		return parquet.WriteTable(w, []*features.Column{key, ts, lbl}, trainingset.EntityColumn)
	}); err != nil {
		t.Fatal(err)
	}
	_, err = trainingset.Build(ctx, reg, s, trainingset.Options{Entities: folder, Features: refs, Out: filepath.Join(dir, "bad.parquet")})
	if err == nil || !strings.Contains(err.Error(), "column label has another type") {
		t.Fatalf("err %v", err)
	}
	if _, err := trainingset.Build(ctx, reg, s, trainingset.Options{Entities: t.TempDir(), Features: refs, Out: filepath.Join(dir, "bad.parquet")}); err == nil || !strings.Contains(err.Error(), "holds no .parquet files") {
		t.Fatalf("empty folder: %v", err)
	}
}
