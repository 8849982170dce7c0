package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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
			src, off := openStores(t, dir)
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

// funcRegistry: an hourly view with a count and a FuncTransform feature f of
// type ft (Fn: the number of rows, as ft), version ver.
func funcRegistry(t *testing.T, ft features.Type, ver string) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	fn := func(in features.FuncInput, out []features.Value) error {
		if ft == features.Float64 {
			out[0] = features.FloatValue(float64(len(in.Rows)))
		} else {
			out[0] = features.IntValue(int64(len(in.Rows)))
		}
		return nil
	}
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "x", Type: features.Float64}}},
		&features.View{Name: "hourly", Entity: "user", Source: "ev", Cadence: features.Hourly, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "cnt_1h", Kind: features.Count, Window: time.Hour}},
			Func:         &features.FuncTransform{Version: ver, Lookback: time.Hour, Features: []features.Feature{{Name: "f", Type: ft}}, Fn: fn}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A feature's type changes between windows (int64 -> float64, Version
// bumped): the next window still materializes, reading the older history
// without failing, and a key whose newest row was written under the old
// definition gets one drained row under the new one.
func TestDrainAfterFeatureTypeChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := func(i int) time.Time { return e0.Add(time.Duration(i) * time.Hour) }
	src, off := openStores(t, dir)
	oldReg, newReg := funcRegistry(t, features.Int64, "v1"), funcRegistry(t, features.Float64, "v2")
	v, _ := oldReg.View("hourly")
	// Key 1: one event in window E1. Key 2: one in every window.
	ev := &features.Frame{Columns: []*features.Column{features.NewColumn("user_id", features.Int64, 0), features.NewColumn("x", features.Float64, 0)}}
	add := func(key int64, at time.Time) {
		ev.Time = append(ev.Time, features.Micros(at))
		_ = ev.Columns[0].Append(features.IntValue(key))
		_ = ev.Columns[1].Append(features.FloatValue(1))
	}
	add(1, e(1).Add(-30*time.Minute))
	for i := 1; i <= 4; i++ {
		add(2, e(i).Add(-10*time.Minute))
	}
	if _, err := src.Write(ctx, oldReg.SourceOf(v), ev); err != nil {
		t.Fatal(err)
	}
	// E1, E2 under v1 (E2 holds key 1's drained row); E3, E4 under v2.
	for i, reg := range map[int]*features.Registry{1: oldReg, 2: oldReg} {
		if _, err := pipeline.MaterializeOffline(ctx, reg, src, off, "hourly", e(i), e(i).Add(time.Minute)); err != nil {
			t.Fatalf("E%d: %v", i, err)
		}
	}
	nv, _ := newReg.View("hourly")
	key1 := map[int]string{}
	for _, i := range []int{3, 4} {
		p, err := pipeline.MaterializeOffline(ctx, newReg, src, off, "hourly", e(i), e(i).Add(time.Minute))
		if err != nil {
			t.Fatalf("E%d after the type change: %v", i, err)
		}
		fr, err := parquet.ReadFile(filepath.Join(off.Root(), p.Path), parquet.HistorySpec(newReg.EntityOf(nv), nv.Features()))
		if err != nil {
			t.Fatal(err)
		}
		key1[i] = "absent"
		for r, k := range fr.Key.Ints {
			if k == 1 {
				key1[i] = fmt.Sprintf("count %s f %s", fr.Columns[0].Value(r), fr.Columns[1].Value(r))
			}
		}
	}
	if want := map[int]string{3: "count 0 f 0", 4: "absent"}; fmt.Sprint(key1) != fmt.Sprint(want) {
		t.Errorf("key 1 by window %v, want %v (one drained row under the new definition)", key1, want)
	}
}

// A sharded scan keeps only its shard's keys: over all shards, the same keys
// as the whole scan, each in its own shard.
func TestNotDrainedKeysOfShard(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg := drainRegistry(t, 0)
	v, _ := reg.View("hourly")
	src, off := openStores(t, dir)
	ev := &features.Frame{Columns: []*features.Column{features.NewColumn("user_id", features.Int64, 0), features.NewColumn("x", features.Float64, 0)}}
	for k := int64(1); k <= 30; k++ {
		ev.Time = append(ev.Time, features.Micros(e0.Add(30*time.Minute)))
		_ = ev.Columns[0].Append(features.IntValue(k))
		_ = ev.Columns[1].Append(features.FloatValue(1))
	}
	if _, err := src.Write(ctx, reg.SourceOf(v), ev); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.MaterializeOffline(ctx, reg, src, off, "hourly", e0.Add(time.Hour), e0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	end := e0.Add(3 * time.Hour)
	whole, err := pipeline.NotDrainedKeys(ctx, reg, off, v, end)
	if err != nil || whole.Len() != 30 {
		t.Fatalf("whole scan: %d keys, %v; want 30", whole.Len(), err)
	}
	const shards = 4
	var got []int64
	for sh := range shards {
		keys, err := pipeline.NotDrainedKeysOf(ctx, reg, off, v, end, pipeline.DrainScan{Shard: sh, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		for r := range keys.Valid {
			if features.ShardOf(keys, r, shards) != sh {
				t.Errorf("shard %d: key %d belongs to shard %d", sh, keys.Ints[r], features.ShardOf(keys, r, shards))
			}
		}
		got = append(got, keys.Ints...)
	}
	slices.Sort(got)
	if !slices.Equal(got, whole.Ints) {
		t.Errorf("keys over all shards %v, want %v", got, whole.Ints)
	}
}

// openStores opens a raw-source root and an offline store under dir.
func openStores(t *testing.T, dir string) (*parquet.Sources, *parquet.Store) {
	t.Helper()
	src, err := parquet.OpenSources(filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	off, err := parquet.Open(filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	return src, off
}
