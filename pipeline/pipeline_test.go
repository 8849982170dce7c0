package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/store/parquet"
)

var e0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// drainRegistry: an hourly view over 1h windows with TTL ttl; input range
// [E - 2h, E), so a key's drained row is due one window after its events.
func drainRegistry(t *testing.T, ttl time.Duration) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "x", Type: features.Float64}}},
		&features.View{Name: "hourly", Entity: "user", Source: "ev", Cadence: features.Hourly, TTL: ttl, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{
				{Name: "cnt_1h", Kind: features.Count, Window: time.Hour},
				{Name: "mean_x_1h", Kind: features.Mean, Column: "x", Window: time.Hour}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A skipped or failed drain window leaves no stale value: the next run gives
// the key its drained row, once.
func TestSkippedDrainWindow(t *testing.T) {
	e := func(i int) time.Time { return e0.Add(time.Duration(i) * time.Hour) }
	const (
		absent  = "absent"
		drained = "drained"
		value   = "value"
	)
	cases := []struct {
		name string
		ttl  time.Duration
		runs []int // window ends run, in order
		// want is key 1's row per window run; key 2 has events in every
		// window and always has a value.
		want map[int]string
	}{
		{"no skip", 0, []int{1, 2, 3, 4}, map[int]string{1: value, 2: drained, 3: absent, 4: absent}},
		{"drain window skipped, TTL 0", 0, []int{1, 3, 4}, map[int]string{1: value, 3: drained, 4: absent}},
		{"drain window skipped, TTL 3h", 3 * time.Hour, []int{1, 3, 4}, map[int]string{1: value, 3: drained, 4: absent}},
		{"drain window failed then rerun late", 0, []int{1, 3, 2, 4}, map[int]string{1: value, 3: drained, 2: drained, 4: absent}},
		{"two windows skipped, TTL 0", 0, []int{1, 4, 5}, map[int]string{1: value, 4: drained, 5: absent}},
		// With TTL 2h, key 1's E1 row expired at E3: serving and training
		// have nothing for it, and E4 reads no further back than E2.
		{"two windows skipped, row expired", 2 * time.Hour, []int{1, 4, 5}, map[int]string{1: value, 4: absent, 5: absent}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			reg := drainRegistry(t, c.ttl)
			v, _ := reg.View("hourly")
			src, err := parquet.OpenSources(filepath.Join(dir, "raw"))
			if err != nil {
				t.Fatal(err)
			}
			off, err := parquet.Open(filepath.Join(dir, "offline"))
			if err != nil {
				t.Fatal(err)
			}
			// Key 1: one event in window E1. Key 2: one in every window.
			ev := &features.Frame{Columns: []*features.Column{features.NewColumn("user_id", features.Int64, 0), features.NewColumn("x", features.Float64, 0)}}
			add := func(key int64, at time.Time, x float64) {
				ev.Time = append(ev.Time, features.Micros(at))
				_ = ev.Columns[0].Append(features.IntValue(key))
				_ = ev.Columns[1].Append(features.FloatValue(x))
			}
			add(1, e(1).Add(-30*time.Minute), 7)
			for i := 1; i <= 5; i++ {
				add(2, e(i).Add(-10*time.Minute), float64(i))
			}
			if _, err := src.Write(ctx, reg.SourceOf(v), ev); err != nil {
				t.Fatal(err)
			}
			for _, i := range c.runs {
				p, err := pipeline.MaterializeOffline(ctx, reg, src, off, "hourly", e(i), e(i).Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				fr, err := parquet.ReadFile(filepath.Join(off.Root(), p.Path), parquet.HistorySpec(reg.EntityOf(v), v.Features()))
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]string{1: absent, 2: absent}
				for r, k := range fr.Key.Ints {
					switch cnt, mean := fr.Columns[0].Ints[r], fr.Columns[1].Value(r); {
					case cnt == 0 && mean.IsNull():
						got[k] = drained
					case cnt == 1 && !mean.IsNull():
						got[k] = value
					default:
						got[k] = fmt.Sprintf("count %d mean %s", cnt, mean)
					}
				}
				if got[1] != c.want[i] || got[2] != value || fr.Len() > 2 {
					t.Errorf("window E%d: key 1 %s, key 2 %s, %d rows; want key 1 %s, key 2 %s", i, got[1], got[2], fr.Len(), c.want[i], value)
				}
			}
		})
	}
}
