// Command worker is Skewfree's Temporal worker over the demo repository: it
// runs the materialize and backfill workflows and their activities.
//
// Configuration: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SKEWFREE_REDIS_URL,
// SKEWFREE_OFFLINE, SKEWFREE_SOURCE (see app.Config for defaults).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := app.RunWorker(ctx, demo.Registry(), cli.ConfigFromEnv(logger)); err != nil {
		logger.Error("worker stopped", "error", err)
		os.Exit(1)
	}
}
