package features

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// CheckKind names a data-quality check; it is the "check" of a CheckResult.
type CheckKind string

const (
	CheckMaxNullRate       CheckKind = "max_null_rate"
	CheckRange             CheckKind = "range"
	CheckMinRows           CheckKind = "min_rows"
	CheckMaxMeanChange     CheckKind = "max_mean_change"
	CheckMaxRowCountChange CheckKind = "max_row_count_change"
)

// Check is one data-quality check a view declares (View.Checks). Build
// them with MaxNullRate, Range, MinRows, MaxMeanChange and
// MaxRowCountChange; Register rejects checks on unknown features, on
// features of the wrong type, and impossible bounds.
//
// Checks run on a run's computed rows before anything is written (for a
// sharded window: on the shards' merged stats once every shard is
// computed, see docs/format/runs.md). The change checks compare with the
// previous window's newest published run; without one they pass.
type Check struct {
	Kind    CheckKind
	Feature string  // empty for view-level checks (MinRows, MaxRowCountChange)
	Limit   float64 // the bound: a rate, a row count or a relative change
	Min     float64 // Range only
	Max     float64 // Range only
}

// MaxNullRate fails when more than rate (in [0, 1]) of a window's rows have
// a null feature.
func MaxNullRate(feature string, rate float64) Check {
	return Check{Kind: CheckMaxNullRate, Feature: feature, Limit: rate}
}

// Range fails when a numeric feature has a value outside [min, max], or a
// NaN or infinite value. Nulls are not checked (see MaxNullRate).
func Range(feature string, min, max float64) Check {
	return Check{Kind: CheckRange, Feature: feature, Min: min, Max: max}
}

// MinRows fails when a window has fewer than n rows.
func MinRows(n int64) Check { return Check{Kind: CheckMinRows, Limit: float64(n)} }

// MaxMeanChange fails when a numeric feature's mean moved by more than rel
// (0.5: 50%) relative to the previous window's published run:
// |mean - prev| / |prev|, or |mean| when prev is 0. A mean that vanished
// (rows, but every value null or NaN/infinite) fails with value 1,
// whatever rel.
func MaxMeanChange(feature string, rel float64) Check {
	return Check{Kind: CheckMaxMeanChange, Feature: feature, Limit: rel}
}

// MaxRowCountChange fails when a window's row count moved by more than rel
// relative to the previous window's published run: |rows - prev| / prev,
// or rows when prev is 0.
func MaxRowCountChange(rel float64) Check {
	return Check{Kind: CheckMaxRowCountChange, Limit: rel}
}

// String describes the check as messages name it, e.g. "range [0, 100] on
// feature amount".
func (c Check) String() string {
	var b strings.Builder
	b.WriteString(string(c.Kind))
	switch c.Kind {
	case CheckRange:
		fmt.Fprintf(&b, " [%g, %g]", c.Min, c.Max)
	default:
		fmt.Fprintf(&b, " %g", c.Limit)
	}
	if c.Feature != "" {
		fmt.Fprintf(&b, " on feature %q", c.Feature)
	}
	return b.String()
}

// CheckPolicy says what a run does when a check fails. The zero value is
// the safe default: keep the offline version, marked "flagged" in its run
// record, and skip the online push, so a broken upstream cannot overwrite
// good online values while the bad rows stay inspectable (and a re-run
// after a fix adds a clean version next to them).
type CheckPolicy struct {
	// DiscardOffline writes nothing offline: the run record says "failed".
	DiscardOffline bool
	// PushOnline pushes (and publishes) the flagged version anyway.
	// It needs the offline version: not with DiscardOffline.
	PushOnline bool
}

// validateChecks checks v's declared checks against its features.
func validateChecks(v *View) error {
	if v.OnCheckFailure.DiscardOffline && v.OnCheckFailure.PushOnline {
		return fmt.Errorf("view %q: OnCheckFailure cannot push online a version it discards offline (DiscardOffline with PushOnline)", v.Name)
	}
	for _, c := range v.Checks {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("view %q: check %s: %s", v.Name, c, fmt.Sprintf(format, args...))
		}
		finite := func(xs ...float64) bool {
			for _, x := range xs {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return false
				}
			}
			return true
		}
		switch c.Kind {
		case CheckMinRows, CheckMaxRowCountChange:
			if c.Feature != "" {
				return fail("is a view-level check: it takes no feature")
			}
		case CheckMaxNullRate, CheckRange, CheckMaxMeanChange:
			if c.Feature == "" {
				return fail("needs a feature")
			}
			f, ok := v.Feature(c.Feature)
			if !ok {
				return fail("view has no feature %q", c.Feature)
			}
			if c.Kind != CheckMaxNullRate && f.Type != Int64 && f.Type != Float64 {
				return fail("feature %q is %s: the check needs a number (int64 or float64)", c.Feature, f.Type)
			}
		default:
			return fail("unknown check kind %q", c.Kind)
		}
		switch c.Kind {
		case CheckMaxNullRate:
			if !(c.Limit >= 0 && c.Limit <= 1) {
				return fail("null rate %g outside [0, 1]", c.Limit)
			}
		case CheckRange:
			if !finite(c.Min, c.Max) || c.Min > c.Max {
				return fail("bounds [%g, %g] are not finite numbers with min <= max", c.Min, c.Max)
			}
		case CheckMinRows:
			if !finite(c.Limit) || c.Limit < 0 || c.Limit != math.Trunc(c.Limit) {
				return fail("row count %g is not a whole number >= 0", c.Limit)
			}
		case CheckMaxMeanChange, CheckMaxRowCountChange:
			if !finite(c.Limit) || c.Limit < 0 {
				return fail("relative change %g is not a finite number >= 0", c.Limit)
			}
		}
	}
	return nil
}

// RunChecks evaluates v's checks on a run's stats (Profile, or
// MergeShardRecords of a sharded run's records). prev is the previous
// window's published run (merged across its shards), nil when there is
// none. Results follow v.Checks' order.
func RunChecks(v *View, rows int64, stats []FeatureStats, prev *RunRecord) []CheckResult {
	out := make([]CheckResult, 0, len(v.Checks))
	for _, c := range v.Checks {
		out = append(out, runCheck(c, rows, stats, prev))
	}
	return out
}

func statsOf(stats []FeatureStats, name string) (FeatureStats, bool) {
	for _, s := range stats {
		if s.Name == name {
			return s, true
		}
	}
	return FeatureStats{}, false
}

func runCheck(c Check, rows int64, stats []FeatureStats, prev *RunRecord) CheckResult {
	r := CheckResult{Feature: c.Feature, Check: string(c.Kind), Bound: c.Limit, Passed: true}
	st, _ := statsOf(stats, c.Feature)
	switch c.Kind {
	case CheckMaxNullRate:
		if st.Rows > 0 {
			r.Value = float64(st.Nulls) / float64(st.Rows)
		}
		r.Passed = r.Value <= c.Limit
		if !r.Passed {
			r.Message = fmt.Sprintf("%d of %d rows are null", st.Nulls, st.Rows)
		}
	case CheckRange:
		r.Bound = c.Max
		switch {
		case st.NonFinite > 0:
			r.Value, r.Passed = float64(st.NonFinite), false
			r.Message = fmt.Sprintf("%d values are NaN or infinite, outside [%g, %g]", st.NonFinite, c.Min, c.Max)
		case st.Min != nil && *st.Min < c.Min:
			r.Value, r.Bound, r.Passed = *st.Min, c.Min, false
			r.Message = fmt.Sprintf("min %g is below %g", *st.Min, c.Min)
		case st.Max != nil && *st.Max > c.Max:
			r.Value, r.Passed = *st.Max, false
			r.Message = fmt.Sprintf("max %g is above %g", *st.Max, c.Max)
		case st.Max != nil:
			r.Value = *st.Max
		}
	case CheckMinRows:
		r.Value = float64(rows)
		r.Passed = r.Value >= c.Limit
		if !r.Passed {
			r.Message = fmt.Sprintf("%d rows, want at least %g", rows, c.Limit)
		}
	case CheckMaxMeanChange:
		var p FeatureStats
		ok := prev != nil
		if ok {
			p, ok = statsOf(prev.Features, c.Feature)
		}
		switch {
		case !ok:
			r.Message = "no previous published window to compare with"
		case p.Mean == nil:
			r.Message = "the previous window has no mean to compare with (all null)"
		case st.Mean == nil && st.Rows > 0:
			// The mean vanished: every value is null or NaN/infinite (a
			// broken upstream that MaxNullRate does not see when the
			// values are NaN). That is a change, whatever the bound.
			r.Value, r.Passed = 1, false
			r.Message = fmt.Sprintf("no mean: %d of %d values null, %d NaN or infinite; previous window's mean %g", st.Nulls, st.Rows, st.NonFinite, *p.Mean)
		case st.Mean == nil:
			r.Message = "no rows to compare"
		default:
			r.Value = relChange(*st.Mean, *p.Mean)
			r.Passed = r.Value <= c.Limit
			if !r.Passed {
				r.Message = fmt.Sprintf("mean %g, previous window's %g", *st.Mean, *p.Mean)
			}
		}
	case CheckMaxRowCountChange:
		if prev == nil {
			r.Message = "no previous published window to compare with"
			break
		}
		r.Value = relChange(float64(rows), float64(prev.RowsWritten))
		r.Passed = r.Value <= c.Limit
		if !r.Passed {
			r.Message = fmt.Sprintf("%d rows, previous window %d", rows, prev.RowsWritten)
		}
	}
	return r
}

// relChange is |x - prev| / |prev|, or |x| when prev is 0; an overflow is
// the largest float, so the result stays finite (JSON cannot hold ±Inf, and
// a record that cannot be written would fail the run for the wrong reason).
func relChange(x, prev float64) float64 {
	var r float64
	if prev == 0 {
		r = math.Abs(x)
	} else {
		r = math.Abs(x-prev) / math.Abs(prev)
	}
	if math.IsInf(r, 0) {
		return math.MaxFloat64
	}
	return r
}

// FailedChecks returns the failed results of a run.
func FailedChecks(rs []CheckResult) []CheckResult {
	var out []CheckResult
	for _, r := range rs {
		if !r.Passed {
			out = append(out, r)
		}
	}
	return out
}

// CheckFailureMessage names, for people (and the Temporal UI), the failed
// checks of view's window ending at end: feature, check, measured value and
// bound of each.
func CheckFailureMessage(view string, end time.Time, failed []CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "view %s window %s: %d check(s) failed:", view, end.UTC().Format(time.RFC3339), len(failed))
	for i, r := range failed {
		if i > 0 {
			b.WriteString(";")
		}
		if r.Feature != "" {
			fmt.Fprintf(&b, " feature %s", r.Feature)
		} else {
			b.WriteString(" view")
		}
		fmt.Fprintf(&b, " check %s: value %g, bound %g", r.Check, r.Value, r.Bound)
		if r.Message != "" {
			fmt.Fprintf(&b, " (%s)", r.Message)
		}
	}
	return b.String()
}

// MergeShardRecords merges the records of one run's shards (one version of
// one window) into a record of the whole window, for checks and for
// comparing with the next window: counts add up, min and max are the
// extremes, means are weighted by each shard's finite values, true ratios
// by each shard's non-null values. Top values add up per value and are
// ranked again (approximate: a value outside one shard's top is not seen),
// and distinct estimates add up (an upper bound: a value may occur in
// several shards). Checks and status are the first shard's (every shard
// holds the window's once the run committed). A single record (an
// unsharded run) comes back as is.
func MergeShardRecords(rs []RunRecord) RunRecord {
	if len(rs) == 1 {
		return rs[0]
	}
	if len(rs) == 0 {
		return RunRecord{}
	}
	m := rs[0]
	m.Shard = -1
	m.Features = nil
	// After CommitShards every shard carries the window's checks and status.
	m.Checks = rs[0].Checks
	m.EventsRead, m.RowsWritten, m.DurationMS = 0, 0, 0
	m.Online = nil
	for _, r := range rs {
		m.EventsRead += r.EventsRead
		m.RowsWritten += r.RowsWritten
		m.DurationMS = max(m.DurationMS, r.DurationMS)
		if r.Online != nil {
			if m.Online == nil {
				m.Online = &OnlineCounts{}
			}
			m.Online.Written += r.Online.Written
			m.Online.Stale += r.Online.Stale
			m.Online.Expired += r.Online.Expired
		}
		if r.Published == nil || (m.Published != nil && r.Published.After(*m.Published)) {
			m.Published = r.Published
		}
	}
	for i, f := range rs[0].Features {
		parts := make([]FeatureStats, 0, len(rs))
		for _, r := range rs {
			if i < len(r.Features) && r.Features[i].Name == f.Name {
				parts = append(parts, r.Features[i])
			} else if s, ok := statsOf(r.Features, f.Name); ok {
				parts = append(parts, s)
			}
		}
		m.Features = append(m.Features, mergeStats(parts))
	}
	return m
}

func mergeStats(ps []FeatureStats) FeatureStats {
	m := FeatureStats{Name: ps[0].Name, Type: ps[0].Type}
	var meanW, trueW float64
	var mean, ratio float64
	tops := map[string]int64{}
	for _, p := range ps {
		m.Rows += p.Rows
		m.Nulls += p.Nulls
		m.NonFinite += p.NonFinite
		if p.Min != nil && (m.Min == nil || *p.Min < *m.Min) {
			m.Min = new(float64)
			*m.Min = *p.Min
		}
		if p.Max != nil && (m.Max == nil || *p.Max > *m.Max) {
			m.Max = new(float64)
			*m.Max = *p.Max
		}
		if p.Mean != nil {
			w := float64(p.Rows - p.Nulls - p.NonFinite)
			meanW += w
			if meanW > 0 {
				mean += (*p.Mean - mean) * w / meanW
			}
		}
		if p.TrueRatio != nil {
			w := float64(p.Rows - p.Nulls)
			trueW += w
			if trueW > 0 {
				ratio += (*p.TrueRatio - ratio) * w / trueW
			}
		}
		for _, t := range p.Top {
			tops[t.Value] += t.Count
		}
		if p.Distinct != nil {
			if m.Distinct == nil {
				m.Distinct = new(int64)
			}
			*m.Distinct += *p.Distinct
		}
	}
	if meanW > 0 {
		m.Mean = &mean
	}
	if trueW > 0 {
		m.TrueRatio = &ratio
	}
	if len(tops) > 0 {
		m.Top = topValues(tops, TopValuesLimit)
	}
	return m
}
