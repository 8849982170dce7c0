// Command server is Skewfree's push service over the demo repository:
// POST /push (Feast's push shape, see package push) for the sources of fresh
// views, /healthz. It is a process of its own, not a mode of the reader
// service: it writes the raw source files (local or, later, GCS) and the
// tiles, so it needs write credentials and the registry's source
// definitions, which the read-only reader service does not have; its load
// (bursts of events) stays off the inference path; and the reader binary
// links no Parquet writer.
//
// Configuration (package config; flags override): SKEWFREE_REDIS_URL,
// SKEWFREE_PROJECT (flag -project), SKEWFREE_REDIS_PREFIX, SKEWFREE_SOURCE
// (the source root pushed events are appended under), SKEWFREE_PUSH_ADDR
// (listen address, default 127.0.0.1:6568).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// DefaultAddr is the push service's default listen address: loopback, the
// port after the reader service's gRPC port.
const DefaultAddr = "127.0.0.1:6568"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "push server:", err)
		os.Exit(1)
	}
}

func run() error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := config.FromEnv(nil).WithDefaults()
	addr := os.Getenv("SKEWFREE_PUSH_ADDR")
	if addr == "" {
		addr = DefaultAddr
	}
	flag.StringVar(&addr, "addr", addr, "listen address ($SKEWFREE_PUSH_ADDR)")
	flag.StringVar(&cfg.Project, "project", cfg.Project, "project name ($"+config.EnvProject+")")
	flag.StringVar(&cfg.Source, "source", cfg.Source, "source root ($"+config.EnvSource+")")
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		return err
	}
	reg := demo.Registry()
	client, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	online, err := redisstore.New(client, reg, redisstore.Options{Prefix: cfg.OnlinePrefix(), Logger: log})
	if err != nil {
		return err
	}
	sources, err := openSources(cfg.Source)
	if err != nil {
		return err
	}
	p, err := push.New(reg, sources, online, push.Options{Logger: log})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: push.Handler(p, push.HandlerOptions{Logger: log}), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("push service listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openSources opens the source root: gs://bucket/prefix on Cloud Storage
// (Application Default Credentials, STORAGE_EMULATOR_HOST honored), else a
// local folder. Pushed files then land where the batch windows and training
// sets read them, on either.
func openSources(url string) (*parquet.Sources, error) {
	if !strings.HasPrefix(url, "gs://") {
		return parquet.OpenSources(url)
	}
	f, err := gcsfs.Open(context.Background(), url, gcsfs.Options{}) // bounds its own bucket check
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return parquet.SourcesFS(f), nil
}
