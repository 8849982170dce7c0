// Package pitcases is the edge-case table of the point-in-time join
// (DESIGN.md, "Point-in-time join"), shared by every engine that implements
// it: the Go join (features.AsOfJoin) and the BigQuery SQL
// (trainingset/bqjoin). Both must give these answers, row for row.
package pitcases

import (
	"time"

	"github.com/skewfree/skewfree/features"
)

// T0 is hour 0 of the cases' times.
var T0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// At is T0 plus h hours, in microseconds.
func At(h float64) int64 { return features.Micros(T0) + int64(h*float64(time.Hour.Microseconds())) }

// Hist is one history row: key, event time and created time (hours since
// T0) and one int64 feature "v" (null when Val is nil).
type Hist struct {
	Key     string
	TS, Cr  float64
	Val     *int64
	NullKey bool
}

// Ent is one entity row at T hours (plus PlusUS microseconds, for exact
// edges).
type Ent struct {
	Key     string
	T       float64
	PlusUS  int64
	NullKey bool
}

// Basic is a case whose history is one chunk, every row known at its
// created_timestamp; the Go join also spreads it over several accumulators.
type Basic struct {
	Name      string
	Ents      []Ent
	Hist      []Hist
	TTL       time.Duration
	AsKnownAt bool
	NoCreated bool // history has no created_timestamp (null in a table)
	Want      []*int64
}

// Chunk is history from one file: one version of a window.
type Chunk struct {
	Rows      []Hist
	NoCreated bool  // the file has no created_timestamp column
	NullCR    []int // rows whose created_timestamp is null
	// Known is when the chunk's rows became known: a publication time in
	// microseconds, features.KnownAtCreated or features.NeverKnown.
	Known int64
}

// Case is the general form: history in versions, join options, answers.
type Case struct {
	Name   string
	Ents   []Ent
	Chunks []Chunk
	Opt    features.JoinOptions
	Want   []*int64
}

// Case is b in the general form.
func (b Basic) Case() Case {
	return Case{Name: b.Name, Ents: b.Ents, Want: b.Want,
		Chunks: []Chunk{{Rows: b.Hist, NoCreated: b.NoCreated, Known: features.KnownAtCreated}},
		Opt:    features.JoinOptions{TTL: b.TTL, AsKnownAt: b.AsKnownAt}}
}

func iv(v int64) *int64 { return &v }

func pub(h float64) int64 { return At(h) }

// Basics are the join's edge cases on one chunk of history.
func Basics() []Basic {
	day := 24 * time.Hour
	return []Basic{
		{Name: "equal timestamp is visible (inclusive upper bound)",
			Ents: []Ent{{Key: "a", T: 24}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}},
			Want: []*int64{iv(1)}},
		{Name: "row after T is invisible",
			Ents: []Ent{{Key: "a", T: 24}}, Hist: []Hist{{Key: "a", TS: 24.0001, Cr: 1, Val: iv(1)}},
			Want: []*int64{nil}},
		{Name: "latest row at or before T wins",
			Ents: []Ent{{Key: "a", T: 50}}, Hist: []Hist{{Key: "a", TS: 48, Cr: 48, Val: iv(2)}, {Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 72, Cr: 72, Val: iv(3)}},
			Want: []*int64{iv(2)}},
		{Name: "TTL edge exactly is inside (inclusive lower bound)",
			Ents: []Ent{{Key: "a", T: 72}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}}, TTL: 2 * day,
			Want: []*int64{iv(1)}},
		{Name: "one microsecond past TTL is outside",
			Ents: []Ent{{Key: "a", T: 72, PlusUS: 1}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}}, TTL: 2 * day,
			Want: []*int64{nil}},
		{Name: "TTL zero is unlimited",
			Ents: []Ent{{Key: "a", T: 10000}}, Hist: []Hist{{Key: "a", TS: 1, Cr: 1, Val: iv(1)}},
			Want: []*int64{iv(1)}},
		{Name: "tie on event_timestamp: greatest created wins",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 25, Val: iv(1)}, {Key: "a", TS: 24, Cr: 29, Val: iv(2)}, {Key: "a", TS: 24, Cr: 26, Val: iv(3)}},
			Want: []*int64{iv(2)}},
		{Name: "created_timestamp never beats a newer event_timestamp",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 29, Val: iv(1)}, {Key: "a", TS: 25, Cr: 25, Val: iv(2)}},
			Want: []*int64{iv(2)}},
		{Name: "null feature value of the winning row stays null (no fallback to older rows)",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 25, Cr: 25, Val: nil}},
			Want: []*int64{nil}},
		{Name: "unknown key and null key give nulls",
			Ents: []Ent{{Key: "zz", T: 30}, {NullKey: true, T: 30}, {Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {NullKey: true, TS: 24, Cr: 24, Val: iv(9)}},
			Want: []*int64{nil, nil, iv(1)}},
		{Name: "duplicate entity rows each get the answer",
			Ents: []Ent{{Key: "a", T: 30}, {Key: "a", T: 30}, {Key: "a", T: 20}, {Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 12, Cr: 12, Val: iv(0)}},
			Want: []*int64{iv(1), iv(1), iv(0), iv(1)}},
		{Name: "rows of other keys never leak",
			Ents: []Ent{{Key: "a", T: 30}, {Key: "b", T: 30}}, Hist: []Hist{{Key: "b", TS: 24, Cr: 24, Val: iv(2)}},
			Want: []*int64{nil, iv(2)}},
		{Name: "empty bucket carries the older best forward",
			Ents: []Ent{{Key: "a", T: 10}, {Key: "a", T: 20}, {Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 5, Cr: 5, Val: iv(1)}, {Key: "a", TS: 25, Cr: 25, Val: iv(3)}},
			Want: []*int64{iv(1), iv(1), iv(3)}},
		{Name: "carried value still obeys TTL",
			Ents: []Ent{{Key: "a", T: 10}, {Key: "a", T: 80}}, Hist: []Hist{{Key: "a", TS: 5, Cr: 5, Val: iv(1)}}, TTL: 2 * day,
			Want: []*int64{iv(1), nil}},
		{Name: "as-known-at hides a value computed after T",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 28, Cr: 40, Val: iv(2)}}, AsKnownAt: true,
			Want: []*int64{iv(1)}},
		{Name: "as-known-at: a correction made later is used once known",
			Ents: []Ent{{Key: "a", T: 30}, {Key: "a", T: 41}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 24, Cr: 40, Val: iv(5)}}, AsKnownAt: true,
			Want: []*int64{iv(1), iv(5)}},
		{Name: "as-known-at: backfilled old row loses to a newer known row",
			Ents: []Ent{{Key: "a", T: 50}}, Hist: []Hist{{Key: "a", TS: 10, Cr: 45, Val: iv(1)}, {Key: "a", TS: 30, Cr: 31, Val: iv(2)}}, AsKnownAt: true,
			Want: []*int64{iv(2)}},
		{Name: "without as-known-at the later correction leaks (documented default)",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 24, Cr: 40, Val: iv(5)}},
			Want: []*int64{iv(5)}},
		{Name: "many versions of a key, many label times: each label its own newest within TTL",
			Ents: []Ent{{Key: "a", T: 0.5}, {Key: "a", T: 1}, {Key: "a", T: 2.5}, {Key: "a", T: 4}, {Key: "b", T: 4}, {Key: "a", T: 5}, {Key: "a", T: 8}, {Key: "a", T: 8, PlusUS: 1}},
			Hist: []Hist{{Key: "a", TS: 3, Cr: 3, Val: iv(13)}, {Key: "a", TS: 1, Cr: 1, Val: iv(11)}, {Key: "b", TS: 3.5, Cr: 3.5, Val: iv(99)}, {Key: "a", TS: 6, Cr: 6, Val: iv(16)},
				{Key: "a", TS: 2, Cr: 2, Val: iv(12)}, {Key: "a", TS: 5, Cr: 5, Val: iv(15)}, {Key: "a", TS: 4.5, Cr: 9, Val: iv(14)}},
			TTL:  2 * time.Hour,
			Want: []*int64{nil, iv(11), iv(12), iv(13), iv(99), iv(15), iv(16), nil}},
		{Name: "exact duplicate history rows (a retried insert) give their one value",
			Ents: []Ent{{Key: "a", T: 30}},
			Hist: []Hist{{Key: "a", TS: 24, Cr: 24, Val: iv(1)}, {Key: "a", TS: 24, Cr: 20, Val: iv(9)}, {Key: "a", TS: 24, Cr: 24, Val: iv(1)}},
			Want: []*int64{iv(1)}},
		{Name: "no created_timestamp column: still the latest event",
			Ents: []Ent{{Key: "a", T: 30}}, Hist: []Hist{{Key: "a", TS: 20, Val: iv(1)}, {Key: "a", TS: 24, Val: iv(2)}}, NoCreated: true,
			Want: []*int64{iv(2)}},
	}
}

// Versions are the cases of availability (lateness), visibility rules and
// versions with their publication times (as-known-at).
func Versions() []Case {
	us := int64(-1) // one microsecond before
	L := 2 * time.Hour
	// Window E=24h of key a, first run created at 26h (after lateness) and
	// published at 26.5h; a correction created at 30h, published at 30.2h.
	prev := Chunk{Rows: []Hist{{Key: "a", TS: 0, Cr: 2, Val: iv(0)}}, Known: pub(2.5)}
	first := Chunk{Rows: []Hist{{Key: "a", TS: 24, Cr: 26, Val: iv(1)}}, Known: pub(26.5)}
	fix := Chunk{Rows: []Hist{{Key: "a", TS: 24, Cr: 30, Val: iv(2)}}, Known: pub(30.2)}
	unpublished := Chunk{Rows: []Hist{{Key: "a", TS: 24, Cr: 40, Val: iv(3)}}, Known: features.NeverKnown}
	return []Case{
		{Name: "lateness: not visible 1µs before E+L, visible at E+L",
			Ents:   []Ent{{Key: "a", T: 26, PlusUS: us}, {Key: "a", T: 26}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 26, Val: iv(1)}}, Known: features.KnownAtCreated}},
			Opt:    features.JoinOptions{Lateness: L},
			Want:   []*int64{nil, iv(1)}},
		{Name: "lateness: before E+L the previous window's row is what serving had",
			Ents:   []Ent{{Key: "a", T: 24}, {Key: "a", T: 26, PlusUS: us}},
			Chunks: []Chunk{prev, first},
			Opt:    features.JoinOptions{Lateness: L},
			Want:   []*int64{iv(0), iv(0)}},
		{Name: "feast visibility: event_timestamp <= T",
			Ents:   []Ent{{Key: "a", T: 24, PlusUS: us}, {Key: "a", T: 24}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 26, Val: iv(1)}}, Known: features.KnownAtCreated}},
			Opt:    features.JoinOptions{Lateness: L, Visibility: features.VisibleAtEventTime},
			Want:   []*int64{nil, iv(1)}},
		{Name: "TTL still counts from event_timestamp, not from availability",
			Ents:   []Ent{{Key: "a", T: 26}, {Key: "a", T: 26, PlusUS: 1}},
			Chunks: []Chunk{first},
			Opt:    features.JoinOptions{Lateness: L, TTL: L},
			Want:   []*int64{iv(1), nil}},
		{Name: "as-known-at: before the first publication, the previous window",
			Ents:   []Ent{{Key: "a", T: 26.5, PlusUS: us}},
			Chunks: []Chunk{prev, first, fix},
			Opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			Want:   []*int64{iv(0)}},
		{Name: "as-known-at: between the publications the first run, after them the correction",
			Ents:   []Ent{{Key: "a", T: 26.5}, {Key: "a", T: 30.2, PlusUS: us}, {Key: "a", T: 30.2}, {Key: "a", T: 100}},
			Chunks: []Chunk{prev, first, fix},
			Opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			Want:   []*int64{iv(1), iv(1), iv(2), iv(2)}},
		{Name: "as-known-at: a version never published is never visible",
			Ents:   []Ent{{Key: "a", T: 1000}},
			Chunks: []Chunk{first, unpublished},
			Opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			Want:   []*int64{iv(1)}},
		{Name: "without as-known-at every version counts, newest created wins",
			Ents:   []Ent{{Key: "a", T: 26}},
			Chunks: []Chunk{first, fix, unpublished},
			Opt:    features.JoinOptions{Lateness: L},
			Want:   []*int64{iv(3)}},
		{Name: "as-known-at: a late publication of an older event loses to a newer visible one, wins while the newer waits",
			// a: windows 10 and 20 published on time; a correction of 15
			// published at 30 and a late 24 published at 35; 12 at 40. b
			// interleaves to keep keys apart.
			Ents: []Ent{{Key: "a", T: 11, PlusUS: us}, {Key: "a", T: 11}, {Key: "a", T: 21}, {Key: "a", T: 30}, {Key: "b", T: 30},
				{Key: "a", T: 35, PlusUS: us}, {Key: "a", T: 35}, {Key: "a", T: 41}},
			Chunks: []Chunk{
				{Rows: []Hist{{Key: "a", TS: 10, Cr: 11, Val: iv(1)}}, Known: pub(11)},
				{Rows: []Hist{{Key: "a", TS: 20, Cr: 21, Val: iv(2)}, {Key: "b", TS: 20, Cr: 21, Val: iv(7)}}, Known: pub(21)},
				{Rows: []Hist{{Key: "a", TS: 15, Cr: 30, Val: iv(3)}}, Known: pub(30)},
				{Rows: []Hist{{Key: "a", TS: 24, Cr: 34, Val: iv(5)}, {Key: "b", TS: 24, Cr: 34, Val: iv(8)}}, Known: pub(35)},
				{Rows: []Hist{{Key: "a", TS: 12, Cr: 40, Val: iv(4)}}, Known: pub(40)},
			},
			Opt:  features.JoinOptions{Lateness: time.Hour, AsKnownAt: true},
			Want: []*int64{nil, iv(1), iv(2), iv(2), iv(7), iv(2), iv(5), iv(5)}},
		{Name: "as-known-at: TTL applies to the newest row available by T",
			// At 30 the newest available is 20 (inside 10h, inclusive); at 36
			// it is 24 published at 35, 12h old: null, though nothing newer.
			Ents: []Ent{{Key: "a", T: 30}, {Key: "a", T: 34}, {Key: "a", T: 36}},
			Chunks: []Chunk{
				{Rows: []Hist{{Key: "a", TS: 20, Cr: 21, Val: iv(2)}}, Known: pub(21)},
				{Rows: []Hist{{Key: "a", TS: 24, Cr: 34, Val: iv(5)}}, Known: pub(35)},
			},
			Opt:  features.JoinOptions{TTL: 10 * time.Hour, AsKnownAt: true},
			Want: []*int64{iv(2), nil, nil}},
		{Name: "as-known-at: published before E+L still waits for availability",
			Ents:   []Ent{{Key: "a", T: 25}, {Key: "a", T: 26}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 24.5, Val: iv(1)}}, Known: pub(24.6)}},
			Opt:    features.JoinOptions{Lateness: L, AsKnownAt: true},
			Want:   []*int64{nil, iv(1)}},
		{Name: "as-known-at, feast visibility: publication alone decides",
			Ents:   []Ent{{Key: "a", T: 24.6, PlusUS: us}, {Key: "a", T: 24.6}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 24.5, Val: iv(1)}}, Known: pub(24.6)}},
			Opt:    features.JoinOptions{Lateness: L, Visibility: features.VisibleAtEventTime, AsKnownAt: true},
			Want:   []*int64{nil, iv(1)}},
		{Name: "other tools' files: known at created_timestamp",
			Ents:   []Ent{{Key: "a", T: 30, PlusUS: us}, {Key: "a", T: 30}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 30, Val: iv(1)}}, Known: features.KnownAtCreated}},
			Opt:    features.JoinOptions{AsKnownAt: true},
			Want:   []*int64{nil, iv(1)}},
		{Name: "as-known-at: missing created_timestamp is never known",
			Ents:   []Ent{{Key: "a", T: 1000}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Val: iv(1)}}, NoCreated: true, Known: features.KnownAtCreated}},
			Opt:    features.JoinOptions{AsKnownAt: true},
			Want:   []*int64{nil}},
		{Name: "as-known-at: a null created_timestamp is never known, the row's neighbours are",
			Ents: []Ent{{Key: "a", T: 1000}, {Key: "b", T: 1000}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Cr: 25, Val: iv(1)}, {Key: "a", TS: 48, Val: iv(2)}, {Key: "b", TS: 24, Val: iv(3)}},
				NullCR: []int{1, 2}, Known: features.KnownAtCreated}},
			Opt:  features.JoinOptions{AsKnownAt: true},
			Want: []*int64{iv(1), nil}},
		{Name: "without as-known-at null created rows tie as before",
			Ents:   []Ent{{Key: "a", T: 1000}},
			Chunks: []Chunk{{Rows: []Hist{{Key: "a", TS: 24, Val: iv(1)}}, NoCreated: true, Known: features.KnownAtCreated}},
			Opt:    features.JoinOptions{},
			Want:   []*int64{iv(1)}},
	}
}

// All is every case in the general form.
func All() []Case {
	var out []Case
	for _, b := range Basics() {
		out = append(out, b.Case())
	}
	return append(out, Versions()...)
}
