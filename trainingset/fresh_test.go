package trainingset_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

func freshRegistry(t *testing.T) (*features.Registry, *features.View) {
	t.Helper()
	v := &features.View{Name: "live", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "o", Description: "d",
		Fresh: &features.Fresh{Tile: time.Minute, IngestDelay: 20 * time.Second},
		Aggregations: []features.Aggregation{
			{Name: "n", Kind: features.Count, Window: 5 * time.Minute},
			{Name: "amt", Kind: features.Sum, Column: "amount", Window: 10 * time.Minute},
			{Name: "dc", Kind: features.DistinctCount, Column: "cat", Window: 10 * time.Minute},
			{Name: "last_cat", Kind: features.Last, Column: "cat", Window: 5 * time.Minute,
				Where: &features.Predicate{Column: "amount", Op: features.Gt, Value: features.FloatValue(0)}},
		}}
	reg := features.NewRegistry()
	if err := reg.Register(&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "clicks", Path: "clicks", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "amount", Type: features.Float64}, {Name: "cat", Type: features.String}}},
		v); err != nil {
		t.Fatal(err)
	}
	return reg, v
}

// TestBuildFreshViewMatchesTiles is the no-skew property through files: a
// training set of a fresh view, built from the logged events (pushed ones
// with their ingest time, others without), holds at each entity row what
// FreshValues gives over the tiles of the events visible then: ingested by
// T under as-known-at, event time + IngestDelay by default.
func TestBuildFreshViewMatchesTiles(t *testing.T) {
	reg, v := freshRegistry(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	base := day0.Add(12 * time.Hour)
	const n = 600
	ev := &features.Frame{Columns: []*features.Column{features.NewColumn("user_id", features.Int64, n),
		features.NewColumn("amount", features.Float64, n), features.NewColumn("cat", features.String, n),
		features.NewColumn(features.IngestTimestampColumn, features.Int64, n)}}
	for i := range n {
		t0 := features.Micros(base) + rng.Int64N((30 * time.Minute).Microseconds())
		if i > 0 && rng.IntN(8) == 0 {
			t0 = ev.Time[rng.IntN(i)] // a tie
		}
		ev.Time = append(ev.Time, t0)
		_ = ev.Columns[0].Append(features.IntValue(1 + rng.Int64N(3)))
		amt := features.FloatValue(rng.NormFloat64() * 10)
		if rng.IntN(10) == 0 {
			amt = features.Null
		}
		_ = ev.Columns[1].Append(amt)
		_ = ev.Columns[2].Append(features.StringValue(string(rune('a' + rng.IntN(20)))))
		_ = ev.Columns[3].Append(features.IntValue(t0 + rng.Int64N((3 * time.Minute).Microseconds()))) // up to 3 minutes late
	}
	// Half the events were pushed (a file with ingest times), half not.
	var pushed, plain []int
	for i := range n {
		if i%2 == 0 {
			pushed = append(pushed, i)
		} else {
			plain = append(plain, i)
		}
	}
	src, _ := parquet.OpenSources(dir)
	s, _ := reg.Source("clicks")
	plainFrame := ev.Take(plain)
	plainFrame.Columns = plainFrame.Columns[:3]
	if _, err := src.Write(context.Background(), s, plainFrame); err != nil {
		t.Fatal(err)
	}
	pushPath := filepath.Join(dir, "clicks", "date="+base.Format(time.DateOnly), "push-1.parquet")
	fh, err := os.Create(pushPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteLoggedFrame(fh, ev.Take(pushed), "ts"); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	// When each event counts: its ingest time (pushed) or event time.
	ingest := make([]int64, n)
	for i := range n {
		ingest[i] = ev.Time[i]
		if i%2 == 0 {
			ingest[i] = ev.Columns[3].Ints[i]
		}
	}

	var ents []entityRow
	for i := range 200 {
		ents = append(ents, entityRow{user: 1 + rng.Int64N(4), T: features.Micros(base) + rng.Int64N((40 * time.Minute).Microseconds()), label: int64(i)})
	}
	entPath := filepath.Join(dir, "entities.parquet")
	writeEntities(t, entPath, ents, goparquet.Microsecond, true, 64)
	refs, err := reg.ResolveRefs([]string{"live:n", "live:amt", "live:dc", "live:last_cat"})
	if err != nil {
		t.Fatal(err)
	}
	feats := v.Features()
	delay := v.Fresh.IngestDelay.Microseconds()
	for _, asKnownAt := range []bool{true, false} {
		out := filepath.Join(dir, "out.parquet")
		if _, err := trainingset.Build(context.Background(), reg, nil, trainingset.Options{Entities: entPath, Features: refs, Out: out,
			AsKnownAt: asKnownAt, Sources: src}); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		row := 0
		for _, rg := range f.RowGroups() {
			cols := make([]*features.Column, len(feats))
			for i, ft := range feats {
				if cols[i], err = f.ReadColumn(rg, "live__"+ft.Name, ft.Type, nil); err != nil {
					t.Fatal(err)
				}
			}
			for r := range cols[0].Len() {
				e := ents[row]
				row++
				tiles := map[int64]*features.TileState{}
				for i := range n {
					visible := ingest[i]
					if !asKnownAt {
						visible = ev.Time[i] + delay
					}
					if ev.Columns[0].Ints[i] != e.user || visible > e.T {
						continue
					}
					ts := features.TileStart(v, ev.Time[i])
					if tiles[ts] == nil {
						tiles[ts] = features.NewTileState(v)
					}
					if err := tiles[ts].AddEvents(v, ev, []int{i}); err != nil {
						t.Fatal(err)
					}
				}
				want := features.FreshValues(v, features.FromMicros(e.T), tiles)
				for i := range feats {
					if got := cols[i].Value(r); !got.Equal(want[i]) {
						t.Errorf("as known at %v, user %d at %s: %s = %s, want %s", asKnownAt, e.user, features.FromMicros(e.T), feats[i].Name, got, want[i])
					}
				}
			}
		}
		f.Close()
		if row != len(ents) {
			t.Fatalf("%d output rows, want %d", row, len(ents))
		}
	}

	// Without the source root, a fresh view cannot be computed.
	_, err = trainingset.Build(context.Background(), reg, nil, trainingset.Options{Entities: entPath, Features: refs, Out: filepath.Join(dir, "x.parquet")})
	if err == nil || !strings.Contains(err.Error(), "needs the source root") {
		t.Fatalf("build without sources: %v", err)
	}
}
