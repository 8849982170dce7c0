package features_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// drainView: daily, a count, a mean and a Go feature that is "no events"
// for empty Rows and counts its calls with empty Rows.
func drainView(emptyCalls *atomic.Int64) *features.View {
	return &features.View{Name: "daily", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
		Aggregations: []features.Aggregation{
			{Name: "cnt_1d", Kind: features.Count, Window: 24 * time.Hour},
			{Name: "mean_x_1d", Kind: features.Mean, Column: "x", Window: 24 * time.Hour},
		},
		Func: &features.FuncTransform{Version: "v1", Lookback: 24 * time.Hour,
			Features: []features.Feature{{Name: "seen", Type: features.String}},
			Fn: func(in features.FuncInput, out []features.Value) error {
				if len(in.Rows) == 0 {
					emptyCalls.Add(1)
					out[0] = features.StringValue(fmt.Sprintf("none for %d", in.Key.Int))
					return nil
				}
				out[0] = features.StringValue(fmt.Sprintf("%d events", len(in.Rows)))
				return nil
			}}}
}

func intKeys(ks ...int64) *features.Column {
	c := features.NewColumn("user_id", features.Int64, len(ks))
	for _, k := range ks {
		_ = c.Append(features.IntValue(k))
	}
	return c
}

// Extra keys without events get the drained row (the transform of no
// events, Fn called with empty Rows and the right key), merged in key order;
// keys with events keep their own row; repeats and nulls add nothing.
func TestComputeExtraKeys(t *testing.T) {
	var empty atomic.Int64
	v := drainView(&empty)
	reg := testRegistry(t, v)
	end := t0.Add(24 * time.Hour)
	ev := eventFrame([]event{{key: 5, t: features.Micros(t0.Add(time.Hour)), x: 2}, {key: 9, t: features.Micros(t0.Add(2 * time.Hour)), x: 4}})
	extra := intKeys(9, 12, 1, 12, 7)
	_ = extra.Append(features.Null)
	out, err := features.ComputeWith(reg, v, ev, end, end, features.ComputeOptions{ExtraKeys: extra})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		key  int64
		cnt  int64
		mean features.Value
		seen string
	}
	want := []row{
		{1, 0, features.Null, "none for 1"},
		{5, 1, features.FloatValue(2), "1 events"},
		{7, 0, features.Null, "none for 7"},
		{9, 1, features.FloatValue(4), "1 events"},
		{12, 0, features.Null, "none for 12"},
	}
	if out.Len() != len(want) {
		t.Fatalf("%d rows, want %d: keys %v", out.Len(), len(want), out.Key.Ints)
	}
	for i, w := range want {
		got := row{out.Key.Ints[i], out.Columns[0].Ints[i], out.Columns[1].Value(i), out.Columns[2].Strings[i]}
		if got.key != w.key || got.cnt != w.cnt || !got.mean.Equal(w.mean) || got.seen != w.seen || out.Time[i] != features.Micros(end) {
			t.Errorf("row %d = %+v, want %+v", i, got, w)
		}
	}
	if empty.Load() != 3 {
		t.Errorf("Fn saw empty Rows %d times, want 3", empty.Load())
	}
	if _, err := features.ComputeWith(reg, v, ev, end, end, features.ComputeOptions{ExtraKeys: features.NewColumn("user_id", features.String, 0)}); err == nil ||
		!errors.Is(err, features.ErrInput) {
		t.Errorf("extra keys of the wrong type: err %v", err)
	}
}

// NotDrained tells drained rows (equal to the transform of no events as of
// their own event_timestamp) from the rest, via Newest's choice of the newest
// version of each key.
func TestNotDrained(t *testing.T) {
	var empty atomic.Int64
	v := drainView(&empty)
	reg := testRegistry(t, v)
	e1, e2 := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	type hrow struct {
		key     int64
		end     time.Time
		created time.Duration // after end
		cnt     int64
		mean    features.Value
		seen    string
	}
	drained := func(k int64, end time.Time, created time.Duration) hrow {
		return hrow{k, end, created, 0, features.Null, fmt.Sprintf("none for %d", k)}
	}
	cases := []struct {
		name string
		rows []hrow
		want []int64
	}{
		{"newest drained", []hrow{{1, e1, 0, 2, features.FloatValue(1), "2 events"}, drained(1, e2, 0)}, nil},
		{"newest not drained", []hrow{drained(1, e1, 0), {1, e2, 0, 2, features.FloatValue(1), "2 events"}}, []int64{1}},
		{"a correction of the newest window wins", []hrow{drained(2, e2, 0), {2, e2, time.Hour, 1, features.FloatValue(3), "1 events"}}, []int64{2}},
		{"an older version of the newest window loses", []hrow{{2, e2, 0, 1, features.FloatValue(3), "1 events"}, drained(2, e2, time.Hour)}, nil},
		{"count 0 but a value", []hrow{{3, e1, 0, 0, features.FloatValue(1), "none for 3"}}, []int64{3}},
		{"another key's drained row", []hrow{{4, e1, 0, 0, features.Null, "none for 5"}}, []int64{4}},
		{"not a window end", []hrow{drained(6, e1.Add(time.Hour), 0)}, []int64{6}},
		{"mixed, unsorted", []hrow{drained(9, e2, 0), {8, e1, 0, 1, features.FloatValue(1), "1 events"}, drained(7, e1, 0), {10, e2, 0, 3, features.Null, "3 events"}}, []int64{8, 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := features.NewNewest(reg, v)
			for _, r := range c.rows {
				// One frame per row: versions arrive from different files.
				fr := &features.Frame{Key: intKeys(r.key), Time: []int64{features.Micros(r.end)}, Created: []int64{features.Micros(r.end.Add(r.created))}}
				cnt, mean, seen := features.NewColumn("cnt_1d", features.Int64, 1), features.NewColumn("mean_x_1d", features.Float64, 1), features.NewColumn("seen", features.String, 1)
				_ = cnt.Append(features.IntValue(r.cnt))
				_ = mean.Append(r.mean)
				_ = seen.Append(features.StringValue(r.seen))
				fr.Columns = []*features.Column{cnt, mean, seen}
				if err := n.Add(fr); err != nil {
					t.Fatal(err)
				}
			}
			keys, err := features.NotDrained(reg, v, n.Frame())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys.Ints, c.want) && !(len(keys.Ints) == 0 && len(c.want) == 0) {
				t.Fatalf("not drained %v, want %v", keys.Ints, c.want)
			}
		})
	}
}

// A panicking Fn is an error of Compute, whether the window runs on one
// goroutine or is shared among several; the test binary would die otherwise.
func TestComputePanicIsAnError(t *testing.T) {
	for _, keys := range []int{3, 20000} {
		t.Run(fmt.Sprintf("%d keys", keys), func(t *testing.T) {
			v := &features.View{Name: "boom", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
				Func: &features.FuncTransform{Version: "v1", Features: []features.Feature{{Name: "f", Type: features.Int64}},
					Fn: func(in features.FuncInput, out []features.Value) error {
						if in.Key.Int == int64(keys-1) {
							var m map[string]int
							m["boom"]++ // a nil map write: a runtime panic
						}
						out[0] = features.IntValue(in.Key.Int)
						return nil
					}}}
			reg := testRegistry(t, v)
			var evs []event
			for k := range keys {
				evs = append(evs, event{key: int64(k), t: features.Micros(t0.Add(time.Hour))})
			}
			end := t0.Add(24 * time.Hour)
			out, err := features.Compute(reg, v, eventFrame(evs), end, end)
			var pe *features.PanicError
			if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), "compute boom: panic: assignment to entry in nil map") || len(pe.Stack) == 0 {
				t.Fatalf("out %v, err %v: want a *PanicError naming the view", out, err)
			}
		})
	}
}
