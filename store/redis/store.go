// Package redis is Skewfree's online store: the latest value of every
// (feature view, entity key) in Redis or Redis Cluster, written by pipelines
// and read by the serving library.
//
// Values use the versioned binary encoding of internal/onlinecodec (see
// docs/format/online.md). Writes are pipelined batches of a Lua script that
// refuses to move a value back in time; reads are one pipeline, which go-redis
// splits into one round trip per cluster node. After each write batch the
// store publishes the keys it changed, so serving caches can drop them.
package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// Options configure a Store. The zero value is valid: every field documents
// its default.
type Options struct {
	// Prefix starts every key, so several projects or deployments can share
	// one Redis. Default "sf". It must not contain "{" or "}".
	Prefix string
	// BatchSize is the number of rows per write pipeline. Default 512.
	BatchSize int
	// ExpiryGrace keeps keys this long past event_timestamp+TTL before Redis
	// expires them, so readers can report OUTSIDE_MAX_AGE (stale) instead of
	// NOT_FOUND for entities whose pipeline stopped. Default 0: keys expire
	// exactly when they stop being valid.
	ExpiryGrace time.Duration
	// Now is the writer's clock, used only to skip rows that have already
	// expired. Default time.Now.
	Now func() time.Time
	// PingInterval is how long Watch's subscription may stay quiet before
	// it is pinged. Default 1s.
	PingInterval time.Duration
	// PongTimeout is how long a ping may go unanswered before the
	// subscription counts as lost (its subscriber then drops its cache and
	// stops caching until it is back). Longer than PingInterval, so that a
	// Redis stall of a second or two (a fork, a slow command) does not make
	// every reader drop its cache at once. Default 5s.
	PongTimeout time.Duration
	// Logger receives warnings (lost pub/sub connection). Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Prefix != "" {
		if err := onlinecodec.CheckPrefix(o.Prefix); err != nil {
			return fmt.Errorf("redis store: %w", err)
		}
	}
	if o.BatchSize < 0 {
		return fmt.Errorf("redis store: batch size %d is negative", o.BatchSize)
	}
	if o.ExpiryGrace < 0 {
		return fmt.Errorf("redis store: expiry grace %s is negative", o.ExpiryGrace)
	}
	if o.PingInterval < 0 {
		return fmt.Errorf("redis store: ping interval %s is negative", o.PingInterval)
	}
	if o.PongTimeout < 0 {
		return fmt.Errorf("redis store: pong timeout %s is negative", o.PongTimeout)
	}
	return nil
}

func (o *Options) init() {
	if o.Prefix == "" {
		o.Prefix = "sf"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 512
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PingInterval == 0 {
		o.PingInterval = time.Second
	}
	if o.PongTimeout == 0 {
		o.PongTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store reads and writes online values. It is safe for concurrent use; it
// does not own the client, so closing it is the caller's job.
type Store struct {
	client goredis.UniversalClient
	reg    *features.Registry
	opts   Options
}

// New returns a store over client for the views of reg.
func New(client goredis.UniversalClient, reg *features.Registry, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	return &Store{client: client, reg: reg, opts: opts}, nil
}

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.opts.Prefix }

// Key returns the Redis key holding view's value for entity key k.
func (s *Store) Key(view string, k features.Key) (string, error) {
	v, ok := s.reg.View(view)
	if !ok {
		return "", fmt.Errorf("redis store: unknown view %q", view)
	}
	return onlinecodec.Key(s.opts.Prefix, view, s.reg.EntityOf(v).KeyType, k), nil
}

// Ping checks that Redis answers (every node, for a cluster).
func (s *Store) Ping(ctx context.Context) error {
	if c, ok := s.client.(*goredis.ClusterClient); ok {
		err := c.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error { return n.Ping(ctx).Err() })
		if err != nil {
			return fmt.Errorf("redis store: ping: %w", err)
		}
		return nil
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis store: ping: %w", err)
	}
	return nil
}

// NewClient builds a go-redis client from a URL: redis://[user:pass@]host:port[/db]
// (or rediss:// for TLS) for one server, and redis+cluster://host:port?addr=host2:port2
// (or rediss+cluster://) for a cluster, seeded with every address given.
// Its errors show the URL only through Redact.
func NewClient(url string) (goredis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("redis store: URL %q has no scheme (want redis://, rediss://, redis+cluster:// or rediss+cluster://)", Redact(url))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := goredis.ParseURL(url)
		if err != nil {
			return nil, urlError(url, err)
		}
		return goredis.NewClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := goredis.ParseClusterURL(strings.TrimSuffix(scheme, "+cluster") + "://" + rest)
		if err != nil {
			return nil, urlError(url, err)
		}
		return goredis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("redis store: URL %q: scheme %q unknown (want redis, rediss, redis+cluster or rediss+cluster)", Redact(url), scheme)
}
