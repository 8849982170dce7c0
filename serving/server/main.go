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
//	SKEWFREE_SERVING_REGISTRY  published (default): the catalog `starter apply`
//	                        published under the prefix, followed while serving;
//	                        demo: the demo repository compiled in
//	SKEWFREE_CATALOG_POLL   5s: how often to look for a newly published catalog
//	SKEWFREE_SERVED_LOG_RATE  fraction of entity keys whose served rows are logged (0: off)
//	SKEWFREE_OFFLINE        offline root the served log goes under (<root>/_served); file:// or gs://
//	SKEWFREE_SERVING_COALESCE  true (default): concurrent requests share Redis
//	                        round trips (serving.Options.Coalesce); false: one each
//
// With the published catalog (the default) it needs no rebuild for a new
// feature: `starter apply` publishes the registry's catalog, and the service
// loads it at start and swaps in each new version while it runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/catalogsync"
	"github.com/skewfree/skewfree/serving/grpcapi"
	"github.com/skewfree/skewfree/serving/httpapi"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
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
	catalog     config.ServingCatalog
	cache       int
	cacheTTL    time.Duration
	maxEntities int
	maxBody     int64
	grace       time.Duration
	servedRate  float64
	coalesce    bool
}

// parseSettings reads the environment through package config, then flags.
func parseSettings(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	s := settings{cfg: config.FromEnv(getenv).WithDefaults()}
	rate, err := config.ServedLogRateFromEnv(getenv)
	if err != nil {
		return s, err
	}
	cat, envErr := config.ServingCatalogFromEnv(getenv)
	s.catalog = cat
	coalesce, coalesceErr := config.ServingCoalesceFromEnv(getenv)
	s.coalesce = coalesce
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
	fs.StringVar(&s.catalog.Registry, "registry", s.catalog.Registry, "registry to serve: published (the catalog starter apply published, followed while serving) or demo ($"+config.EnvServingRegistry+")")
	fs.DurationVar(&s.catalog.Poll, "catalog-poll", s.catalog.Poll, "how often to look for a newly published catalog ($"+config.EnvCatalogPoll+")")
	fs.Func("served-log-rate", fmt.Sprintf("fraction of entity keys whose served rows are logged, 0..1 ($%s; default %v)", config.EnvServedLogRate, rate), func(v string) error {
		r, err := config.ParseRate(v)
		rate = r
		return err
	})
	fs.BoolVar(&s.coalesce, "coalesce", s.coalesce, "share Redis round trips between concurrent requests ($"+config.EnvServingCoalesce+"; default true)")
	fs.StringVar(&s.cfg.Offline, "offline", s.cfg.Offline, "offline root (file://path or gs://bucket/prefix) the served log is written under ($"+config.EnvOffline+")")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	pollFlag, coalesceFlag := false, false
	fs.Visit(func(f *flag.Flag) {
		pollFlag = pollFlag || f.Name == "catalog-poll"
		coalesceFlag = coalesceFlag || f.Name == "coalesce"
	})
	if envErr != nil && !pollFlag { // a bad variable matters unless a flag overrides it
		return s, envErr
	}
	if coalesceErr != nil && !coalesceFlag {
		return s, coalesceErr
	}
	if err := s.catalog.Validate(); err != nil {
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
	client, err := redisstore.NewClient(s.cfg.RedisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	svc, err := newService(ctx, s, client, log)
	if err != nil {
		return err
	}
	// Closed after the reader and after the servers returned: nothing
	// logged is lost.
	defer func() {
		if err := svc.served.Close(); err != nil {
			log.Error("served log", "err", err)
		}
	}()
	defer svc.reader.Close()
	l, err := net.Listen("tcp", s.cfg.ServingAddr)
	if err != nil {
		return err
	}
	if svc.sync != nil {
		go func() { _ = svc.sync.Run(ctx) }() // never fails; a failed check is logged and counted
	}
	serve := []func(context.Context) error{func(ctx context.Context) error { return httpapi.Serve(ctx, l, svc.handler, s.grace) }}
	grpcAddr := "none"
	if !config.GRPCDisabled(s.cfg.ServingGRPCAddr) {
		g, err := grpcapi.New(svc.reader, svc.store, grpcapi.Options{MaxEntities: s.maxEntities, MaxMessageBytes: int(s.maxBody),
			Token: s.cfg.ServingToken, Logger: log, Registerer: svc.metrics})
		if err != nil {
			l.Close()
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
	log.Info("serving", "addr", l.Addr().String(), "grpc", grpcAddr, "project", s.cfg.Project, "prefix", svc.store.Prefix(), "redis", redisstore.Redact(s.cfg.RedisURL),
		"registry", s.catalog.Registry, "catalog_version", svc.reader.Registry().CatalogVersion(), "served_log_rate", s.servedRate, "coalesce", s.coalesce)
	return serveAll(ctx, serve...)
}

// service is the reader service: its handler over a reader, and with the
// published catalog the syncer to run beside it (nil for the demo).
type service struct {
	handler http.Handler
	reader  *serving.Reader
	store   *redisstore.Store
	sync    *catalogsync.Syncer
	metrics *prometheus.Registry // HTTP's and gRPC's, so /metrics shows both
	served  servedLogger         // closed after the reader: nothing logged is lost
}

// newService builds the reader service over client: it loads the
// registry to serve (the published catalog, or the demo) and wires the
// reader, the handler and their metrics. Close the reader when done.
func newService(ctx context.Context, s settings, client goredis.UniversalClient, log *slog.Logger) (*service, error) {
	// The store reads values, schemas and catalogs; it writes nothing, so
	// it needs no registry.
	store, err := redisstore.New(client, features.NewRegistry(), redisstore.Options{Prefix: s.cfg.OnlinePrefix(), Logger: log})
	if err != nil {
		return nil, err
	}
	var reg *features.Registry
	switch s.catalog.Registry {
	case config.RegistryDemo:
		reg = demo.Registry()
	default:
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		reg, err = catalogsync.Load(lctx, store)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("load the published catalog under prefix %q (run starter apply for project %q first): %w", store.Prefix(), s.cfg.Project, err)
		}
	}
	served, err := servedLog(ctx, s, reg, log)
	if err != nil {
		return nil, err
	}
	var sl serving.ServedLog // nil when off: the reader then pays nothing
	if s.servedRate > 0 {
		sl = served
	}
	reader, err := serving.New(reg, store, serving.Options{CacheEntries: s.cache, CacheTTL: s.cacheTTL, Logger: log, ServedLog: sl,
		Coalesce: s.coalesce})
	if err != nil {
		served.Close()
		return nil, err
	}
	// One metrics registry, so /metrics shows the gRPC calls and the served log too.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.MustRegister(served.Collectors()...)
	svc := &service{reader: reader, store: store, metrics: metrics, served: served}
	if s.catalog.Registry == config.RegistryPublished {
		if svc.sync, err = catalogsync.New(store, reader, catalogsync.Options{Interval: s.catalog.Poll, Registerer: metrics, Logger: log}); err != nil {
			reader.Close()
			served.Close()
			return nil, err
		}
	}
	svc.handler, err = httpapi.New(reg, reader, store, httpapi.Options{MaxEntities: s.maxEntities, MaxBodyBytes: s.maxBody,
		Token: s.cfg.ServingToken, Registerer: metrics, Gatherer: metrics, Logger: log})
	if err != nil {
		reader.Close()
		served.Close()
		return nil, err
	}
	return svc, nil
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

// servedLogger is the served log and what it writes through: Close
// writes what the log holds, then closes the Cloud Storage client, if any.
type servedLogger struct {
	*servedlog.Logger
	fs io.Closer
}

func (l servedLogger) Close() error {
	err := l.Logger.Close()
	if l.fs != nil {
		err = errors.Join(err, l.fs.Close())
	}
	return err
}

// servedLog opens the served log of the settings: off (rate 0) unless
// SKEWFREE_SERVED_LOG_RATE or -served-log-rate says otherwise. It goes
// under the offline root: a local folder, or Cloud Storage for a gs://
// root (checked at start: a missing bucket or permission stops the
// service with an error naming the bucket).
func servedLog(ctx context.Context, s settings, reg *features.Registry, log *slog.Logger) (servedLogger, error) {
	var w servedlog.Writer = servedlog.Dir("")
	var owned io.Closer
	switch {
	case s.servedRate == 0:
	case strings.HasPrefix(s.cfg.Offline, "gs://"):
		f, err := gcsfs.Open(ctx, s.cfg.Offline, gcsfs.Options{})
		if err != nil {
			return servedLogger{}, fmt.Errorf("served log: %w", err)
		}
		w, owned = servedlog.InFS(f), f
	default:
		root, err := parquet.LocalPath(s.cfg.Offline)
		if err != nil {
			return servedLogger{}, fmt.Errorf("served log: %w", err)
		}
		w = servedlog.OfflineDir(root)
	}
	l, err := servedlog.New(reg, w, servedlog.Options{Rate: s.servedRate, Logger: log})
	if err != nil {
		if owned != nil {
			owned.Close()
		}
		return servedLogger{}, err
	}
	return servedLogger{Logger: l, fs: owned}, nil
}
