package catalog

import (
	"context"
	"time"

	"github.com/skewfree/skewfree/features"
)

// RunLister lists a view's run records for windows ending in [from, to),
// oldest window first; a zero from or to leaves that side open.
// (*parquet.Store).RunRecords is one. Implementations must be safe for
// concurrent use when a Handler serves several requests at once.
type RunLister interface {
	RunRecords(ctx context.Context, view string, from, to time.Time) ([]features.RunRecord, error)
}

// Run is one window of a view as the catalog shows it: its newest version
// (the shards of that version summed up).
type Run struct {
	WindowEnd time.Time `json:"window_end"`
	Created   time.Time `json:"created"`
	// Published is when the newest version was online in full (the latest
	// shard's time); nil while a shard has not been published.
	Published *time.Time `json:"published,omitempty"`
	// Versions counts the window's versions (runs and re-runs).
	Versions int `json:"versions"`
	Shards   int `json:"shards"`
	// Status is the worst status of the newest version's shards.
	Status     features.RunStatus     `json:"status"`
	EventsRead int64                  `json:"events_read"`
	Rows       int64                  `json:"rows"`
	DurationMS int64                  `json:"duration_ms"`
	Features   map[string]FeatureRun  `json:"features"`
	Checks     []features.CheckResult `json:"checks,omitempty"`
	// FailedChecks counts the checks that did not pass.
	FailedChecks int `json:"failed_checks"`
}

// FeatureRun is one feature's profile in one window.
type FeatureRun struct {
	Rows  int64 `json:"rows"`
	Nulls int64 `json:"nulls"`
	// Mean is over the non-null values (numbers only), weighted by shard.
	Mean *float64 `json:"mean,omitempty"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
}

// NullRate is Nulls / Rows, 0 without rows.
func (f FeatureRun) NullRate() float64 {
	if f.Rows == 0 {
		return 0
	}
	return float64(f.Nulls) / float64(f.Rows)
}

// Freshness is how current a view's published data is at the catalog's now.
type Freshness struct {
	// Status is "fresh", "stale" or "never published".
	Status string `json:"status"`
	Stale  bool   `json:"stale"`
	// LastPublishedWindowEnd is the end of the newest window with a
	// published version; nil when none.
	LastPublishedWindowEnd *time.Time `json:"last_published_window_end,omitempty"`
	// PublishedAt is when that version went online.
	PublishedAt *time.Time    `json:"published_at,omitempty"`
	Age         time.Duration `json:"-"`
	AgeSeconds  int64         `json:"age_seconds"`
	// Overdue is when the data counts as stale: the last published window
	// end + cadence + lateness (features.Age's rule).
	Overdue *time.Time `json:"stale_after,omitempty"`
}

// Freshness statuses.
const (
	Fresh          = "fresh"
	Stale          = "stale"
	NeverPublished = "never published"
)

// Words is the freshness in one line, e.g. "fresh: window ending 2026-11-20
// 00:00 UTC, 5 h old" or "never published".
func (f Freshness) Words() string {
	if f.LastPublishedWindowEnd == nil {
		return NeverPublished
	}
	return f.Status + ": " + f.Window()
}

// Window is the newest published window and its age, e.g. "window ending
// 2026-11-20 00:00 UTC, 5 h old"; empty when none was published.
func (f Freshness) Window() string {
	if f.LastPublishedWindowEnd == nil {
		return ""
	}
	return "window ending " + Time(*f.LastPublishedWindowEnd) + ", " + Duration(f.Age) + " old"
}

// Time formats t for people, in UTC to the minute.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// summarize groups records (sorted by window end, created, shard) into one
// Run per window, newest window first, and finds the newest window published
// by now (a catalog judged at an earlier instant does not count versions
// published after it).
func summarize(recs []features.RunRecord, now time.Time) (runs []Run, lastPub *Run) {
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].WindowEnd.Equal(recs[i].WindowEnd) {
			j++
		}
		window := recs[i:j]
		// Versions of this window, in created order.
		var versions [][]features.RunRecord
		for k := 0; k < len(window); {
			l := k
			for l < len(window) && window[l].Created.Equal(window[k].Created) {
				l++
			}
			versions = append(versions, window[k:l])
			k = l
		}
		r := version(versions[len(versions)-1])
		r.Versions = len(versions)
		runs = append(runs, r)
		for v := len(versions) - 1; v >= 0; v-- {
			if p := version(versions[v]); p.Published != nil && !p.Published.After(now) {
				p.Versions = len(versions)
				lastPub = &p
				break
			}
		}
		i = j
	}
	// Newest window first.
	for a, b := 0, len(runs)-1; a < b; a, b = a+1, b-1 {
		runs[a], runs[b] = runs[b], runs[a]
	}
	return runs, lastPub
}

var statusRank = map[features.RunStatus]int{features.RunOK: 0, features.RunFlagged: 1, features.RunFailed: 2}

// version sums up the shard records of one version of one window with
// features.MergeShardRecords, the rule the checks use: counts add up, means
// are weighted by each shard's finite values, and the window-level checks
// and status every shard carries count once, not once per shard. A record
// with no status (written before checks existed) counts as ok, and a zero
// publication time as unpublished.
func version(shards []features.RunRecord) Run {
	m := features.MergeShardRecords(shards)
	r := Run{WindowEnd: m.WindowEnd, Created: m.Created, Shards: len(shards), Status: features.RunOK,
		EventsRead: m.EventsRead, Rows: m.RowsWritten, DurationMS: m.DurationMS, Features: map[string]FeatureRun{}}
	// The status is the worst of the shards' (they agree once a run
	// committed; a half-committed run must not look better than it is).
	for _, s := range shards {
		if statusRank[s.Status] > statusRank[r.Status] {
			r.Status = s.Status
		}
	}
	for _, c := range m.Checks {
		r.Checks = append(r.Checks, c)
		if !c.Passed {
			r.FailedChecks++
		}
	}
	for _, f := range m.Features {
		r.Features[f.Name] = FeatureRun{Rows: f.Rows, Nulls: f.Nulls, Mean: f.Mean, Min: f.Min, Max: f.Max}
	}
	if m.Published != nil && !m.Published.IsZero() {
		for _, s := range shards {
			if s.Published == nil || s.Published.IsZero() {
				return r
			}
		}
		pub := *m.Published
		r.Published = &pub
	}
	return r
}

// freshness applies features.Age to the newest published window.
func freshness(v *features.View, lastPub *Run, now time.Time) Freshness {
	if lastPub == nil {
		_, stale := features.Age(v, time.Time{}, now)
		return Freshness{Status: NeverPublished, Stale: stale}
	}
	end := lastPub.WindowEnd
	age, stale := features.Age(v, end, now)
	overdue := end.Add(v.Cadence.Duration() + v.Lateness)
	f := Freshness{Status: Fresh, Stale: stale, LastPublishedWindowEnd: &end, PublishedAt: lastPub.Published,
		Age: age, AgeSeconds: int64(age / time.Second), Overdue: &overdue}
	if stale {
		f.Status = Stale
	}
	return f
}
