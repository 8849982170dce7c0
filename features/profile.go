package features

import (
	"cmp"
	"math"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

// TopValuesLimit is how many of a string feature's most frequent values
// Profile keeps.
const TopValuesLimit = 5

// topValuesTracked bounds the distinct values whose counts Profile keeps
// for top values: up to that many distinct values the top values are exact;
// past it, values first seen after the bound are no longer counted (the
// distinct estimate still sees them), so a run's profile costs bounded
// memory whatever the cardinality.
const topValuesTracked = 10_000

// Profile describes each of view v's features in a computed frame f: rows,
// nulls, and by type min/max/mean (numbers), top values and a distinct
// estimate (strings) or the ratio of true values (bools). Non-finite
// floats (NaN, ±Inf) are counted in NonFinite and left out of min, max and
// mean, so the numbers stay comparable (and encodable as JSON). A feature
// the frame lacks is profiled as all null. It is pure and deterministic:
// the same frame gives the same stats, top-value ties broken by value.
//
// The distinct estimate is a HyperLogLog sketch (precision 14, sparse for
// small counts, so exact in practice below a few thousand values and within
// about 1% above).
func Profile(f *Frame, v *View) []FeatureStats {
	feats := v.Features()
	out := make([]FeatureStats, 0, len(feats))
	for _, ft := range feats {
		out = append(out, profileColumn(f.Column(ft.Name), ft, int64(f.Len())))
	}
	return out
}

func profileColumn(c *Column, ft Feature, rows int64) FeatureStats {
	st := FeatureStats{Name: ft.Name, Type: ft.Type, Rows: rows}
	if c == nil || c.Type != ft.Type || int64(c.Len()) != rows {
		st.Nulls = rows
		if ft.Type == String {
			st.Distinct = new(int64)
		}
		return st
	}
	switch ft.Type {
	case Int64, Float64:
		var n int64
		var lo, hi, mean float64
		for i, ok := range c.Valid {
			if !ok {
				st.Nulls++
				continue
			}
			var x float64
			if ft.Type == Int64 {
				x = float64(c.Ints[i])
			} else {
				x = c.Floats[i]
				if math.IsNaN(x) || math.IsInf(x, 0) {
					st.NonFinite++
					continue
				}
			}
			n++
			if n == 1 {
				lo, hi = x, x
			} else {
				lo, hi = min(lo, x), max(hi, x)
			}
			// A running mean cannot overflow where a sum of large values would.
			mean += (x - mean) / float64(n)
		}
		if n > 0 {
			st.Min, st.Max, st.Mean = &lo, &hi, &mean
		}
	case String:
		sk := hyperloglog.New14()
		counts := map[string]int64{}
		for i, ok := range c.Valid {
			if !ok {
				st.Nulls++
				continue
			}
			s := c.Strings[i]
			sk.Insert([]byte(s))
			if n, seen := counts[s]; seen || len(counts) < topValuesTracked {
				counts[s] = n + 1
			}
		}
		d := int64(sk.Estimate())
		st.Distinct = &d
		st.Top = topValues(counts, TopValuesLimit)
	case Bool:
		var n, trues int64
		for i, ok := range c.Valid {
			if !ok {
				st.Nulls++
				continue
			}
			n++
			if c.Bools[i] {
				trues++
			}
		}
		if n > 0 {
			r := float64(trues) / float64(n)
			st.TrueRatio = &r
		}
	}
	return st
}

// topValues returns the k most frequent values, most frequent first, ties
// by value so the result does not depend on map order.
func topValues(counts map[string]int64, k int) []TopValue {
	if len(counts) == 0 {
		return nil
	}
	all := make([]TopValue, 0, len(counts))
	for v, n := range counts {
		all = append(all, TopValue{Value: v, Count: n})
	}
	slices.SortFunc(all, func(a, b TopValue) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	if len(all) > k {
		all = all[:k:k]
	}
	return all
}
