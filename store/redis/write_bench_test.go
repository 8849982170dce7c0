package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// BenchmarkWrite compares Store.Write (encode, monotonic Lua script, expiry,
// write signal) with the raw baseline: a go-redis pipeline of SET ... PXAT
// carrying the same encoded bytes to the same keys, in batches of the same
// size. Both alternate per op on the same server. It reports rows/s of
// each and their ratio.
func BenchmarkWrite(b *testing.B) {
	srv := testenv.StartRedis(b)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for _, feats := range []int{10, 50} {
		b.Run(fmt.Sprintf("rows=5000/features=%d", feats), func(b *testing.B) {
			reg := testenv.WideRegistry(1, feats, 48*time.Hour)
			s, err := redisstore.New(c, reg, redisstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]features.Value, 5000)
			for i := range keys {
				keys[i] = features.StringValue("u" + strconv.Itoa(i))
			}
			event := time.Now().UTC()
			f := testenv.Frame(b, reg, "wide_0", keys, event, event, testenv.Sample(1))
			v, _ := reg.View("wide_0")
			// The raw baseline's payload: the very bytes the store sends.
			rawKeys := make([]string, len(keys))
			rawVals := make([][]byte, len(keys))
			vals := make([]features.Value, len(f.Columns))
			for i := range keys {
				rawKeys[i] = onlinecodec.Key("raw", "wide_0", features.String, features.Key{Str: keys[i].Str()})
				for j, col := range f.Columns {
					vals[j] = col.Value(i)
				}
				rawVals[i], _ = onlinecodec.Append(nil, onlinecodec.Header{EventMicros: f.Time[i], CreatedMicros: f.Time[i], Fingerprint: reg.Fingerprint("wide_0")}, vals)
			}
			expireAt := event.Add(v.TTL)
			var libTime, rawTime time.Duration
			for b.Loop() {
				// A newer event each time, so every row is really written.
				event = event.Add(time.Microsecond)
				for i := range f.Time {
					f.Time[i], f.Created[i] = features.Micros(event), features.Micros(event)
				}
				start := time.Now()
				st, err := s.Write(ctx, "wide_0", f)
				libTime += time.Since(start)
				if err != nil || st.Written != len(keys) {
					b.Fatalf("%+v %v", st, err)
				}
				start = time.Now()
				for lo := 0; lo < len(rawKeys); lo += 512 {
					pipe := c.Pipeline()
					for i := lo; i < min(lo+512, len(rawKeys)); i++ {
						pipe.SetArgs(ctx, rawKeys[i], rawVals[i], goredis.SetArgs{ExpireAt: expireAt})
					}
					if _, err := pipe.Exec(ctx); err != nil {
						b.Fatal(err)
					}
				}
				rawTime += time.Since(start)
			}
			libRate := float64(b.N*len(keys)) / libTime.Seconds()
			rawRate := float64(b.N*len(keys)) / rawTime.Seconds()
			b.ReportMetric(libRate, "lib-rows/s")
			b.ReportMetric(rawRate, "raw-rows/s")
			b.ReportMetric(libRate/rawRate, "ratio")
		})
	}
}
