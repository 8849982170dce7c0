package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// hourlySetup registers an hourly view (1h windows, input [E-2h, E)) with
// the given Fn, and writes events: key 1 once in window E1, keys 2..40 in
// every window up to E5.
func hourlySetup(t *testing.T, fn func(features.FuncInput, []features.Value) error) (*activities.Activities, *parquet.Store, *features.Registry) {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.Int64}}},
		&features.View{Name: "hourly", Entity: "user", Source: "ev", Cadence: features.Hourly, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "cnt_1h", Kind: features.Count, Window: time.Hour}},
			Func:         &features.FuncTransform{Version: "v1", Lookback: time.Hour, Features: []features.Feature{{Name: "f", Type: features.Int64}}, Fn: fn}},
	)
	if err != nil {
		t.Fatal(err)
	}
	src, off := openStores(t, t.TempDir())
	ev := &features.Frame{Columns: []*features.Column{features.NewColumn("user_id", features.Int64, 0)}}
	add := func(key int64, at time.Time) {
		ev.Time = append(ev.Time, features.Micros(at))
		_ = ev.Columns[0].Append(features.IntValue(key))
	}
	add(1, hour(1).Add(-30*time.Minute))
	for i := 1; i <= 5; i++ {
		for k := int64(2); k <= 40; k++ {
			add(k, hour(i).Add(-10*time.Minute))
		}
	}
	s, _ := r.Source("ev")
	if _, err := src.Write(context.Background(), s, ev); err != nil {
		t.Fatal(err)
	}
	return &activities.Activities{Registry: r, Sources: src, Offline: off}, off, r
}

func hour(i int) time.Time { return start.Add(time.Duration(i) * time.Hour) }

// rowCountEnv is hourlySetup with an Fn that gives f the number of the
// entity's rows, registered in an activity test environment.
func rowCountEnv(t *testing.T) (*testsuite.TestActivityEnvironment, *activities.Activities, *parquet.Store, *features.Registry) {
	t.Helper()
	a, off, reg := hourlySetup(t, func(in features.FuncInput, out []features.Value) error {
		out[0] = features.IntValue(int64(len(in.Rows)))
		return nil
	})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env, a, off, reg
}

// windowInputs is window E_i's compute inputs: the whole window when shards
// is 0, else one per shard.
func windowInputs(i, shards int) []activities.ComputeInput {
	if shards == 0 {
		return []activities.ComputeInput{{View: "hourly", WindowEnd: hour(i), Created: hour(i), Shard: -1}}
	}
	var ins []activities.ComputeInput
	for sh := range shards {
		ins = append(ins, activities.ComputeInput{View: "hourly", WindowEnd: hour(i), Created: hour(i), Shard: sh, Shards: shards})
	}
	return ins
}

// computeWindow runs ComputeWindow and returns its output.
func computeWindow(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.Activities, in activities.ComputeInput) activities.ComputeOutput {
	t.Helper()
	val, err := env.ExecuteActivity(a.ComputeWindow, in)
	if err != nil {
		t.Fatal(err)
	}
	var out activities.ComputeOutput
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// readHourly reads back a partition the hourly view's run wrote.
func readHourly(t *testing.T, off *parquet.Store, reg *features.Registry, p parquet.Partition) *features.Frame {
	t.Helper()
	v, _ := reg.View("hourly")
	fr, err := parquet.ReadFile(filepath.Join(off.Root(), p.Path), parquet.HistorySpec(reg.EntityOf(v), v.Features()))
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

// A panicking FuncTransform fails the activity with a non-retryable error
// naming the panic; the worker (here: the test binary) lives on.
func TestPanickingFuncIsNonRetryable(t *testing.T) {
	a, _, _ := hourlySetup(t, func(in features.FuncInput, out []features.Value) error {
		if in.Key.Int == 7 {
			panic("bad feature code")
		}
		return nil
	})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	for _, shards := range []int{0, 2} {
		in := activities.ComputeInput{View: "hourly", WindowEnd: hour(1), Created: hour(1), Shard: -1}
		if shards > 0 {
			in.Shard, in.Shards = features.ShardOf(intKey(7), 0, shards), shards
		}
		_, err := env.ExecuteActivity(a.ComputeWindow, in)
		var appErr *temporal.ApplicationError
		if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrTypePanic ||
			!strings.Contains(err.Error(), "compute hourly: panic: bad feature code") {
			t.Fatalf("shards %d: err %v, want a non-retryable %s error", shards, err, activities.ErrTypePanic)
		}
	}
}

func intKey(k int64) *features.Column {
	c := features.NewColumn("user_id", features.Int64, 1)
	_ = c.Append(features.IntValue(k))
	return c
}

// Through the activity, sharded or not: the drain window E2 is skipped; E3
// gives key 1 its drained row (in key 1's shard only), E4 gives it nothing.
// The Fn sees empty Rows for the drained row.
func TestSkippedDrainWindowActivity(t *testing.T) {
	for _, shards := range []int{0, 3} {
		env, a, off, reg := rowCountEnv(t)
		key1 := map[int][]int64{} // window -> key 1's (cnt, f) if present
		for _, i := range []int{1, 3, 4} {
			var keys []int64
			for _, in := range windowInputs(i, shards) {
				fr := readHourly(t, off, reg, computeWindow(t, env, a, in).Partition)
				for r, k := range fr.Key.Ints {
					if k == 1 {
						key1[i] = []int64{fr.Columns[0].Ints[r], fr.Columns[1].Ints[r]}
						if in.Shard >= 0 && in.Shard != features.ShardOf(intKey(1), 0, shards) {
							t.Errorf("E%d: key 1 in shard %d", i, in.Shard)
						}
					}
				}
				keys = append(keys, fr.Key.Ints...)
			}
			slices.Sort(keys)
			if len(slices.Compact(keys)) != len(keys) {
				t.Errorf("shards %d, E%d: a key in two shards", shards, i)
			}
		}
		if !slices.Equal(key1[1], []int64{1, 1}) || !slices.Equal(key1[3], []int64{0, 0}) || key1[4] != nil {
			t.Errorf("shards %d: key 1 rows (count, Fn's rows) by window %v; want E1 [1 1], E3 [0 0] (drained), none at E4", shards, key1)
		}
	}
}

// The drain window E2 ran but its push failed (no publication marker):
// serving still holds key 1's E1 value, so E3 must give key 1 its drained
// row. Had E2 been published, E3 gives key 1 nothing. Sharded or not.
func TestUnpublishedDrainWindowActivity(t *testing.T) {
	for _, shards := range []int{0, 3} {
		for _, publishE2 := range []bool{false, true} {
			env, a, off, reg := rowCountEnv(t)
			var key1 []int64 // key 1's (cnt, f) at E3, if present
			for _, i := range []int{1, 2, 3} {
				var parts []parquet.Partition
				for _, in := range windowInputs(i, shards) {
					out := computeWindow(t, env, a, in)
					parts = append(parts, out.Partition)
					if i != 3 {
						continue
					}
					fr := readHourly(t, off, reg, out.Partition)
					for r, k := range fr.Key.Ints {
						if k == 1 {
							key1 = []int64{fr.Columns[0].Ints[r], fr.Columns[1].Ints[r]}
						}
					}
				}
				if i == 1 || (i == 2 && publishE2) {
					in := activities.PublishInput{View: "hourly", WindowEnd: hour(i), Created: hour(i), Published: hour(i).Add(time.Minute), Partitions: parts}
					if _, err := env.ExecuteActivity(a.MarkPublished, in); err != nil {
						t.Fatal(err)
					}
				}
			}
			if publishE2 && key1 != nil {
				t.Errorf("shards %d, E2 published: E3 has key 1 row %v, want none", shards, key1)
			}
			if !publishE2 && !slices.Equal(key1, []int64{0, 0}) {
				t.Errorf("shards %d, E2 never published: E3 has key 1 row %v, want the drained row [0 0]", shards, key1)
			}
		}
	}
}
