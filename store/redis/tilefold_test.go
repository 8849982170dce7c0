package redis_test

import (
	"context"
	"fmt"
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

// liveField is the tile field of a request of n page views (user_live's
// source) ingested at ingest.
func liveField(t testing.TB, reg *features.Registry, n int, ingest int64) []byte {
	t.Helper()
	v, _ := reg.View("user_live")
	f := &features.Frame{}
	prod := features.NewColumn("product_id", features.Int64, n)
	dwell := features.NewColumn("dwell_seconds", features.Float64, n)
	dev := features.NewColumn("device", features.String, n)
	rows := make([]int, n)
	for i := range n {
		f.Time = append(f.Time, ingest-int64(i))
		_ = prod.Append(features.IntValue(int64(i)))
		_ = dwell.Append(features.FloatValue(1.5))
		_ = dev.Append(features.StringValue("mobile"))
		rows[i] = i
	}
	f.Columns = []*features.Column{prod, dwell, dev}
	st := features.NewTileState(v)
	if err := st.AddEvents(v, f, rows); err != nil {
		t.Fatal(err)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := onlinecodec.AppendTileField(nil, onlinecodec.TileField{IngestMicros: ingest, Fingerprint: reg.Fingerprint("user_live"), State: b})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tileCount merges the fields of a tile ingested by T and answers
// page_views_5m (the number of events counted) and the number of fields.
func tileCount(t testing.TB, c goredis.UniversalClient, reg *features.Registry, key string, T int64) (int64, int) {
	t.Helper()
	v, _ := reg.View("user_live")
	vals, err := c.HVals(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	total := features.NewTileState(v)
	for _, s := range vals {
		tf, err := onlinecodec.DecodeTileField(s)
		if err != nil {
			t.Fatal(err)
		}
		if tf.IngestMicros > T {
			continue
		}
		st, err := features.UnmarshalTileState(v, tf.State)
		if err != nil {
			t.Fatal(err)
		}
		if err := total.Merge(st); err != nil {
			t.Fatal(err)
		}
	}
	return total.Values(v)[0].Int64(), len(vals)
}

// Folding keeps every read at or after the horizon exact, never loses a
// field written concurrently, bounds the fields of a tile, and never
// counts a retried (rewritten) request twice once it is folded.
func TestWriteFoldTiles(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 16})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	reg := demo.Registry()
	s := newStore(t, c, t0)
	key := "t:v1:{s:u1}:user_live:0"
	exp := time.Now().Add(time.Hour)
	base := features.Micros(t0)
	write := func(id string, n int, ingest int64, fold redisstore.TileFold) (redisstore.FoldStats, error) {
		return s.WriteFoldTiles(ctx, []redisstore.TileWrite{{Key: key, Field: id, Value: liveField(t, reg, n, ingest),
			ExpireAt: exp, Ingest: features.FromMicros(ingest), View: "user_live"}}, fold)
	}

	// 8 writers × 25 requests, request i of events i%5+1 ingested at
	// base + i seconds; each write folds what is 10s older than it.
	const writers, per = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*per)
	var mu sync.Mutex
	folded := 0
	for w := range writers {
		wg.Go(func() {
			for j := range per {
				i := w*per + j
				ingest := base + int64(i)*1e6
				st, err := write(fmt.Sprintf("r%d", i), i%5+1, ingest,
					redisstore.TileFold{Through: features.FromMicros(ingest - 10e6), MinFields: 2})
				if err == nil {
					err = st.Err
				}
				if err != nil {
					errs <- err
				}
				mu.Lock()
				folded += st.Tiles
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := func(upTo int) int64 { // events of requests 0..upTo
		var n int64
		for i := 0; i <= upTo; i++ {
			n += int64(i%5 + 1)
		}
		return n
	}
	if folded == 0 {
		t.Fatal("nothing was folded")
	}
	last := writers*per - 1
	got, fields := tileCount(t, c, reg, key, base+int64(last)*1e6)
	if got != want(last) {
		t.Fatalf("after concurrent writes and folds: %d events, want %d (fields lost or doubled)", got, want(last))
	}
	// The newest fold's ingest time is at most 10s before the newest
	// write's horizon, so every read at T >= newest - 10s is exact.
	for _, back := range []int{0, 3, 7} {
		T := base + int64(last-back)*1e6
		if got, _ := tileCount(t, c, reg, key, T); got != want(last-back) {
			t.Fatalf("read at newest-%ds: %d events, want %d", back, got, want(last-back))
		}
	}
	t.Logf("%d requests, %d folds, %d fields left", writers*per, folded, fields)

	// One more write folds everything older than the horizon: the tile
	// keeps the fold plus the requests of the last 10s.
	next := base + int64(last+1)*1e6
	if _, err := write(fmt.Sprintf("r%d", last+1), 1, next, redisstore.TileFold{Through: features.FromMicros(next - 10e6), MinFields: 2}); err != nil {
		t.Fatal(err)
	}
	if _, fields = tileCount(t, c, reg, key, next); fields > 1+11 {
		t.Fatalf("%d fields after folding, want at most the fold and 11 recent requests", fields)
	}
	// Retries of folded requests (same id, same value) are not counted again.
	for i := range 5 {
		if _, err := write(fmt.Sprintf("r%d", i), i%5+1, base+int64(i)*1e6, redisstore.TileFold{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := tileCount(t, c, reg, key, next); got != want(last+1) {
		t.Fatalf("after retries of folded requests: %d events, want %d", got, want(last+1))
	}
	for _, k := range []string{key, onlinecodec.TileRequestsKey(key)} {
		if at := c.PExpireTime(ctx, k).Val(); at != time.Duration(exp.UnixMilli())*time.Millisecond {
			t.Fatalf("%s expires at %v, want %v", k, at, exp.UnixMilli())
		}
	}
}
