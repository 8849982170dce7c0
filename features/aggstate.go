package features

import (
	"math"
	"slices"
	"strings"

	"github.com/axiomhq/hyperloglog"
)

// aggState is the mergeable intermediate state of one aggregation over a set
// of events: what a batch window folds its events into, what a fresh view's
// tile holds, and what a training set sweeps. One implementation for all
// three, in two modes:
//
//   - batch mode (views without Fresh) keeps today's batch results bit for
//     bit: float sums add in event-time order, min/max keep the first of
//     equal values, last takes the last event in time order, distinct counts
//     are exact. Batch states are never merged.
//   - fresh mode (fresh views, batch windows included) is order-independent
//     so that tiles merge in any grouping to the very same value: float sums
//     are exact and rounded once (exactSum), min/max and last's ties follow a
//     total order on values, distinct counts are a canonical sketch
//     (distinctState).
type aggState struct {
	n     int64    // Count: events; Mean: non-null values
	isum  int64    // Sum of int64 (wraps like int64 addition: order-independent)
	fsum  float64  // batch: Sum of float64 / Mean, added in event order
	exact exactSum // fresh: Sum of float64 / Mean
	has   bool     // Min, Max, Last: best is set
	best  Value
	t     int64 // Last: event time of best
	dist  distinctState
}

// addRow folds row r of col (the aggregation's column; nil for Count) at
// event time t into s. The Where filter is the caller's.
func (s *aggState) addRow(a *Aggregation, fresh bool, col *Column, r int, t int64) {
	if a.Kind == Count {
		s.n++
		return
	}
	if !col.Valid[r] {
		return
	}
	switch a.Kind {
	case Sum, Mean:
		s.addNumber(a.Kind, fresh, col, r)
	case Min, Max:
		s.addBest(a.Kind, fresh, col.Value(r))
	case Last:
		s.addLast(fresh, col.Value(r), t)
	case DistinctCount:
		s.addDistinct(fresh, col.Value(r))
	}
}

// foldRows is addRow over the rows of f (in time order) with a time in
// [from, to) that match Where: the batch windows' hot path, one loop per
// kind, each doing what addRow does.
func (s *aggState) foldRows(a *Aggregation, fresh bool, f *Frame, rows []int, from, to int64, col, where *Column) {
	skip := func(r int) bool { return skipRow(f.Time[r], from, to) || (where != nil && !a.Where.matchRow(where, r)) }
	switch {
	case a.Kind == Count:
		for _, r := range rows {
			if !skip(r) {
				s.n++
			}
		}
	case (a.Kind == Sum || a.Kind == Mean) && col.Type == Int64:
		for _, r := range rows {
			if !skip(r) && col.Valid[r] {
				s.n++
				s.isum += col.Ints[r]
				if a.Kind == Mean {
					s.addFloat(fresh, float64(col.Ints[r]))
				}
			}
		}
	case (a.Kind == Sum || a.Kind == Mean) && !fresh:
		for _, r := range rows {
			if !skip(r) && col.Valid[r] {
				s.n++
				s.fsum += col.Floats[r]
			}
		}
	case a.Kind == Last && !fresh:
		last := -1 // rows come in time order: the newest wins
		for _, r := range rows {
			if !skip(r) && col.Valid[r] {
				last = r
			}
		}
		if last >= 0 {
			s.addLast(false, col.Value(last), f.Time[last])
		}
	case a.Kind == DistinctCount && !fresh:
		for _, r := range rows {
			if !skip(r) && col.Valid[r] {
				s.addDistinct(false, col.Value(r))
			}
		}
	default:
		for _, r := range rows {
			if !skip(r) {
				s.addRow(a, fresh, col, r, f.Time[r])
			}
		}
	}
}

func skipRow(t, from, to int64) bool { return t < from || t >= to }

func (s *aggState) addNumber(kind AggKind, fresh bool, col *Column, r int) {
	s.n++
	if col.Type == Int64 {
		x := col.Ints[r]
		s.isum += x
		if kind == Mean {
			s.addFloat(fresh, float64(x))
		}
		return
	}
	s.addFloat(fresh, col.Floats[r])
}

func (s *aggState) addLast(fresh bool, v Value, t int64) {
	if !fresh {
		s.has, s.best, s.t = true, v, t // rows come in time order: the newest wins
		return
	}
	if !s.has || t > s.t || (t == s.t && totalCompare(v, s.best) > 0) {
		s.has, s.best, s.t = true, v, t
	}
}

func (s *aggState) addDistinct(fresh bool, v Value) {
	if !fresh {
		if s.dist.values == nil {
			s.dist.values = make(map[Value]struct{})
		}
		s.dist.values[v] = struct{}{}
		return
	}
	s.dist.add(hashValue(v))
}

func (s *aggState) addFloat(fresh bool, x float64) {
	if fresh {
		s.exact.add(x)
		return
	}
	s.fsum += x
}

func (s *aggState) addBest(kind AggKind, fresh bool, v Value) {
	if !s.has {
		s.has, s.best = true, v
		return
	}
	var c int
	if fresh {
		c = totalCompare(v, s.best)
	} else {
		c, _ = v.Compare(s.best)
	}
	if (kind == Min && c < 0) || (kind == Max && c > 0) {
		s.best = v
	}
}

// merge folds o (a fresh-mode state of the same aggregation) into s.
func (s *aggState) merge(a *Aggregation, o *aggState) {
	switch a.Kind {
	case Count:
		s.n += o.n
	case Sum, Mean:
		s.n += o.n
		s.isum += o.isum
		s.exact.merge(&o.exact)
	case Min, Max:
		if o.has {
			s.addBest(a.Kind, true, o.best)
		}
	case Last:
		if o.has && (!s.has || o.t > s.t || (o.t == s.t && totalCompare(o.best, s.best) > 0)) {
			s.has, s.best, s.t = true, o.best, o.t
		}
	case DistinctCount:
		s.dist.merge(&o.dist)
	}
}

// value finalizes s into the feature value: counts and sums 0 when there
// were no events, the others null.
func (s *aggState) value(a *Aggregation, fresh bool) Value {
	switch a.Kind {
	case Count:
		return IntValue(s.n)
	case Sum:
		if a.resultType == Int64 {
			return IntValue(s.isum)
		}
		return FloatValue(s.floatSum(fresh))
	case Mean:
		if s.n == 0 {
			return Null
		}
		return FloatValue(s.floatSum(fresh) / float64(s.n))
	case DistinctCount:
		if !fresh {
			return IntValue(int64(len(s.dist.values)))
		}
		return IntValue(s.dist.estimate())
	}
	if !s.has {
		return Null
	}
	return s.best
}

func (s *aggState) floatSum(fresh bool) float64 {
	if fresh {
		return s.exact.value()
	}
	return s.fsum
}

// totalCompare orders two values of the same type totally, so that min,
// max and last's ties pick the same value whatever the order of merges:
// numbers by value, NaN below every float, -0 below +0.
func totalCompare(a, b Value) int {
	switch a.typ {
	case Float64:
		x, y := a.f, b.f
		switch xn, yn := math.IsNaN(x), math.IsNaN(y); {
		case xn && yn:
			return 0
		case xn:
			return -1
		case yn:
			return 1
		}
		if x == y { // ±0
			return cmpOrdered(boolInt(!math.Signbit(x)), boolInt(!math.Signbit(y)))
		}
		return cmpOrdered(x, y)
	case String:
		return strings.Compare(a.s, b.s)
	}
	return cmpOrdered(a.i, b.i)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// exactSum sums float64 values exactly (Shewchuk's algorithm, as Python's
// math.fsum) and rounds once, so the result does not depend on the order of
// additions or merges. Non-finite inputs make the sum non-finite: NaN if
// any is NaN or both infinities occur, else the infinity. A sum of finite
// values that overflows is that infinity (the one case where the order of
// additions may matter).
type exactSum struct {
	partials  []float64 // non-overlapping, increasing magnitude
	special   float64   // sum of non-finite inputs; valid when nonFinite
	nonFinite bool
}

func (s *exactSum) add(x float64) {
	if s.nonFinite {
		s.special += x
		return
	}
	if math.IsInf(x, 0) || math.IsNaN(x) {
		s.nonFinite, s.special, s.partials = true, x, nil
		return
	}
	i := 0
	for _, y := range s.partials {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		if math.IsInf(hi, 0) {
			s.nonFinite, s.special, s.partials = true, hi, nil
			return
		}
		lo := y - (hi - x)
		if lo != 0 {
			s.partials[i] = lo
			i++
		}
		x = hi
	}
	s.partials = append(s.partials[:i], x)
}

func (s *exactSum) merge(o *exactSum) {
	if o.nonFinite {
		if s.nonFinite {
			s.special += o.special
		} else {
			s.nonFinite, s.special, s.partials = true, o.special, nil
		}
		return
	}
	for _, p := range o.partials {
		s.add(p)
	}
}

// value is the exact sum rounded to the nearest float64 (ties to even).
func (s *exactSum) value() float64 {
	if s.nonFinite {
		return s.special
	}
	p := s.partials
	n := len(p)
	if n == 0 {
		return 0
	}
	n--
	hi := p[n]
	var lo float64
	for n > 0 {
		x := hi
		n--
		y := p[n]
		hi = x + y
		lo = y - (hi - x)
		if lo != 0 {
			break
		}
	}
	// Correct for the rounding of hi when the rest lies exactly half way.
	if n > 0 && ((lo < 0 && p[n-1] < 0) || (lo > 0 && p[n-1] > 0)) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}

// Distinct counts of fresh views are estimated from a sketch whose content
// depends only on the set of distinct values, never on how it was built:
// up to exactDistinct distinct values it is the sorted set of their 64-bit
// hashes (an exact count, up to hash collisions); beyond, a dense
// HyperLogLog (github.com/axiomhq/hyperloglog) of sketchPrecision, whose
// registers are the maximum over the same hashes. So merging tiles in any
// grouping or order gives the same sketch and the same estimate, online and
// offline. (The library's sparse representation is not used: its
// conversion to dense, and so its estimate, depends on insertion order.)
const (
	exactDistinct   = 256
	sketchPrecision = 12 // 4096 one-byte registers: ~1.6% standard error
)

type distinctState struct {
	hashes []uint64            // fresh, exact: sorted, unique
	sketch *hyperloglog.Sketch // fresh, beyond exactDistinct: dense
	values map[Value]struct{}  // batch views: exact, as before
}

func (d *distinctState) add(h uint64) {
	if d.sketch != nil {
		d.sketch.InsertHash(h)
		return
	}
	i, found := slices.BinarySearch(d.hashes, h)
	if found {
		return
	}
	d.hashes = slices.Insert(d.hashes, i, h)
	if len(d.hashes) > exactDistinct {
		d.toSketch()
	}
}

func (d *distinctState) toSketch() {
	sk, _ := hyperloglog.NewSketch(sketchPrecision, false) // the precision is valid
	for _, h := range d.hashes {
		sk.InsertHash(h)
	}
	d.sketch, d.hashes = sk, nil
}

func (d *distinctState) merge(o *distinctState) {
	if o.sketch != nil {
		if d.sketch == nil {
			d.toSketch()
		}
		_ = d.sketch.Merge(o.sketch) // same precision, both dense
		return
	}
	for _, h := range o.hashes {
		d.add(h)
	}
}

func (d *distinctState) estimate() int64 {
	if d.sketch != nil {
		return int64(d.sketch.Estimate())
	}
	return int64(len(d.hashes))
}

// hashValue is a stable 64-bit hash of a non-null value (FNV-1a over its
// type and bytes, then a 64-bit finalizer so that HyperLogLog sees uniform
// bits). -0 hashes as +0 and every NaN alike. Stored sketches depend on it:
// changing it needs a new TileState format version.
func hashValue(v Value) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	h = (h ^ uint64(v.typ)) * prime
	var bits uint64
	switch v.typ {
	case String:
		for i := 0; i < len(v.s); i++ {
			h = (h ^ uint64(v.s[i])) * prime
		}
		return mix64(h)
	case Float64:
		f := v.f
		switch {
		case f == 0:
			f = 0
		case math.IsNaN(f):
			f = math.NaN()
		}
		bits = math.Float64bits(f)
	default:
		bits = uint64(v.i)
	}
	for i := 0; i < 8; i++ {
		h = (h ^ (bits & 0xff)) * prime
		bits >>= 8
	}
	return mix64(h)
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
