package push_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
)

type atLog struct {
	mu  sync.Mutex
	ats []time.Time
}

func (l *atLog) Served(at time.Time, _ serving.Entities, _ *serving.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ats = append(l.ats, at)
}

// TestServedLogTimeIsFreshT: the served log's request time of a request
// with a fresh view is the T its fresh values were computed at (their
// event_timestamp), so that the served check's training set --as-known-at
// at that time holds what was served. The reader's clock moves during the
// request (here 10s per reading) and a push lands in between; the log
// recorded the clock after the online read, a later instant than T, at
// which the training set counts the push that serving did not.
func TestServedLogTimeIsFreshT(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.clock = r.clock.Add(30 * time.Second)
	t0 := r.clock
	// Pushed at t0 + 5s: after T = t0, before the clock's next reading.
	r.clock = t0.Add(5 * time.Second)
	if _, err := r.pusher.Push(ctx, push.Request{Source: "clicks", RequestID: "between", Columns: map[string][]features.Value{
		"event_time": push.Times(t0.Add(-time.Second)), "user_id": {features.StringValue("u1")}, "product": {features.IntValue(1)},
		"amount": {features.FloatValue(2)}, "kind": {features.StringValue("buy")}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := t0
	log := &atLog{}
	rd, err := serving.New(r.reg, r.online, serving.Options{ServedLog: log, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := clock
		clock = clock.Add(10 * time.Second)
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for _, refs := range [][]string{
		{"clicks_fresh:clicks_5m"},
		{"clicks_fresh:clicks_5m", "clicks_hourly:clicks_1h"},
	} {
		log.ats = nil
		res, err := rd.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys("u1")})
		if err != nil {
			t.Fatal(err)
		}
		cell := res.Rows[0][0]
		if len(log.ats) != 1 || !log.ats[0].Equal(cell.EventTime) {
			t.Fatalf("%v: served log time %v, fresh value computed at %s", refs, log.ats, cell.EventTime)
		}
		v, _ := r.reg.View("clicks_fresh")
		key := features.NewColumn("user_id", features.String, 0)
		_ = key.Append(features.StringValue("u1"))
		cols, err := features.FreshAsOf(v, "user_id", r.logged(t), key, []int64{features.Micros(log.ats[0])}, features.FreshJoinOptions{AsKnownAt: true})
		if err != nil {
			t.Fatal(err)
		}
		if !cols[0].Value(0).Equal(cell.Value) {
			t.Fatalf("%v: served %s, training set --as-known-at at the logged time %s", refs, cell.Value, cols[0].Value(0))
		}
	}
}
