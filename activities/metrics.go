package activities

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skewfree/skewfree/features"
)

// Metrics are the worker's Prometheus metrics of materialization runs.
// The activities update them (workflows never do: they must replay
// without side effects); a nil *Metrics records nothing. Safe for
// concurrent use.
//
//	skewfree_rows_written_total{view}                 rows written offline (each attempt counts)
//	skewfree_run_duration_seconds{view}               histogram: computing a window or a shard (read, transform, checks, offline write)
//	skewfree_check_failures_total{view,feature,check} failed checks; feature "" for view-level checks
//	skewfree_view_staleness_seconds{view}             now − end of the newest published window (features.Age); absent until one is known
//	skewfree_view_stale{view}                         1 when the next window is overdue (features.Age), or none was ever published
type Metrics struct {
	reg      *features.Registry
	now      func() time.Time
	rows     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec

	mu        sync.Mutex
	published map[string]time.Time // view → newest published window end
}

// NewMetrics registers the run metrics of reg's views on r. now is the
// clock of the staleness gauge (nil: time.Now).
func NewMetrics(reg *features.Registry, r prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: reg, now: now, published: map[string]time.Time{},
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skewfree_rows_written_total", Help: "Feature rows written offline by materialization runs."}, []string{"view"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skewfree_run_duration_seconds", Help: "Time to compute a window (or a shard): source read, transform, checks and offline write.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 10)}, []string{"view"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skewfree_check_failures_total", Help: "Data-quality checks that failed, by view, feature (empty for view-level checks) and check."},
			[]string{"view", "feature", "check"}),
	}
	for _, c := range []prometheus.Collector{m.rows, m.duration, m.failures, stalenessCollector{m}} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	// Every view has its series from the start, so a dashboard shows 0.
	for _, v := range reg.Views() {
		m.rows.WithLabelValues(v.Name)
	}
	return m, nil
}

func (m *Metrics) ran(view string, rows int64, d time.Duration) {
	if m == nil {
		return
	}
	m.rows.WithLabelValues(view).Add(float64(rows))
	m.duration.WithLabelValues(view).Observe(d.Seconds())
}

func (m *Metrics) checksFailed(view string, failed []features.CheckResult) {
	if m == nil {
		return
	}
	for _, r := range failed {
		m.failures.WithLabelValues(view, r.Feature, r.Check).Inc()
	}
}

// Published notes that view's window ending at end is published.
func (m *Metrics) Published(view string, end time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if end.After(m.published[view]) {
		m.published[view] = end
	}
}

// StalenessLookback is how far back RefreshStaleness reads run records.
const StalenessLookback = 35 * 24 * time.Hour

// RefreshStaleness reads the run records of the last StalenessLookback
// and notes each view's newest published window, so a restarted worker
// reports staleness before its first publication. The worker calls it at
// start and then periodically.
func (m *Metrics) RefreshStaleness(ctx context.Context, runs RunRecorder) error {
	if m == nil {
		return nil
	}
	from := m.now().Add(-StalenessLookback)
	for _, v := range m.reg.Views() {
		rs, err := runs.RunRecords(ctx, v.Name, from, time.Time{})
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Published != nil {
				m.Published(v.Name, r.WindowEnd)
			}
		}
	}
	return nil
}

// stalenessCollector computes the staleness gauges at scrape time, so they
// grow between publications.
type stalenessCollector struct{ m *Metrics }

var (
	stalenessDesc = prometheus.NewDesc("skewfree_view_staleness_seconds",
		"Now minus the end of the view's newest published window (absent until one is known).", []string{"view"}, nil)
	staleDesc = prometheus.NewDesc("skewfree_view_stale",
		"1 when the view's next window is overdue (now > newest published window end + cadence + lateness) or none was published.", []string{"view"}, nil)
)

func (c stalenessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stalenessDesc
	ch <- staleDesc
}

func (c stalenessCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.reg.Views() {
		last := m.published[v.Name]
		age, stale := features.Age(v, last, now)
		if !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(stalenessDesc, prometheus.GaugeValue, age.Seconds(), v.Name)
		}
		s := 0.0
		if stale {
			s = 1
		}
		ch <- prometheus.MustNewConstMetric(staleDesc, prometheus.GaugeValue, s, v.Name)
	}
}
