package serving_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/serving"
)

// recordingLog keeps what the reader reported.
type recordingLog struct {
	mu    sync.Mutex
	calls []served
}

type served struct {
	at   time.Time
	keys []string
	res  *serving.Result
}

func (l *recordingLog) Served(at time.Time, ents serving.Entities, res *serving.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []string
	for _, v := range ents["user_id"] {
		keys = append(keys, v.Str())
	}
	l.calls = append(l.calls, served{at, keys, res})
}

// The reader tells its ServedLog about every successful Get and
// GetService, with the reader's clock, the entities and the very result
// returned; never about a failed one.
func TestServedLogHook(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-time.Hour), 1)
	log := &recordingLog{}
	r, err := serving.New(e.reg, e.store, serving.Options{Now: func() time.Time { return now }, ServedLog: log})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	res, err := r.Get(ctx, []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys("u1", "u2")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, []string{"no_such:feature"}, serving.Entities{"user_id": serving.StringKeys("u1")}); err == nil {
		t.Fatal("unknown feature: no error")
	}
	if _, err := r.Get(ctx, []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.IntKeys(1)}); err == nil {
		t.Fatal("wrong key type: no error")
	}
	if _, err := r.GetService(ctx, "fraud_model", serving.Entities{"user_id": serving.StringKeys("u3")}); err != nil {
		t.Fatal(err)
	}
	if len(log.calls) != 2 {
		t.Fatalf("%d calls, want 2 (the successful Get and GetService)", len(log.calls))
	}
	c := log.calls[0]
	if c.res != res || !c.at.Equal(now) || len(c.keys) != 2 || c.keys[1] != "u2" {
		t.Fatalf("call %+v", c)
	}
	if log.calls[1].keys[0] != "u3" {
		t.Fatalf("GetService call %+v", log.calls[1])
	}
}
