package skew_test

import (
	"context"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/skew"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// A reader that follows the published catalog can serve one feature list
// under two definitions within the checked range (here wide_0:f00 as an
// int64, then as a float64). The check compares the rows served under the
// registry's definition and lists the others as not checked, instead of
// failing on the second file.
func TestCheckServedAcrossADefinitionChange(t *testing.T) {
	ctx := context.Background()
	reg := testenv.WideRegistry(1, 4, 0)
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
	end := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	created := end.Add(time.Minute)
	keys := serving.StringKeys("a", "b")
	fr := testenv.Frame(t, reg, "wide_0", keys, end, created, testenv.Sample(1))
	p, err := off.WriteWindow(ctx, "wide_0", end, created, -1, fr, reg.Fingerprint("wide_0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := online.Write(ctx, "wide_0", fr); err != nil {
		t.Fatal(err)
	}
	if err := off.MarkPublished(ctx, parquet.Publication{View: "wide_0", WindowEnd: end, Created: created,
		Published: time.Now().UTC(), Partitions: []parquet.Partition{p}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)

	from := time.Now().UTC()
	// Served under the registry's definition: f00 an int64.
	l, err := servedlog.New(reg, servedlog.OfflineDir(off.Root()), servedlog.Options{Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := serving.New(reg, online, serving.Options{ServedLog: l})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, []string{"wide_0:f00"}, serving.Entities{"user_id": keys}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Served under another definition, where f00 is a float64.
	l2, err := servedlog.New(reg, servedlog.OfflineDir(off.Root()), servedlog.Options{Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	l2.Served(at, serving.Entities{"user_id": serving.StringKeys("a")}, &serving.Result{
		Features: []features.FeatureRef{{View: "wide_0", Feature: "f00"}}, JoinKeys: []string{"user_id"},
		Rows: [][]serving.FeatureValue{{{Value: features.FloatValue(0.5), Status: serving.Present, EventTime: end}}}})
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	to := time.Now().UTC().Add(time.Microsecond)

	rep, err := skew.CheckServed(ctx, reg, off, skew.ServedOptions{From: from, To: to, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("CheckServed: %v", err)
	}
	if rep.Rows != 3 || len(rep.Features) != 1 || rep.Features[0].Rows != 2 || rep.Features[0].Match != 2 {
		t.Fatalf("rows %d, features %+v: want 3 rows, f00 checked on the 2 served as int64, both matching", rep.Rows, rep.Features)
	}
	if !slices.Equal(rep.Unknown, []string{"wide_0:f00"}) {
		t.Fatalf("unknown %v: want the float64 rows of wide_0:f00 listed as not checked", rep.Unknown)
	}
}
