package serving_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// pipelineCounter counts round trips: pipelines and single commands sent.
type pipelineCounter struct{ n atomic.Int64 }

func (c *pipelineCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *pipelineCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *pipelineCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

type benchEnv struct {
	client  *goredis.Client
	reg     *features.Registry
	store   *redisstore.Store
	users   []string
	allRefs []string // 5 views × 50 features
	pipes   *pipelineCounter
}

// newBenchEnv starts a Redis holding 5 views × 50 features for 1000 users.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	srv := testenv.StartRedis(b)
	e := &benchEnv{pipes: &pipelineCounter{}, reg: testenv.WideRegistry(5, 50, 0)}
	e.client = goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 64})
	e.client.AddHook(e.pipes)
	b.Cleanup(func() { e.client.Close() })
	var err error
	e.store, err = redisstore.New(e.client, e.reg, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		e.users = append(e.users, fmt.Sprintf("u%06d", i))
	}
	now := time.Now().UTC()
	for _, v := range e.reg.Views() {
		f := testenv.Frame(b, e.reg, v.Name, serving.StringKeys(e.users...), now, now, testenv.Sample(1))
		if _, err := e.store.Write(context.Background(), v.Name, f); err != nil {
			b.Fatal(err)
		}
		for _, ft := range v.Features() {
			e.allRefs = append(e.allRefs, v.Name+":"+ft.Name)
		}
	}
	return e
}

func (e *benchEnv) keys(users []string) []string {
	var keys []string
	for _, u := range users {
		for _, v := range e.reg.Views() {
			keys = append(keys, onlinecodec.Key(e.store.Prefix(), v.Name, features.String, features.Key{Str: u}))
		}
	}
	return keys
}

// rawGet is the baseline: the same pipeline of GETs on the same keys with
// go-redis, without decoding.
func rawGet(ctx context.Context, c *goredis.Client, keys []string) error {
	pipe := c.Pipeline()
	for _, k := range keys {
		pipe.Get(ctx, k)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// rawMGet is the other baseline: one MGET of the same keys, which the
// store sends for a single Redis server.
func rawMGet(ctx context.Context, c *goredis.Client, keys []string) error {
	return c.MGet(ctx, keys...).Err()
}

// BenchmarkGet measures reader.Get against the raw go-redis pipeline of
// GETs on the same keys, interleaved op by op so that both see the same
// machine load. It reports p50/p99 of each and the p99 ratio (goals: ≤ 1.3
// for one entity, ≤ 1.5 for 100 entities), and the round trips sent per Get
// (the goal is one). The store reads a single server with one MGET, so the
// raw MGET of the same keys is measured too (rawmget-*, p99-ratio-mget):
// the reader's own overhead over the command it sends.
func BenchmarkGet(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	r, err := serving.New(e.reg, e.store, serving.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, entities := range []int{1, 100} {
		b.Run(fmt.Sprintf("entities=%d/views=5/features=50", entities), func(b *testing.B) {
			var lib, raw, mget testenv.Latencies
			i := 0
			var libPipes int64
			for b.Loop() {
				users := make([]string, entities)
				for j := range users {
					users[j] = e.users[(i*entities+j)%len(e.users)]
				}
				i++
				keys := e.keys(users)
				start := time.Now()
				if err := rawGet(ctx, e.client, keys); err != nil {
					b.Fatal(err)
				}
				raw.Add(time.Since(start))
				start = time.Now()
				if err := rawMGet(ctx, e.client, keys); err != nil {
					b.Fatal(err)
				}
				mget.Add(time.Since(start))
				before := e.pipes.n.Load()
				start = time.Now()
				res, err := r.Get(ctx, e.allRefs, serving.Entities{"user_id": serving.StringKeys(users...)})
				lib.Add(time.Since(start))
				libPipes += e.pipes.n.Load() - before
				if err != nil || res.Rows[0][0].Status != serving.Present {
					b.Fatal(err)
				}
			}
			reportLatencies(b, &lib, &raw)
			b.ReportMetric(mget.Percentile(50)/1e3, "rawmget-p50-µs")
			b.ReportMetric(mget.Percentile(99)/1e3, "rawmget-p99-µs")
			b.ReportMetric(lib.Percentile(99)/mget.Percentile(99), "p99-ratio-mget")
			b.ReportMetric(float64(libPipes)/float64(lib.Len()), "roundtrips/get")
		})
	}
}

func reportLatencies(b *testing.B, lib, raw *testenv.Latencies) {
	b.ReportMetric(lib.Percentile(50)/1e3, "lib-p50-µs")
	b.ReportMetric(lib.Percentile(99)/1e3, "lib-p99-µs")
	b.ReportMetric(raw.Percentile(50)/1e3, "raw-p50-µs")
	b.ReportMetric(raw.Percentile(99)/1e3, "raw-p99-µs")
	b.ReportMetric(lib.Percentile(99)/raw.Percentile(99), "p99-ratio")
}

// BenchmarkGetCacheHit measures a Get answered entirely from the cache: one
// entity, 5 views × 50 features.
func BenchmarkGetCacheHit(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	r, err := serving.New(e.reg, e.store, serving.Options{CacheEntries: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ents := serving.Entities{"user_id": serving.StringKeys(e.users[0])}
	for r.Stats().CacheHits == 0 { // until the subscription's reset has passed
		if _, err := r.Get(ctx, e.allRefs, ents); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	hits := r.Stats().CacheHits
	for b.Loop() {
		if _, err := r.Get(ctx, e.allRefs, ents); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.Stats().CacheHits-hits)/float64(b.N)/5, "hit-ratio")
}
