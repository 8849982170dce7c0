package features

import "time"

// RunRecord is what one materialization run (one version of one window, or
// one shard of it) did. Records are written next to the offline data, so the
// catalog can tell freshness, volumes and data quality over time without
// asking Temporal, and other tools can read them (docs/format/runs.md).
type RunRecord struct {
	View        string    `json:"view"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Created is the version's created_timestamp.
	Created time.Time `json:"created"`
	// Published is when every row of the version was online; nil while the
	// push has not finished (or was skipped by a check policy).
	Published *time.Time `json:"published,omitempty"`
	// Shard is the shard this record covers, -1 for a whole window.
	Shard       int    `json:"shard"`
	Fingerprint string `json:"fingerprint"`
	// Status: RunOK, RunFlagged (a check failed, data kept but marked) or
	// RunFailed (a check failed and nothing was written offline).
	Status      RunStatus      `json:"status"`
	EventsRead  int64          `json:"events_read"`
	RowsWritten int64          `json:"rows_written"`
	DurationMS  int64          `json:"duration_ms"`
	Online      *OnlineCounts  `json:"online,omitempty"`
	Features    []FeatureStats `json:"features"`
	Checks      []CheckResult  `json:"checks,omitempty"`
}

// RunStatus is a run's outcome as far as data quality goes.
type RunStatus string

const (
	RunOK      RunStatus = "ok"
	RunFlagged RunStatus = "flagged"
	RunFailed  RunStatus = "failed"
)

// OnlineCounts is what a push did to the online store.
type OnlineCounts struct {
	Written int64 `json:"written"`
	Stale   int64 `json:"stale"`
	Expired int64 `json:"expired"`
}

// FeatureStats profiles one feature's column of a run's frame. Numbers get
// min/max/mean, strings top values and a distinct estimate, bools a true
// ratio; nil fields do not apply (or the column is all null).
type FeatureStats struct {
	Name  string `json:"name"`
	Type  Type   `json:"type"`
	Rows  int64  `json:"rows"`
	Nulls int64  `json:"nulls"`
	// NonFinite counts NaN and ±Inf values of a float feature: neither
	// nulls nor part of min, max and mean.
	NonFinite int64      `json:"non_finite,omitempty"`
	Min       *float64   `json:"min,omitempty"`
	Max       *float64   `json:"max,omitempty"`
	Mean      *float64   `json:"mean,omitempty"`
	Top       []TopValue `json:"top,omitempty"`
	Distinct  *int64     `json:"distinct_estimate,omitempty"`
	TrueRatio *float64   `json:"true_ratio,omitempty"`
}

// TopValue is one of a string feature's most frequent values.
type TopValue struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// CheckResult is the outcome of one declared data-quality check on a run.
type CheckResult struct {
	Feature string  `json:"feature,omitempty"` // empty for view-level checks (e.g. minimum rows)
	Check   string  `json:"check"`             // e.g. "max_null_rate"
	Value   float64 `json:"value"`             // what was measured
	Bound   float64 `json:"bound"`             // the declared limit
	Passed  bool    `json:"passed"`
	Message string  `json:"message,omitempty"`
}

// Age is how old view v's newest published data is at now: now minus the
// end of the newest published window. Stale reports whether the next
// window's data is overdue: the run for a window ending at E is due at E +
// lateness and the following window ends at E + cadence, so data is overdue
// once now > E + cadence + lateness. A view never published is stale.
// The catalog and the worker's staleness gauge share this one rule.
func Age(v *View, lastPublishedEnd, now time.Time) (age time.Duration, stale bool) {
	if lastPublishedEnd.IsZero() {
		return 0, true
	}
	age = now.Sub(lastPublishedEnd)
	return age, age > v.Cadence.Duration()+v.Lateness
}
