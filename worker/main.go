// Command worker is Skewfree's Temporal worker over the demo repository: it
// runs the materialize and backfill workflows and their activities, on its
// project's task queue.
//
// Configuration: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SKEWFREE_REDIS_URL,
// SKEWFREE_OFFLINE, SKEWFREE_SOURCE, SKEWFREE_PROJECT (flag --project),
// SKEWFREE_WORKER_METRICS_ADDR (Prometheus /metrics, default
// 127.0.0.1:9464, "none" disables); see package config for defaults.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features/demo"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := cli.ConfigFromEnv(logger)
	flag.StringVar(&cfg.Project, "project", cfg.Project, "project name ($SKEWFREE_PROJECT)")
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.RunWorker(ctx, demo.Registry(), cfg)
	// Decide before stop() cancels ctx: a SIGTERM at any point, even during
	// start-up, is a requested stop (0); any other failure is 1.
	code := app.ExitCode(ctx, err)
	stop()
	if err != nil && code != 0 {
		logger.Error("worker stopped", "error", err)
	}
	os.Exit(code)
}
