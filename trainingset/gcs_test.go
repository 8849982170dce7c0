package trainingset_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
	"github.com/skewfree/skewfree/trainingset"
)

// A training set built from history on Cloud Storage is the one built from
// the same history on local disk, byte for byte, and asking for 2 of a
// view's 20 features fetches the footers and those column chunks (plus the
// key and timestamps), not whole objects: bytes fetched ÷ object bytes stays
// under a bound. Whole-object reads, the baseline, are 1.0.
func TestJoinOnGCSRangeReadsOnlyWhatItNeeds(t *testing.T) {
	const keys, days, nfeat = 20_000, 3, 20
	ctx := context.Background()
	reg := features.NewRegistry()
	var aggs []features.Aggregation
	for i := range nfeat {
		aggs = append(aggs, features.Aggregation{Name: fmt.Sprintf("f%02d", i), Kind: features.Sum, Column: "x", Window: 24 * time.Hour})
	}
	if err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "x", Type: features.Float64}}},
		&features.View{Name: "wide", Entity: "user", Source: "ev", Cadence: features.Daily, TTL: 7 * 24 * time.Hour, Owner: "o", Description: "d",
			Aggregations: aggs},
	); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local, err := parquet.Open(filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client, err := srv.Client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	gfs, err := gcsfs.Open(ctx, "gs://b/offline", gcsfs.Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	remote := parquet.OpenFS(gfs)

	rng := rand.New(rand.NewPCG(8, 8))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := 1; d <= days; d++ {
		end := t0.Add(time.Duration(d) * 24 * time.Hour)
		f := &features.Frame{Key: features.NewColumn("user_id", features.Int64, keys)}
		for k := range keys {
			_ = f.Key.Append(features.IntValue(int64(k)))
			f.Time = append(f.Time, features.Micros(end))
			f.Created = append(f.Created, features.Micros(end))
		}
		for i := range nfeat {
			c := features.NewColumn(fmt.Sprintf("f%02d", i), features.Float64, keys)
			for range keys {
				_ = c.Append(features.FloatValue(rng.Float64()))
			}
			f.Columns = append(f.Columns, c)
		}
		for _, s := range []*parquet.Store{local, remote} {
			if _, err := s.WriteWindow(ctx, "wide", end, end, -1, f, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	type row struct {
		UserID int64     `parquet:"user_id"`
		TS     time.Time `parquet:"event_timestamp,timestamp(microsecond)"`
	}
	rows := make([]row, 2000)
	for i := range rows {
		rows[i] = row{UserID: rng.Int64N(keys), TS: t0.Add(24*time.Hour + time.Duration(rng.Int64N(int64(days*24)))*time.Hour)}
	}
	entities := filepath.Join(dir, "entities.parquet")
	fh, err := os.Create(entities)
	if err != nil {
		t.Fatal(err)
	}
	if err := goparquet.Write(fh, rows); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	refs, err := reg.ResolveRefs([]string{"wide:f03", "wide:f17"})
	if err != nil {
		t.Fatal(err)
	}
	build := func(hist trainingset.History, name string) []byte {
		out := filepath.Join(dir, name)
		if _, err := trainingset.Build(ctx, reg, hist, trainingset.Options{Entities: entities, Features: refs, Out: out, AsKnownAt: false}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := build(local, "local.parquet")
	before, reads := gfs.Stats().BytesFetched.Load(), gfs.Stats().RangeReads.Load()
	got := build(remote, "gcs.parquet")
	fetched, requests := gfs.Stats().BytesFetched.Load()-before, gfs.Stats().RangeReads.Load()-reads
	if !bytes.Equal(got, want) {
		t.Fatal("the training set built from gs:// differs from the one built from local disk")
	}
	files, err := remote.ViewFiles(ctx, "wide", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		name := f[len("gs://b/offline/"):]
		n, err := gfs.Stat(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	ratio := float64(fetched) / float64(total)
	t.Logf("2 of %d features over %d objects (%d bytes): fetched %d bytes in %d range requests, ratio %.3f (whole objects: 1.000)",
		nfeat, len(files), total, fetched, requests, ratio)
	// The key, two timestamps and 2 of 20 random-double columns are about
	// 3/23 of each object by size; the bound leaves room for footers and
	// coalescing gaps, and fails if reads fall back to whole objects.
	if ratio > 0.25 {
		t.Fatalf("fetched %.3f of the object bytes, want <= 0.25", ratio)
	}
	if requests > int64(len(files))*6 {
		t.Fatalf("%d range requests for %d objects: page-sized reads are not coalesced", requests, len(files))
	}
}
