package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Fetch reads the raw values of keys (from Key) in one round trip: one
// MGET for a single server, which costs Redis and go-redis far less than a
// pipeline of GETs (one command to parse and answer instead of one per
// key); with a cluster, whose keys spread over slots, a pipeline of GETs,
// which go-redis sends as one pipeline per node, concurrently. It appends
// one string per key to dst[:0], "" for a missing key (no valid value is
// empty). The strings are owned by the caller.
func (s *Store) Fetch(ctx context.Context, keys []string, dst []string) ([]string, error) {
	dst = dst[:0]
	if len(keys) == 0 {
		return dst, nil
	}
	if c, ok := s.client.(*goredis.Client); ok {
		return s.mget(ctx, c, keys, dst)
	}
	pipe := s.client.Pipeline()
	cmds := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	for i, c := range cmds {
		v, err := c.Result()
		switch {
		case err == nil:
			dst = append(dst, v)
		case errors.Is(err, goredis.Nil):
			dst = append(dst, "")
		default:
			return dst[:0], fmt.Errorf("redis store: read %s: %w", keys[i], err)
		}
	}
	return dst, nil
}

func (s *Store) mget(ctx context.Context, c *goredis.Client, keys []string, dst []string) ([]string, error) {
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		return dst[:0], fmt.Errorf("redis store: read %d keys (%s ...): %w", len(keys), keys[0], err)
	}
	if len(vals) != len(keys) {
		return dst[:0], fmt.Errorf("redis store: read %d keys: got %d values", len(keys), len(vals))
	}
	for i, v := range vals {
		switch v := v.(type) {
		case string:
			dst = append(dst, v)
		case nil:
			dst = append(dst, "")
		default:
			return dst[:0], fmt.Errorf("redis store: read %s: unexpected reply %T", keys[i], v)
		}
	}
	return dst, nil
}
