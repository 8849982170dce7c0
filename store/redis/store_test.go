package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// t0 is recent: Redis expires keys by its own clock.
var t0 = time.Now().UTC().Truncate(time.Hour)

// frame builds rows of view for keys, every feature derived from mark so a
// test can tell which write a stored value came from.
func frame(t testing.TB, reg *features.Registry, view string, keys []string, event, created time.Time, mark int64) *features.Frame {
	t.Helper()
	v, _ := reg.View(view)
	ent := reg.EntityOf(v)
	f := &features.Frame{Key: features.NewColumn(ent.JoinKey, ent.KeyType, len(keys))}
	for _, k := range keys {
		kv := features.StringValue(k)
		if ent.KeyType == features.Int64 {
			n, _ := strconv.ParseInt(k, 10, 64)
			kv = features.IntValue(n)
		}
		if err := f.Key.Append(kv); err != nil {
			t.Fatal(err)
		}
		f.Time = append(f.Time, features.Micros(event))
		f.Created = append(f.Created, features.Micros(created))
	}
	for j, ft := range v.Features() {
		c := features.NewColumn(ft.Name, ft.Type, len(keys))
		for range keys {
			var val features.Value
			switch ft.Type {
			case features.Int64:
				val = features.IntValue(mark)
			case features.Float64:
				val = features.FloatValue(float64(mark) + 0.5)
			case features.String:
				val = features.StringValue(fmt.Sprintf("m%d", mark))
			case features.Bool:
				val = features.BoolValue(mark%2 == 1)
			}
			if j == 1 {
				val = features.Null // one null per row
			}
			_ = c.Append(val)
		}
		f.Columns = append(f.Columns, c)
	}
	return f
}

// stored returns the mark and header of the value of (view, key), or -1.
func stored(t testing.TB, s *redisstore.Store, view, key string) (int64, onlinecodec.Header) {
	t.Helper()
	k, err := s.Key(view, features.Key{Str: key})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Fetch(context.Background(), []string{k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] == "" {
		return -1, onlinecodec.Header{}
	}
	h, vals, err := onlinecodec.Decode(raw[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vals[1].IsNull() {
		t.Fatalf("feature 1 should be null, got %v", vals[1])
	}
	return vals[0].Int64(), h
}

func newStore(t testing.TB, c goredis.UniversalClient, now time.Time) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, demo.Registry(), redisstore.Options{Prefix: "t", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMonotonicWrites(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	reg := demo.Registry()
	s := newStore(t, c, t0)
	h := time.Hour
	tests := []struct {
		name             string
		event, created   time.Duration // relative to t0, for the second write
		wantMark         int64
		wantWrit, wantSt int
	}{
		{"newer event wins", h, 0, 2, 1, 0},
		{"older event dropped", -h, 10 * h, 1, 0, 1},
		{"same event, later created wins", 0, h, 2, 1, 0},
		{"same event, earlier created dropped", 0, -h, 1, 0, 1},
		{"identical header overwrites (idempotent retry)", 0, 0, 2, 1, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "u" + strconv.Itoa(i)
			if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{key}, t0, t0, 1)); err != nil {
				t.Fatal(err)
			}
			st, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{key}, t0.Add(tc.event), t0.Add(tc.created), 2))
			if err != nil {
				t.Fatal(err)
			}
			if st.Written != tc.wantWrit || st.Stale != tc.wantSt {
				t.Errorf("stats %+v, want written %d stale %d", st, tc.wantWrit, tc.wantSt)
			}
			if m, _ := stored(t, s, "user_orders", key); m != tc.wantMark {
				t.Errorf("stored mark %d, want %d", m, tc.wantMark)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	reg := demo.Registry()
	now := time.Now().UTC()
	s := newStore(t, c, now)
	ttl := 2 * 24 * time.Hour // user_orders

	// Already expired: skipped, nothing written.
	st, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{"old"}, now.Add(-ttl-time.Second), now, 1))
	if err != nil || st.Expired != 1 || st.Written != 0 {
		t.Fatalf("expired row: stats %+v err %v", st, err)
	}
	if m, _ := stored(t, s, "user_orders", "old"); m != -1 {
		t.Fatalf("expired row was stored")
	}
	// Valid: expires at event_timestamp + TTL.
	event := now.Add(-ttl + 1500*time.Millisecond)
	if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{"fresh"}, event, now, 1)); err != nil {
		t.Fatal(err)
	}
	k, _ := s.Key("user_orders", features.Key{Str: "fresh"})
	at, err := c.PExpireTime(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := event.Add(ttl).Truncate(time.Millisecond).Add(time.Millisecond)
	if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(want) {
		t.Fatalf("expire time %s, want %s", got, want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m, _ := stored(t, s, "user_orders", "fresh"); m == -1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNoScriptFallbackAndCluster(t *testing.T) {
	single := testenv.StartRedis(t)
	addrs := testenv.StartRedisCluster(t, 3)
	clients := map[string]goredis.UniversalClient{
		"single":  goredis.NewClient(&goredis.Options{Addr: single.Addr}),
		"cluster": goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs}),
	}
	reg := demo.Registry()
	ctx := context.Background()
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			defer c.Close()
			s := newStore(t, c, t0)
			if cc, ok := c.(*goredis.ClusterClient); ok {
				_ = cc.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error { return n.ScriptFlush(ctx).Err() })
			} else {
				c.ScriptFlush(ctx)
			}
			keys := make([]string, 1200) // more than two batches
			for i := range keys {
				keys[i] = fmt.Sprintf("u%05d", i)
			}
			st, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", keys, t0, t0, 7))
			if err != nil || st.Written != len(keys) {
				t.Fatalf("write: %+v %v", st, err)
			}
			rk := make([]string, len(keys))
			for i, k := range keys {
				rk[i], _ = s.Key("user_orders", features.Key{Str: k})
			}
			raw, err := s.Fetch(ctx, append(rk, "t:v1:{s:missing}:user_orders"), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range keys {
				h, vals, err := onlinecodec.Decode(raw[i], nil)
				if err != nil || vals[0].Int64() != 7 || h.EventMicros != features.Micros(t0) || h.Fingerprint != reg.Fingerprint("user_orders") {
					t.Fatalf("key %s: %v %v %v", keys[i], h, vals, err)
				}
			}
			if raw[len(keys)] != "" {
				t.Fatal("missing key read as present")
			}
			if cc, ok := c.(*goredis.ClusterClient); ok {
				// the keys spread over every node
				var mu sync.Mutex
				sizes := map[string]int64{}
				_ = cc.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error {
					sz := n.DBSize(ctx).Val()
					mu.Lock()
					sizes[n.Options().Addr] = sz
					mu.Unlock()
					return nil
				})
				for a, sz := range sizes {
					if sz < 100 {
						t.Errorf("node %s holds only %d keys: %v", a, sz, sizes)
					}
				}
			}
		})
	}
}

func TestWatchSignalsChangedKeys(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	reg := demo.Registry()
	s := newStore(t, c, t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type sig struct {
		keys  []string
		reset bool
	}
	got := make(chan sig, 10)
	go s.Watch(ctx, func(keys []string, reset bool) { got <- sig{keys, reset} })
	if g := <-got; !g.reset {
		t.Fatalf("first signal should be a reset, got %+v", g)
	}
	if g := <-got; g.reset || len(g.keys) != 0 {
		t.Fatalf("second signal should say the subscription is up, got %+v", g)
	}
	if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{"a", "b"}, t0, t0, 1)); err != nil {
		t.Fatal(err)
	}
	// Stale rows change nothing and send no signal.
	if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{"a"}, t0.Add(-time.Hour), t0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "user_orders", frame(t, reg, "user_orders", []string{"b"}, t0.Add(time.Hour), t0, 1)); err != nil {
		t.Fatal(err)
	}
	ka, _ := s.Key("user_orders", features.Key{Str: "a"})
	kb, _ := s.Key("user_orders", features.Key{Str: "b"})
	want := [][]string{{ka, kb}, {kb}}
	for _, w := range want {
		select {
		case g := <-got:
			if g.reset || fmt.Sprint(g.keys) != fmt.Sprint(w) {
				t.Fatalf("signal %+v, want keys %v", g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no signal for %v", w)
		}
	}
}

func TestWriteRejectsBadFrames(t *testing.T) {
	reg := demo.Registry()
	s, err := redisstore.New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), reg, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := func() *features.Frame { return frame(t, reg, "user_orders", []string{"a"}, t0, t0, 1) }
	noCol := good()
	noCol.Columns = noCol.Columns[1:]
	wrongKey := frame(t, reg, "product_sales", []string{"1"}, t0, t0, 1)
	for name, tc := range map[string]struct {
		view string
		f    *features.Frame
	}{
		"unknown view":   {"nope", good()},
		"missing column": {"user_orders", noCol},
		"wrong key type": {"user_orders", wrongKey},
	} {
		if _, err := s.Write(ctx, tc.view, tc.f); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := redisstore.New(nil, reg, redisstore.Options{Prefix: "a{b"}); err == nil {
		t.Error("prefix with { accepted")
	}
}
