package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/push"
)

// trafficUsers is how many of the sample users the traffic generator
// browses as: few, so the printed curl's users have fresh values.
const trafficUsers = 20

// trafficRequest is one second of sample page views at now: 1 to 6 views
// by the first trafficUsers users, event times up to 3 s before now.
func trafficRequest(rng *rand.Rand, now time.Time, id string) push.Request {
	n := 1 + rng.IntN(6)
	cols := map[string][]features.Value{}
	ts := make([]time.Time, n)
	for i := range n {
		ts[i] = now.Add(-time.Duration(rng.Int64N(int64(3 * time.Second))))
		cols["user_id"] = append(cols["user_id"], features.StringValue(demo.UserID(1+rng.IntN(trafficUsers))))
		cols["product_id"] = append(cols["product_id"], features.IntValue(int64(rng.IntN(200))))
		dwell := features.FloatValue(float64(rng.IntN(12000)) / 100)
		if rng.IntN(8) == 0 {
			dwell = features.Null
		}
		cols["dwell_seconds"] = append(cols["dwell_seconds"], dwell)
		cols["device"] = append(cols["device"], features.StringValue([]string{"mobile", "desktop", "tablet"}[rng.IntN(3)]))
	}
	cols["event_time"] = push.Times(ts...)
	return push.Request{Source: "page_views", RequestID: id, Columns: cols}
}

// runTraffic pushes sample page views every second until ctx ends, through
// the push library, as a producer would through POST /push. A failed push
// is retried once with the same request id, then logged. A panic ends the
// generator with an error, logged by the caller.
func runTraffic(ctx context.Context, p *push.Pusher, log *slog.Logger) (err error) {
	defer features.RecoverPanic(&err, "traffic generator")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	run := time.Now().UTC().Format("20060102T150405")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		req := trafficRequest(rng, time.Now(), fmt.Sprintf("dev-traffic-%s-%d", run, n))
		if _, err := p.Push(ctx, req); err != nil {
			if _, err = p.Push(ctx, req); err != nil && ctx.Err() == nil {
				log.Warn("sample traffic: push failed", "request_id", req.RequestID, "error", err)
			}
		}
	}
}
