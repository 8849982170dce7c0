package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
)

// commandCounter counts the commands a client sends, pipelined or not.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestFetchOneCommand: a read from a single server is one MGET, whatever
// the number of keys (Redis parses and answers one command instead of one
// per key), and answers each key in order, "" for missing ones.
func TestFetchOneCommand(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	reg := demo.Registry()
	s := newStore(t, c, t0)
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("u%03d", i))
	}
	if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", keys[:200], t0, t0, 3)); err != nil {
		t.Fatal(err)
	}
	rk := make([]string, len(keys))
	for i, k := range keys {
		rk[i], _ = s.Key("user_orders", features.Key{Str: k})
	}
	cmds := &commandCounter{}
	c.AddHook(cmds)
	for _, n := range []int{1, 300} {
		before := cmds.n.Load()
		raw, err := s.Fetch(ctx, rk[len(rk)-n:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmds.n.Load() - before; got != 1 {
			t.Errorf("%d keys: %d commands, want 1", n, got)
		}
		if len(raw) != n {
			t.Fatalf("%d keys: %d values", n, len(raw))
		}
		for j, v := range raw {
			i := len(rk) - n + j
			if (v != "") != (i < 200) {
				t.Errorf("%d keys: key %s present %v, want %v", n, keys[i], v != "", i < 200)
			}
		}
	}
}
