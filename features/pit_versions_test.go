package features_test

import (
	"math"
	"testing"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/pitcases"
)

// chunk is history from one file: one version of a window.
type chunk struct {
	rows      []hrow
	noCreated bool  // the file has no created_timestamp column
	nullCR    []int // rows whose created_timestamp is null
	known     int64 // AddKnown's knownAt: a publication time, or a sentinel
}

func runVersions(t *testing.T, ents []erow, chunks []chunk, opt features.JoinOptions) []features.Value {
	t.Helper()
	j := newJoin(ents, opt)
	// One accumulator per chunk, as parallel workers reading one file each.
	var accs []*features.Accumulator
	for i, c := range chunks {
		f := historyFrame(c.rows, !c.noCreated)
		for _, r := range c.nullCR {
			f.Created[r] = math.MinInt64
		}
		a := j.NewAccumulator()
		a.AddKnown(f, int64(i), c.known)
		accs = append(accs, a)
	}
	return fillValues(j, len(ents), accs)
}

func TestAsOfJoinAvailabilityAndVersions(t *testing.T) {
	for _, tc := range pitcases.Versions() {
		t.Run(tc.Name, func(t *testing.T) {
			ents, _ := fromCase(tc.Ents, nil)
			var chunks []chunk
			for _, c := range tc.Chunks {
				_, rows := fromCase(nil, c.Rows)
				chunks = append(chunks, chunk{rows: rows, noCreated: c.NoCreated, nullCR: c.NullCR, known: c.Known})
			}
			got := runVersions(t, ents, chunks, tc.Opt)
			for i, w := range tc.Want {
				want := features.Null
				if w != nil {
					want = features.IntValue(*w)
				}
				if !got[i].Equal(want) {
					t.Errorf("row %d (T=%s): got %s, want %s", i, features.FromMicros(at(ents[i].t)+ents[i].plusUS), got[i], want)
				}
			}
		})
	}
}

func TestParseVisibility(t *testing.T) {
	for _, c := range []struct {
		in   string
		want features.Visibility
		ok   bool
	}{{"", features.VisibleWhenAvailable, true}, {"available", features.VisibleWhenAvailable, true}, {"feast", features.VisibleAtEventTime, true}, {"Feast", 0, false}, {"x", 0, false}} {
		got, err := features.ParseVisibility(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseVisibility(%q) = %v, %v", c.in, got, err)
		}
		if c.ok && c.in != "" && got.String() != c.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}
