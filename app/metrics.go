package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
)

// StalenessRefresh is how often a worker re-reads run records for its
// staleness gauges (publications it runs itself update them at once).
const StalenessRefresh = time.Minute

// WorkerMetrics is a worker's Prometheus endpoint: GET /metrics with the
// run metrics (activities.Metrics) and the Go runtime's.
type WorkerMetrics struct {
	// Metrics go to the worker's activities; nil when disabled.
	Metrics *activities.Metrics
	// Addr is the address served ("" when disabled).
	Addr string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
}

// StartWorkerMetrics serves the worker's /metrics on addr ("none": no
// endpoint and no metrics) and refreshes the staleness gauges from runs'
// records now and every StalenessRefresh, until Close.
func StartWorkerMetrics(ctx context.Context, reg *features.Registry, runs activities.RunRecorder, addr string, logger *slog.Logger) (*WorkerMetrics, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if addr == "none" {
		return &WorkerMetrics{}, nil
	}
	if addr == "" {
		addr = DefaultWorkerMetricsAddr
	}
	pr := prometheus.NewRegistry()
	pr.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := activities.NewMetrics(reg, pr, nil)
	if err != nil {
		return nil, fmt.Errorf("worker metrics: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("worker metrics: %w (set %s, or \"none\")", err, EnvWorkerMetrics)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(pr, promhttp.HandlerOpts{}))
	ctx, cancel := context.WithCancel(ctx)
	w := &WorkerMetrics{Metrics: m, Addr: l.Addr().String(), cancel: cancel,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		if err := w.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("worker metrics stopped", "error", err)
		}
	}()
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(StalenessRefresh)
		defer t.Stop()
		for {
			if err := refresh(ctx, m, runs); err != nil && ctx.Err() == nil {
				logger.Warn("worker metrics: staleness from run records", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	logger.Info("worker metrics", "addr", "http://"+w.Addr+"/metrics")
	return w, nil
}

// refresh is RefreshStaleness with a panic turned into its error.
func refresh(ctx context.Context, m *activities.Metrics, runs activities.RunRecorder) (err error) {
	defer features.RecoverPanic(&err, "staleness refresh")
	return m.RefreshStaleness(ctx, runs)
}

// Close stops serving and refreshing, waiting up to 5 s for scrapes in
// flight.
func (w *WorkerMetrics) Close() error {
	if w == nil || w.srv == nil {
		return nil
	}
	w.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	w.wg.Wait()
	return err
}
