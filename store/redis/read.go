package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Fetch reads the raw values of keys (from Key) in one pipeline: one round
// trip for a single server; with a cluster go-redis sends one pipeline per
// node, concurrently. It appends one string per key to dst[:0], "" for a
// missing key (no valid value is empty). The strings are owned by the caller.
func (s *Store) Fetch(ctx context.Context, keys []string, dst []string) ([]string, error) {
	dst = dst[:0]
	if len(keys) == 0 {
		return dst, nil
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
