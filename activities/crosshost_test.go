package activities_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// A sharded window runs across machines: two workers share nothing but the
// gs:// offline store and sources (each its own client, no local folder),
// each computes one shard, and each pushes the shard the other computed,
// reading it back from Cloud Storage; then one publishes the version.
func TestShardedWindowAcrossHostsOnGCS(t *testing.T) {
	ctx := context.Background()
	srv, err := fakegcs.Start("lake")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	redis := testenv.StartRedis(t)
	rc := goredis.NewClient(&goredis.Options{Addr: redis.Addr})
	defer rc.Close()
	reg := demo.Registry()
	// Recent windows: Redis keeps a value only within the view's TTL of now.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)

	host := func() *activities.Activities {
		c, err := srv.Client(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		open := func(url string) *gcsfs.FS {
			f, err := gcsfs.Open(ctx, url, gcsfs.Options{Client: c})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		online, err := redisstore.New(rc, reg, redisstore.Options{Prefix: "xhost"})
		if err != nil {
			t.Fatal(err)
		}
		return &activities.Activities{Registry: reg, Sources: parquet.SourcesFS(open("gs://lake/raw")),
			Offline: parquet.OpenFS(open("gs://lake/offline")), Online: redisOnline{online}}
	}
	a, b := host(), host()

	frames, err := demo.Generate(demo.GenOptions{Users: 200, Products: 30, Days: 3, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	for name, fr := range frames {
		s, _ := reg.Source(name)
		if _, err := a.Sources.(*parquet.Sources).Write(ctx, s, fr); err != nil {
			t.Fatal(err)
		}
	}
	var suite testsuite.WorkflowTestSuite
	envA, envB := suite.NewTestActivityEnvironment(), suite.NewTestActivityEnvironment()
	envA.RegisterActivity(a)
	envB.RegisterActivity(b)
	end := start.Add(3 * 24 * time.Hour)
	created := end.Add(time.Hour)
	in := func(shard int) activities.ComputeInput {
		return activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: shard, Shards: 2}
	}
	out0 := computeWindow(t, envA, a, in(0))
	out1 := computeWindow(t, envB, b, in(1))
	if out0.Partition.Rows == 0 || out1.Partition.Rows == 0 {
		t.Fatalf("empty shards: %+v %+v", out0, out1)
	}
	if _, err := envB.ExecuteActivity(b.CommitShards, in(-1)); err != nil {
		t.Fatal(err)
	}
	var pushed []activities.OnlineStats
	for _, p := range []struct {
		env *testsuite.TestActivityEnvironment
		a   *activities.Activities
		out activities.ComputeOutput
	}{{envB, b, out0}, {envA, a, out1}} {
		v, err := p.env.ExecuteActivity(p.a.PushOnline, activities.PushInput{View: "user_orders", Partition: p.out.Partition})
		if err != nil {
			t.Fatalf("push of %s on the other host: %v", p.out.Partition.Path, err)
		}
		var st activities.OnlineStats
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if int64(st.Rows) != p.out.Partition.Rows || st.Written != st.Rows {
			t.Fatalf("push of %s: %+v, want all %d rows written", p.out.Partition.Path, st, p.out.Partition.Rows)
		}
		pushed = append(pushed, st)
	}
	if _, err := envA.ExecuteActivity(a.MarkPublished, activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created,
		Published: created.Add(time.Minute), Partitions: []parquet.Partition{out0.Partition, out1.Partition}, Online: pushed}); err != nil {
		t.Fatal(err)
	}
	if has, err := b.Offline.HasWindow(ctx, "user_orders", end); err != nil || !has {
		t.Fatalf("the other host does not see the window published: %v %v", has, err)
	}
	n, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n < out0.Partition.Rows+out1.Partition.Rows {
		t.Fatalf("redis holds %d keys, want at least the %d pushed rows", n, out0.Partition.Rows+out1.Partition.Rows)
	}
}
