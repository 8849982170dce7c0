package skew_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/skew"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// TestCheckServed: a window written offline, published and pushed; the
// reader serves it with logging at rate 1. The served check finds 0
// disagreements. Then: a value written to Redis by hand (a mismatch), a
// key online that offline never had (missing), and a published key whose
// push is gone from Redis (extra) are each counted for their feature, with
// examples, and only for requests served after them.
func TestCheckServed(t *testing.T) {
	ctx := context.Background()
	reg := testenv.WideRegistry(1, 4, 0) // wide_0: hourly, no TTL, no lateness
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
	keys := serving.StringKeys("a", "b", "c", "d")
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

	refs := []string{"wide_0:f00", "wide_0:f01", "wide_0:f02", "wide_0:f03"}
	serve := func(users ...string) (from, to time.Time) {
		t.Helper()
		l, err := servedlog.New(reg, servedlog.OfflineDir(off.Root()), servedlog.Options{Rate: 1})
		if err != nil {
			t.Fatal(err)
		}
		r, err := serving.New(reg, online, serving.Options{ServedLog: l})
		if err != nil {
			t.Fatal(err)
		}
		from = time.Now().UTC()
		for range 3 {
			if _, err := r.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys(users...)}); err != nil {
				t.Fatal(err)
			}
		}
		to = time.Now().UTC().Add(time.Microsecond)
		r.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Written != uint64(3*len(users)) {
			t.Fatalf("served log stats %+v", st)
		}
		return from, to
	}
	check := func(from, to time.Time) *skew.ServedReport {
		t.Helper()
		rep, err := skew.CheckServed(ctx, reg, off, skew.ServedOptions{From: from, To: to, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	clean0, clean1 := serve("a", "b", "c", "d", "nobody")
	rep := check(clean0, clean1)
	if rep.Rows != 15 || len(rep.Features) != 4 || rep.Disagreements() != 0 {
		t.Fatalf("clean: rows %d features %d disagreements %d: %+v", rep.Rows, len(rep.Features), rep.Disagreements(), rep.Features[0])
	}
	for _, f := range rep.Features {
		if f.Match != 15 {
			t.Fatalf("%s: %+v", f.Ref, f)
		}
	}

	// The skews. f00 of "a" changed by hand (same event, later created:
	// Redis takes it); "e" online only; "d" gone from Redis.
	bad := testenv.Frame(t, reg, "wide_0", serving.StringKeys("a", "e"), end, created.Add(time.Hour), testenv.Sample(2))
	if _, err := online.Write(ctx, "wide_0", bad); err != nil {
		t.Fatal(err)
	}
	if err := client.Del(ctx, keyOf(online, "d")).Err(); err != nil {
		t.Fatal(err)
	}
	skew0, skew1 := serve("a", "b", "d", "e")
	rep = check(skew0, skew1)
	byRef := map[string]*skew.FeatureReport{}
	for _, f := range rep.Features {
		byRef[f.Ref.String()] = f
	}
	f00 := byRef["wide_0:f00"]
	if f00 == nil || f00.Rows != 12 || f00.Mismatch != 3 || f00.Missing != 3 || f00.Extra != 3 || f00.Match != 3 {
		t.Fatalf("f00: %+v", f00)
	}
	if f03 := byRef["wide_0:f03"]; f03.Mismatch != 3 { // bool: (2+3)%2 != (1+3)%2
		t.Fatalf("f03: %+v", f03)
	}
	ex := strings.Join(f00.Examples, "\n")
	for _, want := range []string{`MISMATCH user_id="a" wide_0:f00`, "served 2000 (PRESENT", "--as-known-at 1000"} {
		if !strings.Contains(ex, want) {
			t.Errorf("examples lack %q:\n%s", want, ex)
		}
	}
	if len(f00.Examples) != 3 {
		t.Errorf("%d examples, want 3 (the default)", len(f00.Examples))
	}
	// The earlier, clean requests still check clean: the range selects.
	if rep := check(clean0, clean1); rep.Disagreements() != 0 {
		t.Fatalf("clean range after the skew: %d", rep.Disagreements())
	}
	if rep := check(clean0, skew1); rep.Rows != 27 || rep.Disagreements() != 4*9 {
		t.Fatalf("both ranges: rows %d, disagreements %d; want 27, 36 (every feature: 3 mismatches, 3 missing, 3 extra)", rep.Rows, rep.Disagreements())
	}
	if _, err := skew.CheckServed(ctx, reg, off, skew.ServedOptions{From: clean1, To: clean0}); err == nil {
		t.Fatal("a reversed range: no error")
	}
}

func keyOf(s *redisstore.Store, user string) string {
	return onlinecodec.Key(s.Prefix(), "wide_0", features.String, features.Key{Str: user})
}
