package testenv

import (
	"slices"
	"sync"
	"time"
)

// Latencies collects operation durations for benchmarks that report
// percentiles (b.ReportMetric) rather than only means. Safe for concurrent
// use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Len is the number of durations recorded.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Percentile returns the p-th percentile (0 < p <= 100) in nanoseconds, 0
// when nothing was recorded.
func (l *Latencies) Percentile(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := int(float64(len(l.d))*p/100+0.5) - 1
	i = min(max(i, 0), len(l.d)-1)
	return float64(l.d[i])
}
