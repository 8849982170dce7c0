// Command server is Skewfree's reader service: Feast-compatible
// POST /get-online-features over the Redis online store, plus /healthz,
// /readyz, /metrics and /catalog, and Feast's gRPC ServingService (with
// gRPC health checks and reflection) on a port of its own. It reads its settings through package
// config, like the worker and the starter; flags override the environment:
//
//	SKEWFREE_REDIS_URL      redis://127.0.0.1:6379 (redis+cluster://h1:p1?addr=h2:p2 for a cluster)
//	SKEWFREE_PROJECT        skewfree: the project whose online values to serve
//	SKEWFREE_SERVING_ADDR   :6566 (Feast's port)
//	SKEWFREE_SERVING_GRPC_ADDR  127.0.0.1:6567; "none" (or -grpc-addr "") turns gRPC off
//	SKEWFREE_SERVING_TOKEN  bearer token required from clients, HTTP and gRPC (none by default)
//	SKEWFREE_REDIS_PREFIX   the project's key prefix (sf for the default project)
//	SKEWFREE_SERVED_LOG_RATE  fraction of entity keys whose served rows are logged (0: off)
//	SKEWFREE_OFFLINE        offline root the served log goes under (<root>/_served)
//
// It serves the demo repository's definitions; a team serving its own
// builds the same thirty lines around its own registry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/grpcapi"
	"github.com/skewfree/skewfree/serving/httpapi"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// settings are the reader service's: the shared configuration plus its
// own tuning flags.
type settings struct {
	cfg         config.Config
	cache       int
	cacheTTL    time.Duration
	maxEntities int
	maxBody     int64
	grace       time.Duration
	servedRate  float64
}

// parseSettings reads the environment through package config, then flags.
func parseSettings(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	s := settings{cfg: config.FromEnv(getenv).WithDefaults()}
	rate, err := config.ServedLogRateFromEnv(getenv)
	if err != nil {
		return s, err
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(secretURL{&s.cfg.RedisURL}, "redis", "Redis URL ($"+config.EnvRedisURL+")")
	fs.StringVar(&s.cfg.ServingAddr, "addr", s.cfg.ServingAddr, "listen address ($"+config.EnvServingAddr+")")
	fs.StringVar(&s.cfg.ServingGRPCAddr, "grpc-addr", s.cfg.ServingGRPCAddr, "gRPC listen address ($"+config.EnvServingGRPCAddr+"); \"\" or none: no gRPC")
	fs.StringVar(&s.cfg.Project, "project", s.cfg.Project, "project name ($"+config.EnvProject+")")
	fs.StringVar(&s.cfg.RedisPrefix, "prefix", s.cfg.RedisPrefix, "online key prefix ($"+config.EnvRedisPrefix+"); default the project's")
	fs.IntVar(&s.cache, "cache-entries", 100_000, "in-process cache size in (view, entity) entries; 0 disables it")
	fs.DurationVar(&s.cacheTTL, "cache-ttl", time.Minute, "longest time a cached value is kept")
	fs.IntVar(&s.maxEntities, "max-entities", 1000, "most entity rows per request")
	fs.Int64Var(&s.maxBody, "max-body-bytes", 1<<20, "largest request body (HTTP) or message (gRPC)")
	fs.DurationVar(&s.grace, "shutdown-grace", 10*time.Second, "time given to requests in flight on SIGTERM")
	fs.Func("served-log-rate", fmt.Sprintf("fraction of entity keys whose served rows are logged, 0..1 ($%s; default %v)", config.EnvServedLogRate, rate), func(v string) error {
		r, err := config.ParseRate(v)
		rate = r
		return err
	})
	fs.StringVar(&s.cfg.Offline, "offline", s.cfg.Offline, "offline root (file://path) the served log is written under ($"+config.EnvOffline+")")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	s.servedRate = rate
	if err := s.cfg.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// secretURL is a URL flag whose shown value (the default in -h and in
// flag errors) has its password redacted: the default comes from the
// environment, which may hold one.
type secretURL struct{ p *string }

func (u secretURL) String() string {
	if u.p == nil {
		return ""
	}
	return redisstore.Redact(*u.p)
}

func (u secretURL) Set(v string) error { *u.p = v; return nil }

func run() error {
	s, err := parseSettings(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := demo.Registry()
	client, err := redisstore.NewClient(s.cfg.RedisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	store, err := redisstore.New(client, reg, redisstore.Options{Prefix: s.cfg.OnlinePrefix(), Logger: log})
	if err != nil {
		return err
	}
	// One metrics registry, so /metrics shows the gRPC calls and the served log too.
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	served, err := servedLog(s, reg, log)
	if err != nil {
		return err
	}
	prom.MustRegister(served.Collectors()...)
	// Closed after the reader and after the servers returned: nothing
	// logged is lost.
	defer func() {
		if err := served.Close(); err != nil {
			log.Error("served log", "err", err)
		}
	}()
	var sl serving.ServedLog // nil when off: the reader then pays nothing
	if s.servedRate > 0 {
		sl = served
	}
	reader, err := serving.New(reg, store, serving.Options{CacheEntries: s.cache, CacheTTL: s.cacheTTL, Logger: log, ServedLog: sl})
	if err != nil {
		return err
	}
	defer reader.Close()
	h, err := httpapi.New(reg, reader, store, httpapi.Options{MaxEntities: s.maxEntities, MaxBodyBytes: s.maxBody,
		Token: s.cfg.ServingToken, Logger: log, Registerer: prom, Gatherer: prom})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", s.cfg.ServingAddr)
	if err != nil {
		return err
	}
	serve := []func(context.Context) error{func(ctx context.Context) error { return httpapi.Serve(ctx, l, h, s.grace) }}
	grpcAddr := "none"
	if !config.GRPCDisabled(s.cfg.ServingGRPCAddr) {
		g, err := grpcapi.New(reader, store, grpcapi.Options{MaxEntities: s.maxEntities, MaxMessageBytes: int(s.maxBody),
			Token: s.cfg.ServingToken, Logger: log, Registerer: prom})
		if err != nil {
			return err
		}
		gl, err := net.Listen("tcp", s.cfg.ServingGRPCAddr)
		if err != nil {
			l.Close()
			return fmt.Errorf("gRPC: %w (-grpc-addr none turns it off)", err)
		}
		grpcAddr = gl.Addr().String()
		serve = append(serve, func(ctx context.Context) error { return g.Serve(ctx, gl, s.grace) })
	}
	log.Info("serving", "addr", l.Addr().String(), "grpc", grpcAddr, "project", s.cfg.Project, "prefix", store.Prefix(), "redis", redisstore.Redact(s.cfg.RedisURL),
		"served_log_rate", s.servedRate)
	return serveAll(ctx, serve...)
}

// serveAll runs the servers (HTTP, gRPC) until ctx is done or one of them
// returns, which stops the others; it returns their errors, a panic as one.
func serveAll(ctx context.Context, servers ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() {
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("server panicked: %v", v)
					}
				}()
				return srv(ctx)
			}()
			cancel()
			errs <- err
		}()
	}
	var all []error
	for range servers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// servedLog opens the served log of the settings: off (rate 0) unless
// SKEWFREE_SERVED_LOG_RATE or -served-log-rate says otherwise.
func servedLog(s settings, reg *features.Registry, log *slog.Logger) (*servedlog.Logger, error) {
	var w servedlog.Writer = servedlog.Dir("")
	if s.servedRate > 0 {
		root, err := parquet.LocalPath(s.cfg.Offline)
		if err != nil {
			return nil, fmt.Errorf("served log: %w", err)
		}
		w = servedlog.OfflineDir(root)
	}
	return servedlog.New(reg, w, servedlog.Options{Rate: s.servedRate, Logger: log})
}
