package features_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/pitcases"
)

// hrow is one history row for the table tests: key, event time, created time
// (hours since t0) and one int value (null when nil).
type hrow struct {
	key     string
	ts, cr  float64
	val     *int64
	nullKey bool
}

func iv(v int64) *int64 { return &v }

var t0 = pitcases.T0

func at(h float64) int64 { return pitcases.At(h) }

func historyFrame(rows []hrow, withCreated bool) *features.Frame {
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, 0)}
	val := features.NewColumn("v", features.Int64, 0)
	for _, r := range rows {
		k := features.StringValue(r.key)
		if r.nullKey {
			k = features.Null
		}
		_ = f.Key.Append(k)
		f.Time = append(f.Time, at(r.ts))
		if withCreated {
			f.Created = append(f.Created, at(r.cr))
		}
		v := features.Null
		if r.val != nil {
			v = features.IntValue(*r.val)
		}
		_ = val.Append(v)
	}
	f.Columns = []*features.Column{val}
	return f
}

type erow struct {
	key     string
	t       float64
	plusUS  int64 // added to t, for exact microsecond edges
	nullKey bool
}

func runJoin(t *testing.T, ents []erow, hist []hrow, opt features.JoinOptions, withCreated bool, split int) []features.Value {
	t.Helper()
	j := newJoin(ents, opt)
	// Spread history over split accumulators, as parallel workers would.
	var accs []*features.Accumulator
	for i := 0; i < split; i++ {
		var part []hrow
		for k := i; k < len(hist); k += split {
			part = append(part, hist[k])
		}
		a := j.NewAccumulator()
		a.Add(historyFrame(part, withCreated), int64(i))
		accs = append(accs, a)
	}
	return fillValues(j, len(ents), accs)
}

// newJoin is the join of entity rows ents for one int64 feature "v".
func newJoin(ents []erow, opt features.JoinOptions) *features.AsOfJoin {
	keys := features.NewColumn("user_id", features.String, 0)
	var times []int64
	for _, e := range ents {
		k := features.StringValue(e.key)
		if e.nullKey {
			k = features.Null
		}
		_ = keys.Append(k)
		times = append(times, at(e.t)+e.plusUS)
	}
	return features.NewAsOfJoin(keys, times, nil, []features.Feature{{Name: "v", Type: features.Int64}}, opt)
}

// fillValues merges accs and returns feature v of each of the n entity rows.
func fillValues(j *features.AsOfJoin, n int, accs []*features.Accumulator) []features.Value {
	dst := []*features.Column{features.NewNullColumn("v", features.Int64, n)}
	j.Fill(dst, accs...)
	out := make([]features.Value, n)
	for i := range out {
		out[i] = dst[0].Value(i)
	}
	return out
}

// fromCase converts the shared fixture's rows (internal/pitcases).
func fromCase(es []pitcases.Ent, hs []pitcases.Hist) ([]erow, []hrow) {
	var ents []erow
	for _, e := range es {
		ents = append(ents, erow{key: e.Key, t: e.T, plusUS: e.PlusUS, nullKey: e.NullKey})
	}
	var hist []hrow
	for _, h := range hs {
		hist = append(hist, hrow{key: h.Key, ts: h.TS, cr: h.Cr, val: h.Val, nullKey: h.NullKey})
	}
	return ents, hist
}

// TestAsOfJoinCases runs the shared edge-case table (internal/pitcases),
// which the BigQuery engine runs too.
func TestAsOfJoinCases(t *testing.T) {
	for _, tc := range pitcases.Basics() {
		t.Run(tc.Name, func(t *testing.T) {
			ents, hist := fromCase(tc.Ents, tc.Hist)
			for _, split := range []int{1, 2, 3} {
				got := runJoin(t, ents, hist, features.JoinOptions{TTL: tc.TTL, AsKnownAt: tc.AsKnownAt}, !tc.NoCreated, split)
				for i, w := range tc.Want {
					want := features.Null
					if w != nil {
						want = features.IntValue(*w)
					}
					if !got[i].Equal(want) {
						t.Errorf("split %d: row %d = %s, want %s", split, i, got[i], want)
					}
				}
			}
		})
	}
}

// bruteForce is the contract of DESIGN.md written as plainly as possible.
func bruteForce(ents []erow, hist []hrow, ttl time.Duration, asKnownAt bool) []features.Value {
	out := make([]features.Value, len(ents))
	for i, e := range ents {
		T := at(e.t)
		best := -1
		for k, h := range hist {
			if e.nullKey || h.nullKey || h.key != e.key {
				continue
			}
			ts, cr := at(h.ts), at(h.cr)
			if ts > T || (ttl > 0 && ts < T-ttl.Microseconds()) || (asKnownAt && cr > T) {
				continue
			}
			if best < 0 || ts > at(hist[best].ts) || (ts == at(hist[best].ts) && cr > at(hist[best].cr)) {
				best = k
			}
		}
		if best >= 0 && hist[best].val != nil {
			out[i] = features.IntValue(*hist[best].val)
		}
	}
	return out
}

func TestAsOfJoinMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for iter := 0; iter < 300; iter++ {
		nkeys := 1 + rng.IntN(6)
		key := func() string { return string(rune('a' + rng.IntN(nkeys+1))) } // one key never in history
		// Coarse times so ties on event and created times are common.
		tm := func() float64 { return float64(rng.IntN(20)) }
		var hist []hrow
		for range rng.IntN(40) {
			ts := tm()
			h := hrow{key: key(), ts: ts, cr: ts + float64(rng.IntN(4)), val: iv(rng.Int64N(1000))}
			if rng.IntN(8) == 0 {
				h.val = nil
			}
			hist = append(hist, h)
		}
		var ents []erow
		for range 1 + rng.IntN(30) {
			ents = append(ents, erow{key: key(), t: tm()})
		}
		ttl := time.Duration(rng.IntN(3)) * 3 * time.Hour
		asKnownAt := rng.IntN(2) == 0
		want := bruteForce(ents, hist, ttl, asKnownAt)
		got := runJoin(t, ents, hist, features.JoinOptions{TTL: ttl, AsKnownAt: asKnownAt}, true, 1+rng.IntN(3))
		for i := range want {
			// Exact ties on (event, created) with different values may pick
			// either row; the brute force picks the first, so compare the
			// (ts, created) of the answer's candidates instead when tied.
			if !got[i].Equal(want[i]) && !tiedAlternative(ents[i], hist, ttl, asKnownAt, got[i]) {
				t.Fatalf("iter %d row %d (%+v, ttl %s, asKnownAt %v): got %s, want %s\nhistory %+v", iter, i, ents[i], ttl, asKnownAt, got[i], want[i], hist)
			}
		}
	}
}

// tiedAlternative reports whether got is the value of another history row
// tied with the brute-force winner on both timestamps.
func tiedAlternative(e erow, hist []hrow, ttl time.Duration, asKnownAt bool, got features.Value) bool {
	T := at(e.t)
	bestTS, bestCR := int64(math.MinInt64), int64(math.MinInt64)
	for _, h := range hist {
		ts, cr := at(h.ts), at(h.cr)
		if h.key != e.key || ts > T || (ttl > 0 && ts < T-ttl.Microseconds()) || (asKnownAt && cr > T) {
			continue
		}
		if ts > bestTS || (ts == bestTS && cr > bestCR) {
			bestTS, bestCR = ts, cr
		}
	}
	for _, h := range hist {
		if h.key == e.key && at(h.ts) == bestTS && at(h.cr) == bestCR {
			v := features.Null
			if h.val != nil {
				v = features.IntValue(*h.val)
			}
			if v.Equal(got) {
				return true
			}
		}
	}
	return false
}
