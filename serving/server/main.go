// Command server is Skewfree's HTTP reader service: Feast-compatible
// POST /get-online-features over the Redis online store, plus /healthz,
// /readyz, /metrics and /catalog. Flags override the environment:
//
//	SKEWFREE_REDIS_URL      redis://localhost:6379/0 (redis+cluster://h1:p1?addr=h2:p2 for a cluster)
//	SKEWFREE_SERVING_ADDR   :6566 (Feast's port)
//	SKEWFREE_SERVING_TOKEN  bearer token required from clients (none by default)
//	SKEWFREE_REDIS_PREFIX   sf
//
// It serves the demo repository's definitions; a team serving its own
// builds the same thirty lines around its own registry.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/httpapi"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run() error {
	redisURL := flag.String("redis", env("SKEWFREE_REDIS_URL", "redis://localhost:6379/0"), "Redis URL ($SKEWFREE_REDIS_URL)")
	addr := flag.String("addr", env("SKEWFREE_SERVING_ADDR", ":6566"), "listen address ($SKEWFREE_SERVING_ADDR)")
	prefix := flag.String("prefix", env("SKEWFREE_REDIS_PREFIX", "sf"), "online key prefix ($SKEWFREE_REDIS_PREFIX)")
	cache := flag.Int("cache-entries", 100_000, "in-process cache size in (view, entity) entries; 0 disables it")
	cacheTTL := flag.Duration("cache-ttl", time.Minute, "longest time a cached value is kept")
	maxEntities := flag.Int("max-entities", 1000, "most entity rows per request")
	maxBody := flag.Int64("max-body-bytes", 1<<20, "largest request body")
	grace := flag.Duration("shutdown-grace", 10*time.Second, "time given to requests in flight on SIGTERM")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := demo.Registry()
	client, err := redisstore.NewClient(*redisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	store, err := redisstore.New(client, reg, redisstore.Options{Prefix: *prefix, Logger: log})
	if err != nil {
		return err
	}
	reader, err := serving.New(reg, store, serving.Options{CacheEntries: *cache, CacheTTL: *cacheTTL, Logger: log})
	if err != nil {
		return err
	}
	defer reader.Close()
	h, err := httpapi.New(reg, reader, store, httpapi.Options{MaxEntities: *maxEntities, MaxBodyBytes: *maxBody,
		Token: os.Getenv("SKEWFREE_SERVING_TOKEN"), Logger: log})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", l.Addr().String(), "redis", redisstore.Redact(*redisURL))
	return httpapi.Serve(ctx, l, h, *grace)
}
