package trainingset_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

type benchData struct {
	reg      *features.Registry
	store    *parquet.Store
	entities string
	refs     []features.FeatureRef
	rows     int
}

// makeBenchData writes days windows of keys rows each (int64 keys, three
// features) and an entity table of ents rows.
func makeBenchData(b *testing.B, keys, days, ents int) benchData {
	b.Helper()
	dir := b.TempDir()
	reg := features.NewRegistry()
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "x", Type: features.Float64}, {Name: "s", Type: features.String}}},
		&features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Daily, TTL: 7 * 24 * time.Hour, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{
				{Name: "cnt", Kind: features.Count, Window: 24 * time.Hour},
				{Name: "avg", Kind: features.Mean, Column: "x", Window: 24 * time.Hour},
				{Name: "last", Kind: features.Last, Column: "s", Window: 24 * time.Hour}}},
	)
	if err != nil {
		b.Fatal(err)
	}
	s, err := parquet.Open(filepath.Join(dir, "offline"))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := 1; d <= days; d++ {
		end := t0.Add(time.Duration(d) * 24 * time.Hour)
		f := &features.Frame{Key: features.NewColumn("user_id", features.Int64, keys)}
		cnt := features.NewColumn("cnt", features.Int64, keys)
		avg := features.NewColumn("avg", features.Float64, keys)
		last := features.NewColumn("last", features.String, keys)
		for k := range keys {
			_ = f.Key.Append(features.IntValue(int64(k)))
			f.Time = append(f.Time, features.Micros(end))
			f.Created = append(f.Created, features.Micros(end))
			_ = cnt.Append(features.IntValue(rng.Int64N(100)))
			_ = avg.Append(features.FloatValue(rng.Float64()))
			_ = last.Append(features.StringValue(fmt.Sprintf("s%d", rng.IntN(50))))
		}
		f.Columns = []*features.Column{cnt, avg, last}
		if _, err := s.WriteWindow(context.Background(), "v", end, end, -1, f, ""); err != nil {
			b.Fatal(err)
		}
	}
	type row struct {
		UserID int64     `parquet:"user_id"`
		TS     time.Time `parquet:"event_timestamp,timestamp(microsecond)"`
		Label  int64     `parquet:"label"`
	}
	rows := make([]row, ents)
	span := int64(days) * 24 * int64(time.Hour/time.Microsecond)
	for i := range rows {
		rows[i] = row{UserID: rng.Int64N(int64(keys) * 11 / 10), TS: features.FromMicros(features.Micros(t0) + rng.Int64N(span)), Label: int64(i)}
	}
	path := filepath.Join(dir, "entities.parquet")
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := goparquet.Write(fh, rows); err != nil {
		b.Fatal(err)
	}
	fh.Close()
	refs, _ := reg.ResolveRefs([]string{"v:cnt", "v:avg", "v:last"})
	return benchData{reg: reg, store: s, entities: path, refs: refs, rows: keys * days}
}

// BenchmarkTrainingSet is the whole join; its baseline, in the same run, is
// BenchmarkPlainParquetScan: plain parquet-go reading the same history files
// into structs, the floor any Parquet-based join pays.
func BenchmarkTrainingSet(b *testing.B) {
	for _, size := range []struct{ keys, days, ents int }{{10_000, 30, 100_000}, {100_000, 20, 1_000_000}} {
		name := fmt.Sprintf("history=%d/entities=%d", size.keys*size.days, size.ents)
		b.Run(name, func(b *testing.B) {
			d := makeBenchData(b, size.keys, size.days, size.ents)
			out := filepath.Join(b.TempDir(), "out.parquet")
			b.ResetTimer()
			for b.Loop() {
				if _, err := trainingset.Build(context.Background(), d.reg, d.store, trainingset.Options{Entities: d.entities, Features: d.refs, Out: out}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.rows)*float64(b.N)/b.Elapsed().Seconds(), "history-rows/s")
		})
		b.Run("baseline-plain-parquet-go/"+name, func(b *testing.B) {
			d := makeBenchData(b, size.keys, size.days, size.ents)
			files, _ := d.store.ViewFiles(context.Background(), "v", time.Time{}, time.Time{})
			type hrow struct {
				UserID  *int64    `parquet:"user_id"`
				TS      time.Time `parquet:"event_timestamp"`
				Created time.Time `parquet:"created_timestamp"`
				Cnt     *int64    `parquet:"cnt"`
				Avg     *float64  `parquet:"avg"`
				Last    *string   `parquet:"last"`
			}
			b.ResetTimer()
			for b.Loop() {
				var n int
				for _, path := range files {
					fh, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					r := goparquet.NewGenericReader[hrow](fh)
					buf := make([]hrow, 4096)
					for {
						k, err := r.Read(buf)
						n += k
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					r.Close()
					fh.Close()
				}
				if n != d.rows {
					b.Fatalf("read %d rows, want %d", n, d.rows)
				}
			}
			b.ReportMetric(float64(d.rows)*float64(b.N)/b.Elapsed().Seconds(), "history-rows/s")
		})
	}
}
