package push_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
)

// BenchmarkIngest: events/s through Push (claim, Parquet file, tiles in
// MULTI/EXEC) against raw pipelined Redis writes of the same events (one
// HSET per event, one pipeline per request), in the same run.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{100, 1000} {
		r := newRig(b)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 1))
		users := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "nobody"}
		reqs := make([]push.Request, 64)
		for i := range reqs {
			reqs[i] = randomN(rng, n, r.clock, users)
		}
		b.Run(fmt.Sprintf("push/events=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := reqs[i%len(reqs)]
				q.RequestID = fmt.Sprintf("b-%d-%d", n, i)
				if _, err := r.pusher.Push(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(fmt.Sprintf("raw-redis/events=%d", n), func(b *testing.B) {
			c := r.rawClient(b)
			for i := 0; b.Loop(); i++ {
				q := reqs[i%len(reqs)]
				pipe := c.Pipeline()
				for j, u := range q.Columns["user_id"] {
					pipe.HSet(ctx, "raw:"+u.Str(), fmt.Sprintf("%d-%d", i, j), q.Columns["amount"][j].String())
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPushVisible: from the start of a push of one event to the
// first read that counts it (p50/p99), against a batch value's write and
// read-back through the online store in the same run.
func BenchmarkPushVisible(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	rd, err := serving.New(r.reg, r.online, serving.Options{Now: func() time.Time { return r.clock }})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	ents := serving.Entities{"user_id": serving.StringKeys("u1")}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("push", func(b *testing.B) {
		var lat []time.Duration
		for i := 0; b.Loop(); i++ {
			before, err := rd.Get(ctx, []string{"clicks_fresh:clicks_5m"}, ents)
			if err != nil {
				b.Fatal(err)
			}
			q := validRequest(r.clock)
			for k := range q.Columns {
				q.Columns[k] = q.Columns[k][:1]
			}
			q.RequestID = fmt.Sprintf("v-%d", i)
			start := time.Now()
			if _, err := r.pusher.Push(ctx, q); err != nil {
				b.Fatal(err)
			}
			for {
				res, err := rd.Get(ctx, []string{"clicks_fresh:clicks_5m"}, ents)
				if err != nil {
					b.Fatal(err)
				}
				if res.Rows[0][0].Value.Int64() > before.Rows[0][0].Value.Int64() {
					break
				}
			}
			lat = append(lat, time.Since(start))
			if i%200 == 199 { // keep the 5m window from filling forever
				r.clock = r.clock.Add(6 * time.Minute)
			}
		}
		report(b, lat)
	})
	b.Run("batch-write", func(b *testing.B) {
		v, _ := r.reg.View("clicks_hourly")
		var lat []time.Duration
		for i := 0; b.Loop(); i++ {
			f := &features.Frame{Key: features.NewColumn("user_id", features.String, 1),
				Time: []int64{features.Micros(r.clock) + int64(i)}, Created: []int64{int64(i)}}
			_ = f.Key.Append(features.StringValue("u1"))
			c := features.NewColumn(v.Features()[0].Name, features.Int64, 1)
			_ = c.Append(features.IntValue(int64(i + 1)))
			f.Columns = []*features.Column{c}
			start := time.Now()
			if _, err := r.online.Write(ctx, v.Name, f); err != nil {
				b.Fatal(err)
			}
			for {
				res, err := rd.Get(ctx, []string{"clicks_hourly:clicks_1h"}, ents)
				if err != nil {
					b.Fatal(err)
				}
				if res.Rows[0][0].Value.Int64() == int64(i+1) {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
}

// BenchmarkReadFresh: Get of every feature of the fresh view (tiles merged
// at read time) against a batch view's value, for 1 and 100 entities.
func BenchmarkReadFresh(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2, 2))
	var users []string
	for i := range 100 {
		users = append(users, fmt.Sprintf("u%d", i))
	}
	// 10 minutes of traffic: every tile of the 10m window holds fields.
	start := r.clock
	for i := range 120 {
		r.clock = start.Add(time.Duration(i) * 5 * time.Second)
		q := randomN(rng, 200, r.clock, users)
		q.RequestID = fmt.Sprintf("r-%d", i)
		if _, err := r.pusher.Push(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	v, _ := r.reg.View("clicks_hourly")
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, len(users))}
	c := features.NewColumn(v.Features()[0].Name, features.Int64, len(users))
	for _, u := range users {
		_ = f.Key.Append(features.StringValue(u))
		f.Time, f.Created = append(f.Time, features.Micros(r.clock)), append(f.Created, 1)
		_ = c.Append(features.IntValue(7))
	}
	f.Columns = []*features.Column{c}
	if _, err := r.online.Write(ctx, v.Name, f); err != nil {
		b.Fatal(err)
	}
	rd, err := serving.New(r.reg, r.online, serving.Options{Now: func() time.Time { return r.clock }})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	fv, _ := r.reg.View("clicks_fresh")
	var fresh []string
	for _, ft := range fv.Features() {
		fresh = append(fresh, fv.Name+":"+ft.Name)
	}
	for _, n := range []int{1, 100} {
		ents := serving.Entities{"user_id": serving.StringKeys(users[:n]...)}
		for _, tc := range []struct {
			name string
			refs []string
		}{{"fresh", fresh}, {"batch", []string{"clicks_hourly:clicks_1h"}}} {
			b.Run(fmt.Sprintf("%s/entities=%d", tc.name, n), func(b *testing.B) {
				for b.Loop() {
					res, err := rd.Get(ctx, tc.refs, ents)
					if err != nil {
						b.Fatal(err)
					}
					if res.Rows[0][0].Value.Int64() == 0 {
						b.Fatal("nothing to read")
					}
				}
			})
		}
	}
}

// randomN is a request of n events with event times up to 10 minutes old.
func randomN(rng *rand.Rand, n int, now time.Time, users []string) push.Request {
	cols := map[string][]features.Value{}
	ts := make([]time.Time, n)
	for i := range n {
		ts[i] = now.Add(-time.Duration(rng.Int64N(int64(10 * time.Minute))))
		cols["user_id"] = append(cols["user_id"], features.StringValue(users[rng.IntN(len(users))]))
		cols["product"] = append(cols["product"], features.IntValue(int64(rng.IntN(50))))
		cols["amount"] = append(cols["amount"], features.FloatValue(float64(rng.IntN(10000))/100))
		cols["kind"] = append(cols["kind"], features.StringValue([]string{"view", "buy"}[rng.IntN(2)]))
	}
	cols["event_time"] = push.Times(ts...)
	return push.Request{Source: "clicks", Columns: cols}
}
