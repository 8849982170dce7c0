package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// Two runs of one window (a scheduled run and a re-run, or a "trigger now"
// racing the schedule) write their own versions; each push reads back exactly
// its own file, so neither breaks the other's row-count check, and Redis ends
// with the newer run's values whatever the order of the pushes.
func TestConcurrentRunsPushTheirOwnVersion(t *testing.T) {
	// Redis expires keys by its own clock: values must be within TTL now.
	end := time.Now().UTC().Truncate(24 * time.Hour)
	a, off := setupAt(t, end.Add(-4*24*time.Hour))
	srv := testenv.StartRedis(t)
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	rs, err := redisstore.New(rc, a.Registry, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Online = redisOnline{rs}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	first, second := end.Add(2*time.Hour), end.Add(2*time.Hour+time.Second)
	out1 := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: first, Shard: -1})
	// The second run saw different source data: fewer entities.
	v, _ := a.Registry.View("user_orders")
	spec := parquet.HistorySpec(a.Registry.EntityOf(v), v.Features())
	fr, err := parquet.ReadFile(filepath.Join(off.Root(), out1.Partition.Path), spec)
	if err != nil {
		t.Fatal(err)
	}
	half := make([]int, fr.Len()/2)
	for i := range half {
		half[i] = i
	}
	fr = fr.Take(half)
	for i := range fr.Created {
		fr.Created[i] = features.Micros(second)
	}
	p2, err := off.WriteWindow(context.Background(), "user_orders", end, second, -1, fr, a.Registry.Fingerprint("user_orders"))
	if err != nil {
		t.Fatal(err)
	}
	if len(half) == 0 || p2.Path == out1.Partition.Path {
		t.Fatalf("setup: %d rows, paths %s %s", len(half), p2.Path, out1.Partition.Path)
	}

	push := func(p parquet.Partition) activities.OnlineStats {
		t.Helper()
		val, err := env.ExecuteActivity(a.PushOnline, activities.PushInput{View: "user_orders", Partition: p})
		if err != nil {
			t.Fatalf("push %s: %v", p.Path, err)
		}
		var st activities.OnlineStats
		if err := val.Get(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// The newer run pushes first, then the older one (late, or retried):
	// the older one's rows lose wherever the newer run has the key.
	if st := push(p2); st.Rows != len(half) || st.Written != len(half) {
		t.Fatalf("second run's push %+v, want %d rows written", st, len(half))
	}
	st := push(out1.Partition)
	if st.Rows != int(out1.Partition.Rows) || st.Stale != len(half) || st.Written != st.Rows-len(half) {
		t.Fatalf("first run's push %+v: want %d rows, %d stale (the second run's keys)", st, out1.Partition.Rows, len(half))
	}
}

func TestMarkPublished(t *testing.T) {
	a, off := setup(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(2 * time.Hour)
	out := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1})
	pub := created.Add(3 * time.Second)
	in := activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created, Published: pub, Partitions: []parquet.Partition{out.Partition}}
	for range 2 { // idempotent
		if _, err := env.ExecuteActivity(a.MarkPublished, in); err != nil {
			t.Fatal(err)
		}
	}
	p, ok, err := off.Publication(context.Background(), "user_orders", end, created)
	if err != nil || !ok || !p.Published.Equal(pub) {
		t.Fatalf("publication %+v %v %v, want published at %s", p, ok, err, pub)
	}
	in.View = "ghost"
	_, err = env.ExecuteActivity(a.MarkPublished, in)
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), `unknown view "ghost"`) {
		t.Fatalf("unknown view: %v", err)
	}
}
