package push_test

import (
	"context"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/push"
)

// TestRequestIDAfterClaimExpiry: once a request id's claim has expired
// (Options.ClaimTTL, or a Redis that lost it), the id is a new request
// with a new ingest time and a new file. Online must then count what the
// files hold, as a training set --as-known-at does: a late retry of the
// same events counts them twice on both sides, and an id reused for other
// events keeps the first request's events on both sides. (Tile fields
// named by the request id alone were overwritten by the second request,
// so serving counted the events once, or lost the first request's, while
// the files held both.)
func TestRequestIDAfterClaimExpiry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sameRows  bool
		wantCount int64 // user u1's clicks_5m after both requests
	}{
		{"late retry of the same events", true, 4},
		{"id reused for other events", false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			req := func(n int) push.Request {
				var ts []time.Time
				cols := map[string][]features.Value{}
				for i := range n {
					ts = append(ts, r.clock.Add(-time.Duration(10+i)*time.Second))
					cols["user_id"] = append(cols["user_id"], features.StringValue("u1"))
					cols["product"] = append(cols["product"], features.IntValue(int64(i)))
					cols["amount"] = append(cols["amount"], features.FloatValue(float64(i)))
					cols["kind"] = append(cols["kind"], features.StringValue("view"))
				}
				cols["event_time"] = push.Times(ts...)
				return push.Request{Source: "clicks", RequestID: "same-id", Columns: cols}
			}
			r.clock = r.clock.Add(30 * time.Second)
			first := req(2)
			if _, err := r.pusher.Push(ctx, first); err != nil {
				t.Fatal(err)
			}
			// The claim expires (24h later in production; here: deleted).
			if err := r.client.Del(ctx, r.online.PushKey("clicks", "same-id")).Err(); err != nil {
				t.Fatal(err)
			}
			r.clock = r.clock.Add(5 * time.Second)
			second := first
			if !tc.sameRows {
				second = req(3)
			}
			res, err := r.pusher.Push(ctx, second)
			if err != nil || res.Replayed {
				t.Fatalf("after the claim expired: %+v, %v; want a new request", res, err)
			}
			at := r.clock.Add(time.Second)
			served := r.readAt(t, at, []string{"u1"})

			v, _ := r.reg.View("clicks_fresh")
			key := features.NewColumn("user_id", features.String, 0)
			_ = key.Append(features.StringValue("u1"))
			cols, err := features.FreshAsOf(v, "user_id", r.logged(t), key, []int64{features.Micros(at)}, features.FreshJoinOptions{AsKnownAt: true})
			if err != nil {
				t.Fatal(err)
			}
			if off := cols[0].Value(0); off.Int64() != tc.wantCount {
				t.Fatalf("training set clicks_5m = %s, want %d (the files hold both requests)", off, tc.wantCount)
			}
			for j, c := range cols {
				if got, want := served.Rows[0][j].Value, c.Value(0); !got.Equal(want) {
					t.Errorf("%s: served %s, training set --as-known-at %s", c.Name, got, want)
				}
			}
		})
	}
}
