package features

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// AsOfJoin is the point-in-time join of one view against a set of entity rows
// (see DESIGN.md, "Point-in-time join"). For every entity row (key k, time T)
// it finds the history row of k that is visible at T (by default available:
// event_timestamp + lateness <= T; with VisibleAtEventTime Feast's
// event_timestamp <= T) and within TTL (T-ttl <= event_timestamp), with the
// greatest (event_timestamp, created_timestamp).
//
// History is streamed through it, never held: the entity rows of each key are
// cut into buckets by their distinct times, and each bucket keeps only the
// best history row that landed in it. A row for time T is then the best of
// all buckets up to T's. So memory is proportional to the entity rows, not to
// the history, and history can be read in any order by any number of
// Accumulators in parallel.
//
// With AsKnownAt, a history row is visible at T only if its version was also
// known by then: published (see AddKnown), so a training row at T holds what
// serving returned at T, and later backfills and corrections never leak into
// it.
type AsOfJoin struct {
	keyType   Type
	ttl       int64 // microseconds; 0 = unlimited
	delay     int64 // microseconds from event_timestamp to visibility
	asKnownAt bool
	features  []Feature

	// Key ids follow key order (keyIDs), so history sorted by key, as every
	// file Compute writes is, walks the bucket arrays front to back.
	ints keyIDs[int64]
	strs keyIDs[string]
	// bucketStart[id]..bucketStart[id+1] are key id's buckets in bucketT,
	// holding its distinct entity-row times in ascending order.
	bucketStart []int32
	bucketT     []int64
	rowBucket   []int32 // per entity row; -1 = no key
}

// JoinOptions tunes an AsOfJoin.
type JoinOptions struct {
	TTL time.Duration // the view's TTL; 0 = unlimited
	// Lateness is the view's allowed lateness: under VisibleWhenAvailable a
	// row is visible from event_timestamp + Lateness, when its scheduled run
	// starts.
	Lateness   time.Duration
	Visibility Visibility
	// AsKnownAt also requires the row's version to be known (published) by
	// T; see Accumulator.AddKnown.
	AsKnownAt bool
}

// Visibility is the rule for when a history row becomes visible to a
// training row at T. The zero value is the default, VisibleWhenAvailable.
type Visibility uint8

const (
	// VisibleWhenAvailable: event_timestamp + lateness <= T. The scheduled
	// run of window E starts at E + lateness, so serving cannot have the
	// row earlier.
	VisibleWhenAvailable Visibility = iota
	// VisibleAtEventTime: Feast's rule, event_timestamp <= T.
	VisibleAtEventTime
)

// String is the flag spelling: "available" or "feast".
func (v Visibility) String() string {
	if v == VisibleAtEventTime {
		return "feast"
	}
	return "available"
}

// ParseVisibility reads "available" (or "") and "feast".
func ParseVisibility(s string) (Visibility, error) {
	switch s {
	case "", "available":
		return VisibleWhenAvailable, nil
	case "feast":
		return VisibleAtEventTime, nil
	}
	return 0, fmt.Errorf("%w: visibility %q: want available (event_timestamp + lateness <= T) or feast (event_timestamp <= T)", ErrInput, s)
}

// Known-at times of a history chunk for Accumulator.AddKnown, besides a
// publication time in microseconds.
const (
	// KnownAtCreated: each row is known at its own created_timestamp; a
	// null or missing one is never known.
	KnownAtCreated int64 = math.MinInt64
	// NeverKnown: the chunk's version was never published.
	NeverKnown int64 = math.MaxInt64
)

// NewAsOfJoin prepares the join for entity rows (keys, times), restricted to
// the rows listed in only when only is not nil (the others get nulls). times
// are microseconds. feats are the history columns to carry, in order.
func NewAsOfJoin(keys *Column, times []int64, only []int32, feats []Feature, opt JoinOptions) *AsOfJoin {
	j := &AsOfJoin{keyType: keys.Type, ttl: opt.TTL.Microseconds(), asKnownAt: opt.AsKnownAt, features: feats}
	if opt.Visibility == VisibleWhenAvailable {
		j.delay = max(opt.Lateness.Microseconds(), 0)
	}
	n := len(times)
	if only == nil {
		only = make([]int32, n)
		for i := range only {
			only[i] = int32(i)
		}
	}
	owned := make([]bool, n)
	for _, r := range only {
		owned[r] = true
	}
	var rowID []int32
	var nid int32
	j.ints, j.strs, rowID, nid = numberColumn(keys, func(i int) bool { return owned[i] })
	// Counting sort of the rows by key id, then each key's times sorted and
	// deduplicated into buckets.
	count := make([]int32, nid+1)
	for _, r := range only {
		if id := rowID[r]; id >= 0 {
			count[id+1]++
		}
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	byKey := make([]int64, count[nid])
	pos := slices.Clone(count[:nid])
	for _, r := range only {
		if id := rowID[r]; id >= 0 {
			byKey[pos[id]] = times[r]
			pos[id]++
		}
	}
	j.bucketStart = make([]int32, nid+1)
	j.bucketT = make([]int64, 0, len(byKey))
	for id := int32(0); id < nid; id++ {
		ts := byKey[count[id]:count[id+1]]
		slices.Sort(ts)
		j.bucketStart[id] = int32(len(j.bucketT))
		for i, t := range ts {
			if i == 0 || t != ts[i-1] {
				j.bucketT = append(j.bucketT, t)
			}
		}
	}
	j.bucketStart[nid] = int32(len(j.bucketT))
	j.rowBucket = make([]int32, n)
	for r := range j.rowBucket {
		id := rowID[r]
		if id < 0 {
			j.rowBucket[r] = -1
			continue
		}
		b := j.bucketT[j.bucketStart[id]:j.bucketStart[id+1]]
		k, _ := slices.BinarySearch(b, times[r])
		j.rowBucket[r] = j.bucketStart[id] + int32(k)
	}
	return j
}

// Buckets is the number of distinct (key, time) pairs: what memory scales with.
func (j *AsOfJoin) Buckets() int { return len(j.bucketT) }

// Accumulator collects the best history row per bucket from the history
// chunks given to Add. One Accumulator is not safe for concurrent use; use one
// per goroutine and pass them all to Result.
type Accumulator struct {
	j       *AsOfJoin
	ts      []int64 // math.MinInt64 = empty
	created []int64
	// rank breaks exact ties on both timestamps by the rank of the chunk
	// the row came from (Add's rank), so the answer does not depend on
	// which worker read which file first.
	rank []int64
	vals []*Column
}

// NewAccumulator returns an empty accumulator.
func (j *AsOfJoin) NewAccumulator() *Accumulator {
	n := len(j.bucketT)
	a := &Accumulator{j: j, ts: make([]int64, n), created: make([]int64, n), rank: make([]int64, n)}
	for i := range a.ts {
		a.ts[i] = math.MinInt64
	}
	for _, f := range j.features {
		a.vals = append(a.vals, NewNullColumn(f.Name, f.Type, n))
	}
	return a
}

// Add offers history rows: h.Key, h.Time (event_timestamp), h.Created (nil
// means unknown: every row ties) and h.Columns in the order of the join's
// features. rank orders chunks for exact ties on both timestamps (the
// higher rank wins; within one chunk the first row does): give each file
// its index in a sorted file list so that results are reproducible.
// Under AsKnownAt each row is known at its created_timestamp (see AddKnown).
func (a *Accumulator) Add(h *Frame, rank int64) { a.AddKnown(h, rank, KnownAtCreated) }

// AddKnown is Add for a chunk whose rows became known at knownAt
// (microseconds: the publication time of their version), or NeverKnown, or
// KnownAtCreated. knownAt matters only under AsKnownAt, where a row is
// visible at T only if also known by T.
func (a *Accumulator) AddKnown(h *Frame, rank, knownAt int64) {
	j := a.j
	last := int32(-1) // id of the previous row's key, for sorted input
	for r := range h.Time {
		if !h.Key.Valid[r] {
			continue
		}
		var id int32
		if j.keyType == String {
			id = j.strs.lookup(h.Key.Strings[r], last)
		} else {
			id = j.ints.lookup(h.Key.Ints[r], last)
		}
		if id < 0 {
			continue
		}
		last = id
		ts := h.Time[r]
		created := int64(math.MinInt64)
		if h.Created != nil {
			created = h.Created[r]
		}
		visible := ts + j.delay
		if j.asKnownAt {
			known := knownAt
			if known == KnownAtCreated {
				known = created
				if known == math.MinInt64 { // null or missing: never known
					known = NeverKnown
				}
			}
			if known == NeverKnown {
				continue
			}
			visible = max(visible, known)
		}
		lo, hi := j.bucketStart[id], j.bucketStart[id+1]
		// First bucket whose time is >= visible.
		for lo < hi {
			m := int32(uint32(lo+hi) >> 1)
			if j.bucketT[m] < visible {
				lo = m + 1
			} else {
				hi = m
			}
		}
		b := lo
		if b == j.bucketStart[id+1] {
			continue // newer than every entity row of this key
		}
		if j.ttl > 0 && ts < j.bucketT[b]-j.ttl {
			continue // too old for this bucket, hence for every later one
		}
		if !better(ts, created, rank, a.ts[b], a.created[b], a.rank[b]) {
			continue
		}
		a.ts[b], a.created[b], a.rank[b] = ts, created, rank
		for f, c := range a.vals {
			c.CopyRow(int(b), h.Columns[f], r)
		}
	}
}

// Fill merges the accumulators and writes the answer of every entity row this
// join owns into dst (one column per feature, one entry per entity row, made
// with NewNullColumn); rows without a qualifying history row, and rows the
// join does not own, are left untouched. Callers that partition the entity
// rows by key hash fill one dst from every partition's join.
func (j *AsOfJoin) Fill(dst []*Column, accs ...*Accumulator) {
	n := len(j.bucketT)
	// winner[b]: which accumulator and bucket holds bucket b's answer.
	type ref struct {
		acc int32
		b   int32
	}
	win := make([]ref, n)
	for b := range win {
		win[b] = ref{-1, -1}
		for i, a := range accs {
			if a.ts[b] == math.MinInt64 {
				continue
			}
			w := win[b]
			if w.acc < 0 || better(a.ts[b], a.created[b], a.rank[b], accs[w.acc].ts[b], accs[w.acc].created[b], accs[w.acc].rank[b]) {
				win[b] = ref{int32(i), int32(b)}
			}
		}
	}
	// Carry the running best forward through each key's buckets, then apply
	// the TTL: the running best has the greatest event_timestamp of all rows
	// visible at T, so if it is too old, every candidate is.
	ans := make([]ref, n)
	for id := 0; id+1 < len(j.bucketStart); id++ {
		cur := ref{-1, -1}
		for b := j.bucketStart[id]; b < j.bucketStart[id+1]; b++ {
			if w := win[b]; w.acc >= 0 {
				if cur.acc < 0 || better(accs[w.acc].ts[w.b], accs[w.acc].created[w.b], accs[w.acc].rank[w.b], accs[cur.acc].ts[cur.b], accs[cur.acc].created[cur.b], accs[cur.acc].rank[cur.b]) {
					cur = w
				}
			}
			ans[b] = cur
			if cur.acc >= 0 && j.ttl > 0 && accs[cur.acc].ts[cur.b] < j.bucketT[b]-j.ttl {
				ans[b] = ref{-1, -1}
			}
		}
	}
	for f, c := range dst {
		for r, b := range j.rowBucket {
			if b < 0 {
				continue
			}
			if w := ans[b]; w.acc >= 0 {
				c.CopyRow(r, accs[w.acc].vals[f], int(w.b))
			}
		}
	}
}

func better(ts, created, rank, ts2, created2, rank2 int64) bool {
	return cmp.Or(cmp.Compare(ts, ts2), cmp.Compare(created, created2), cmp.Compare(rank, rank2)) > 0
}
