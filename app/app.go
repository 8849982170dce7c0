// Package app wires Skewfree's parts together from configuration: the stores,
// the activities, the worker's registrations and the schedules. The worker,
// starter and dev mains share it, so `make dev` runs in one process exactly
// the code that runs in production processes.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	gbigquery "cloud.google.com/go/bigquery"
	goredis "github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
	"github.com/skewfree/skewfree/workflows"
)

// Config locates everything: it is config.Config, the one configuration
// every main reads (config.FromEnv), here so the mains need one import.
type Config = config.Config

// Timeouts are the activity timeouts of workflows started with c.
func Timeouts(c Config) workflows.Timeouts {
	return workflows.Timeouts{Activity: c.ActivityTimeout, Heartbeat: c.HeartbeatTimeout}
}

// Defaults of the local stack that `make dev` starts (see package config).
const (
	DefaultTemporalAddress = config.DefaultTemporalAddress
	DefaultNamespace       = config.DefaultNamespace
	DefaultRedisURL        = config.DefaultRedisURL
	DefaultOffline         = config.DefaultOffline
	DefaultSource          = config.DefaultSource
	DefaultProject         = config.DefaultProject
	// DefaultWorkerMetricsAddr: where a worker serves /metrics.
	DefaultWorkerMetricsAddr = config.DefaultWorkerMetricsAddr
	EnvWorkerMetrics         = config.EnvWorkerMetrics
)

// Stores are the opened backends.
type Stores struct {
	Offline *parquet.Store
	Sources *parquet.Sources
	Online  *redisstore.Store // nil when disabled
	// History is the BigQuery history (SKEWFREE_BIGQUERY) and Tables the
	// reader of sources kept in BigQuery; both nil when not configured.
	History *bqstore.Store
	Tables  *bqstore.Sources
	redis   goredis.UniversalClient
	closers []io.Closer // Cloud Storage clients
	bq      *gbigquery.Client
}

// OpenStores opens the offline store, the sources and (unless RedisURL is
// "none") the online store, checking that Redis answers.
func OpenStores(ctx context.Context, reg *features.Registry, cfg Config) (*Stores, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	off, offc, err := OpenOffline(ctx, cfg.Offline)
	if err != nil {
		return nil, err
	}
	src, srcc, err := OpenSources(ctx, cfg.Source)
	if err != nil {
		offc.Close()
		return nil, err
	}
	s := &Stores{Offline: off, Sources: src, closers: []io.Closer{offc, srcc}}
	if cfg.BigQuery != "" {
		if err := s.openBigQuery(ctx, reg, cfg); err != nil {
			s.Close()
			return nil, err
		}
	}
	if cfg.RedisURL == "none" {
		return s, nil
	}
	rc, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		s.Close()
		return nil, err
	}
	online, err := redisstore.New(rc, reg, redisstore.Options{Prefix: cfg.OnlinePrefix(), Logger: cfg.Logger})
	if err != nil {
		rc.Close()
		s.Close()
		return nil, err
	}
	if err := online.Ping(ctx); err != nil {
		rc.Close()
		s.Close()
		return nil, fmt.Errorf("online store at %s: %w", redisstore.Redact(cfg.RedisURL), err)
	}
	s.Online, s.redis = online, rc
	return s, nil
}

// Close releases the Redis connections and Cloud Storage clients.
func (s *Stores) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	if s.bq != nil {
		errs = append(errs, s.bq.Close())
	}
	return errors.Join(errs...)
}

// onlineAdapter fits the Redis store to activities.Online.
type onlineAdapter struct{ s *redisstore.Store }

func (o onlineAdapter) Write(ctx context.Context, view string, f *features.Frame) (activities.OnlineStats, error) {
	st, err := o.s.Write(ctx, view, f)
	return activities.OnlineStats{Rows: st.Rows, Written: st.Written, Stale: st.Stale, Expired: st.Expired}, err
}

// Activities builds the activities over the stores.
func Activities(reg *features.Registry, s *Stores, logger *slog.Logger) *activities.Activities {
	a := &activities.Activities{Registry: reg, Sources: s.Sources, Offline: s.Offline, Logger: logger}
	if s.History != nil {
		a.History = s.History
		a.Sources = activities.TableSources{Files: s.Sources, Tables: s.Tables, IsTable: bqstore.IsTable}
	}
	if s.Online != nil {
		a.Online = onlineAdapter{s.Online}
	}
	return a
}

// Register puts every workflow and activity on a worker.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflowWithOptions(workflows.MaterializeWorkflow, workflow.RegisterOptions{Name: "MaterializeWorkflow"})
	w.RegisterWorkflowWithOptions(workflows.BackfillWorkflow, workflow.RegisterOptions{Name: "BackfillWorkflow"})
	w.RegisterActivity(acts)
}

// NewWorker is NewProjectWorker for the default project.
func NewWorker(c client.Client, reg *features.Registry, s *Stores, logger *slog.Logger) worker.Worker {
	return NewProjectWorker(c, reg, s, DefaultProject, logger)
}

// NewProjectWorker returns a worker on the project's task queue with
// everything registered, so it runs only that project's workflows.
// Concurrency is bounded so a large backfill cannot exhaust memory: each
// window activity holds its source window in memory.
func NewProjectWorker(c client.Client, reg *features.Registry, s *Stores, project string, logger *slog.Logger) worker.Worker {
	return NewMeteredWorker(c, reg, s, project, logger, nil)
}

// NewMeteredWorker is NewProjectWorker whose activities update m (see
// StartWorkerMetrics); nil m: no metrics.
func NewMeteredWorker(c client.Client, reg *features.Registry, s *Stores, project string, logger *slog.Logger, m *activities.Metrics) worker.Worker {
	w := worker.New(c, workflows.Project(project).TaskQueue(), worker.Options{
		MaxConcurrentActivityExecutionSize: 4,
		WorkerStopTimeout:                  30e9,
	})
	acts := Activities(reg, s, logger)
	acts.Metrics = m
	Register(w, acts)
	return w
}

// ErrNoTemporal wraps failures to reach the Temporal frontend.
var ErrNoTemporal = errors.New("temporal unreachable")

// Dial connects to Temporal.
func Dial(ctx context.Context, cfg Config) (client.Client, error) {
	cfg = cfg.WithDefaults()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.Namespace,
		Logger:    newTemporalLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("%w at %s (namespace %s): %w", ErrNoTemporal, cfg.TemporalAddress, cfg.Namespace, err)
	}
	return c, nil
}

// RunWorker connects, registers the search attributes, and runs a worker
// until ctx ends; then it stops gracefully, letting running activities finish
// within the worker's stop timeout.
func RunWorker(ctx context.Context, reg *features.Registry, cfg Config) error {
	cfg = cfg.WithDefaults()
	stores, err := OpenStores(ctx, reg, cfg)
	if err != nil {
		return err
	}
	defer stores.Close()
	c, err := Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := EnsureSearchAttributes(ctx, c, cfg.Namespace); err != nil {
		cfg.Logger.Warn("search attributes not registered; workflows run without them", "error", err)
	}
	wm, err := StartWorkerMetrics(ctx, reg, stores.Offline, cfg.WorkerMetricsAddr, cfg.Logger)
	if err != nil {
		return err
	}
	defer wm.Close()
	w := NewMeteredWorker(c, reg, stores, cfg.Project, cfg.Logger, wm.Metrics)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	cfg.Logger.Info("worker started", "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace, "project", cfg.Project, "task_queue", workflows.Project(cfg.Project).TaskQueue())
	<-ctx.Done()
	w.Stop()
	return nil
}
