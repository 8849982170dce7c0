package serving_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// BenchmarkGetCoalesceIdle measures what Options.Coalesce costs a Get that
// finds no fetch in flight (one caller at a time, 1 entity × 5 views × 10
// features): against an in-memory store, so the reader's own work is all
// there is, compare coalesce=on with coalesce=off of the same run; against
// Redis (store=redis), Gets with and without coalescing alternate, so that
// the load of a shared machine hits both alike, and it reports both
// latencies and their ratio.
func BenchmarkGetCoalesceIdle(b *testing.B) {
	reg := testenv.WideRegistry(5, 50, 0)
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("u%06d", i)
	}
	store := newMemStore(b, reg, users, time.Now().UTC())
	var refs []string
	for _, v := range reg.Views() {
		for _, f := range v.Features()[:10] {
			refs = append(refs, v.Name+":"+f.Name)
		}
	}
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "coalesce=off", true: "coalesce=on"}[on]
		b.Run(name, func(b *testing.B) {
			r, err := serving.New(reg, store, serving.Options{Coalesce: on})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := r.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys(users[i%len(users)])}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("store=redis", func(b *testing.B) {
		srv := testenv.StartRedis(b)
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
		b.Cleanup(func() { c.Close() })
		rs, err := redisstore.New(c, reg, redisstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		for _, v := range reg.Views() {
			f := testenv.Frame(b, reg, v.Name, serving.StringKeys(users...), now, now, testenv.Sample(1))
			if _, err := rs.Write(context.Background(), v.Name, f); err != nil {
				b.Fatal(err)
			}
		}
		var readers [2]*serving.Reader
		for j, on := range []bool{false, true} {
			if readers[j], err = serving.New(reg, rs, serving.Options{Coalesce: on}); err != nil {
				b.Fatal(err)
			}
		}
		var lat [2]testenv.Latencies
		ctx := context.Background()
		i := 0
		for b.Loop() {
			i++
			j := i % 2
			t := time.Now()
			if _, err := readers[j].Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys(users[i%len(users)])}); err != nil {
				b.Fatal(err)
			}
			lat[j].Add(time.Since(t))
		}
		b.ReportMetric(lat[0].Percentile(50)/1e3, "off-p50-µs")
		b.ReportMetric(lat[0].Percentile(99)/1e3, "off-p99-µs")
		b.ReportMetric(lat[1].Percentile(50)/1e3, "on-p50-µs")
		b.ReportMetric(lat[1].Percentile(99)/1e3, "on-p99-µs")
		b.ReportMetric(lat[1].Percentile(50)/lat[0].Percentile(50), "on/off-p50")
		b.ReportMetric(lat[1].Percentile(99)/lat[0].Percentile(99), "on/off-p99")
	})
}
