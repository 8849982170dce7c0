package serving_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/serving"
)

// The served log's request time is the instant the reader measured TTLs
// against (docs/format/served.md), so that a training set built
// --as-known-at that time holds what was served: a clock that moves
// between the read and the log must not make a PRESENT value look served
// past its TTL (or a newer version look served).
func TestServedLogTimeIsTheTTLClock(t *testing.T) {
	e := newEnv(t)
	start := time.Now().UTC().Truncate(time.Millisecond)
	ttl := 2 * 24 * time.Hour // user_orders
	event := start.Add(-ttl + 30*time.Minute)
	e.write(t, "user_orders", serving.StringKeys("u1"), event, 1)
	for _, cache := range []int{0, 100} {
		var mu sync.Mutex
		now := start
		clock := func() time.Time { // an hour passes at every look
			mu.Lock()
			defer mu.Unlock()
			t := now
			now = now.Add(time.Hour)
			return t
		}
		log := &recordingLog{}
		r, err := serving.New(e.reg, e.store, serving.Options{Now: clock, ServedLog: log, CacheEntries: cache, CacheTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Get(context.Background(), []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys("u1")})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(log.calls) != 1 {
			t.Fatalf("cache %d: %d served log calls", cache, len(log.calls))
		}
		at := log.calls[0].at
		fv := res.Rows[0][0]
		if fv.Status != serving.Present {
			t.Fatalf("cache %d: status %v, want PRESENT (read at %s)", cache, fv.Status, start)
		}
		if at.Add(-ttl).After(fv.EventTime) {
			t.Fatalf("cache %d: logged at %s, when a value of %s is past its TTL, but served PRESENT: the log's time is not the TTL clock's (%s)",
				cache, at, fv.EventTime, start)
		}
	}
}
