package skew_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/skew"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// TestCheckServedFreshView: the demo's fresh view user_live, fed by
// pushes and served with logging, checks clean against training sets
// built from the pushed (logged) source events. Without the source root
// the check cannot compute fresh views and says so.
func TestCheckServedFreshView(t *testing.T) {
	ctx := context.Background()
	reg := demo.Registry()
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	online, err := redisstore.New(client, reg, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	off, err := parquet.Open("file://" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sources, err := parquet.OpenSources(filepath.Join(t.TempDir(), "raw"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := push.New(reg, sources, online, push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	ev := []time.Time{now.Add(-90 * time.Second), now.Add(-30 * time.Second), now.Add(-time.Second)}
	if _, err := p.Push(ctx, push.Request{Source: "page_views", RequestID: "r1", Columns: map[string][]features.Value{
		"event_time":    push.Times(ev...),
		"user_id":       {features.StringValue("u1"), features.StringValue("u1"), features.StringValue("u2")},
		"product_id":    {features.IntValue(1), features.IntValue(2), features.IntValue(1)},
		"dwell_seconds": {features.FloatValue(3), features.Null, features.FloatValue(8.5)},
		"device":        {features.StringValue("mobile"), features.StringValue("web"), features.StringValue("mobile")},
	}}); err != nil {
		t.Fatal(err)
	}

	l, err := servedlog.New(reg, servedlog.OfflineDir(off.Root()), servedlog.Options{Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := serving.New(reg, online, serving.Options{ServedLog: l})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := reg.View("user_live")
	var refs []string
	for _, f := range v.Features() {
		refs = append(refs, v.Name+":"+f.Name)
	}
	from := time.Now().UTC()
	for range 3 {
		if _, err := r.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys("u1", "u2", "nobody")}); err != nil {
			t.Fatal(err)
		}
	}
	to := time.Now().UTC().Add(time.Microsecond)
	r.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	rep, err := skew.CheckServed(ctx, reg, off, skew.ServedOptions{From: from, To: to, TempDir: t.TempDir(), Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 9 || len(rep.Features) != len(refs) || rep.Disagreements() != 0 {
		t.Fatalf("rows %d, features %d, disagreements %d: %+v", rep.Rows, len(rep.Features), rep.Disagreements(), rep.Features)
	}
	for _, f := range rep.Features {
		if f.Match != 9 {
			t.Fatalf("%s: %+v", f.Ref, f)
		}
	}
	if _, err := skew.CheckServed(ctx, reg, off, skew.ServedOptions{From: from, To: to, TempDir: t.TempDir()}); err == nil {
		t.Fatal("a check of fresh views without the source root passed")
	}
}
