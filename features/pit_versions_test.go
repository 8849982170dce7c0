package features_test

import (
	"math"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// chunk is history from one file: one version of a window.
type chunk struct {
	rows      []hrow
	noCreated bool  // the file has no created_timestamp column
	nullCR    []int // rows whose created_timestamp is null
	known     int64 // AddKnown's knownAt: a publication time, or a sentinel
}

func pub(h float64) int64 { return at(h) }

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
	us := int64(-1) // one microsecond before
	L := 2 * time.Hour
	// Window E=24h of key a, first run created at 26h (after lateness) and
	// published at 26.5h; a correction created at 30h, published at 30.2h.
	prev := chunk{rows: []hrow{{key: "a", ts: 0, cr: 2, val: iv(0)}}, known: pub(2.5)}
	first := chunk{rows: []hrow{{key: "a", ts: 24, cr: 26, val: iv(1)}}, known: pub(26.5)}
	fix := chunk{rows: []hrow{{key: "a", ts: 24, cr: 30, val: iv(2)}}, known: pub(30.2)}
	unpublished := chunk{rows: []hrow{{key: "a", ts: 24, cr: 40, val: iv(3)}}, known: features.NeverKnown}
	cases := []struct {
		name   string
		ents   []erow
		chunks []chunk
		opt    features.JoinOptions
		want   []*int64
	}{
		{name: "lateness: not visible 1µs before E+L, visible at E+L",
			ents:   []erow{{key: "a", t: 26, plusUS: us}, {key: "a", t: 26}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 26, val: iv(1)}}, known: features.KnownAtCreated}},
			opt:    features.JoinOptions{Lateness: L},
			want:   []*int64{nil, iv(1)}},
		{name: "lateness: before E+L the previous window's row is what serving had",
			ents:   []erow{{key: "a", t: 24}, {key: "a", t: 26, plusUS: us}},
			chunks: []chunk{prev, first},
			opt:    features.JoinOptions{Lateness: L},
			want:   []*int64{iv(0), iv(0)}},
		{name: "feast visibility: event_timestamp <= T",
			ents:   []erow{{key: "a", t: 24, plusUS: us}, {key: "a", t: 24}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 26, val: iv(1)}}, known: features.KnownAtCreated}},
			opt:    features.JoinOptions{Lateness: L, Visibility: features.VisibleAtEventTime},
			want:   []*int64{nil, iv(1)}},
		{name: "TTL still counts from event_timestamp, not from availability",
			ents:   []erow{{key: "a", t: 26}, {key: "a", t: 26, plusUS: 1}},
			chunks: []chunk{first},
			opt:    features.JoinOptions{Lateness: L, TTL: L},
			want:   []*int64{iv(1), nil}},
		{name: "as-known-at: before the first publication, the previous window",
			ents:   []erow{{key: "a", t: 26.5, plusUS: us}},
			chunks: []chunk{prev, first, fix},
			opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			want:   []*int64{iv(0)}},
		{name: "as-known-at: between the publications the first run, after them the correction",
			ents:   []erow{{key: "a", t: 26.5}, {key: "a", t: 30.2, plusUS: us}, {key: "a", t: 30.2}, {key: "a", t: 100}},
			chunks: []chunk{prev, first, fix},
			opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			want:   []*int64{iv(1), iv(1), iv(2), iv(2)}},
		{name: "as-known-at: a version never published is never visible",
			ents:   []erow{{key: "a", t: 1000}},
			chunks: []chunk{first, unpublished},
			opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			want:   []*int64{iv(1)}},
		{name: "without as-known-at every version counts, newest created wins",
			ents:   []erow{{key: "a", t: 26}},
			chunks: []chunk{first, fix, unpublished},
			opt:    features.JoinOptions{Lateness: L},
			want:   []*int64{iv(3)}},
		{name: "as-known-at: published before E+L still waits for availability",
			ents:   []erow{{key: "a", t: 25}, {key: "a", t: 26}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 24.5, val: iv(1)}}, known: pub(24.6)}},
			opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			want:   []*int64{nil, iv(1)}},
		{name: "as-known-at, feast visibility: publication alone decides",
			ents:   []erow{{key: "a", t: 24.6, plusUS: us}, {key: "a", t: 24.6}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 24.5, val: iv(1)}}, known: pub(24.6)}},
			opt:    features.JoinOptions{Lateness: L, Visibility: features.VisibleAtEventTime, AsKnownAt: true},
			want:   []*int64{nil, iv(1)}},
		{name: "other tools' files: known at created_timestamp",
			ents:   []erow{{key: "a", t: 30, plusUS: us}, {key: "a", t: 30}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 30, val: iv(1)}}, known: features.KnownAtCreated}},
			opt:    features.JoinOptions{AsKnownAt: true},
			want:   []*int64{nil, iv(1)}},
		{name: "as-known-at: missing created_timestamp is never known",
			ents:   []erow{{key: "a", t: 1000}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, val: iv(1)}}, noCreated: true, known: features.KnownAtCreated}},
			opt:    features.JoinOptions{AsKnownAt: true},
			want:   []*int64{nil}},
		{name: "as-known-at: a null created_timestamp is never known, the row's neighbours are",
			ents: []erow{{key: "a", t: 1000}, {key: "b", t: 1000}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, cr: 25, val: iv(1)}, {key: "a", ts: 48, val: iv(2)}, {key: "b", ts: 24, val: iv(3)}},
				nullCR: []int{1, 2}, known: features.KnownAtCreated}},
			opt:  features.JoinOptions{AsKnownAt: true},
			want: []*int64{iv(1), nil}},
		{name: "without as-known-at null created rows tie as before",
			ents:   []erow{{key: "a", t: 1000}},
			chunks: []chunk{{rows: []hrow{{key: "a", ts: 24, val: iv(1)}}, noCreated: true, known: features.KnownAtCreated}},
			opt:    features.JoinOptions{},
			want:   []*int64{iv(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runVersions(t, tc.ents, tc.chunks, tc.opt)
			for i, w := range tc.want {
				want := features.Null
				if w != nil {
					want = features.IntValue(*w)
				}
				if !got[i].Equal(want) {
					t.Errorf("row %d (T=%s): got %s, want %s", i, features.FromMicros(at(tc.ents[i].t)+tc.ents[i].plusUS), got[i], want)
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
