package servedlog

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the logger's Prometheus counters, in rows (errors: file
// writes): skewfree_served_log_logged_total, _written_total,
// _dropped_total, _failed_total and _errors_total, and the gauge
// skewfree_served_log_pending_rows.
func (l *Logger) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(l.Stats())) })
	}
	return []prometheus.Collector{
		counter("skewfree_served_log_logged_total", "Served rows sampled and accepted into the served log's buffer.", func(s Stats) uint64 { return s.Logged }),
		counter("skewfree_served_log_written_total", "Served rows written to served log files.", func(s Stats) uint64 { return s.Written }),
		counter("skewfree_served_log_dropped_total", "Sampled served rows dropped because the served log's buffer was full.", func(s Stats) uint64 { return s.Dropped }),
		counter("skewfree_served_log_failed_total", "Accepted served rows lost to a failed file write.", func(s Stats) uint64 { return s.Failed }),
		counter("skewfree_served_log_errors_total", "Served log file writes that failed.", func(s Stats) uint64 { return s.Errors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "skewfree_served_log_pending_rows", Help: "Served rows accepted and not yet written."},
			func() float64 { return float64(l.Stats().Pending) }),
	}
}
