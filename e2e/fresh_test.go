package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
	"github.com/skewfree/skewfree/trainingset"
)

// TestFreshPushServedEqualsTrainingSet is the no-skew proof for fresh
// views: random page-view streams pushed through POST /push (duplicates,
// late events, retried requests, a reused id) to a real redis-server and
// real source files, the demo's user_live view served at many instants,
// then a training set built --as-known-at at those instants from the
// logged events: 0 differences.
func TestFreshPushServedEqualsTrainingSet(t *testing.T) {
	ctx := context.Background()
	reg := demo.Registry()
	v, _ := reg.View("user_live")
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	online, err := redisstore.New(client, reg, redisstore.Options{Prefix: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	sources, err := parquet.OpenSources(filepath.Join(root, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now().UTC().Truncate(time.Minute) // Redis expires tiles by its clock
	p, err := push.New(reg, sources, online, push.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(push.Handler(p, push.HandlerOptions{}))
	defer hs.Close()

	users := []string{demo.UserID(1), demo.UserID(2), demo.UserID(3), demo.UserID(4), "nobody"}
	rng := rand.New(rand.NewPCG(3, 4))
	body := func(id string) string {
		n := 1 + rng.IntN(15)
		var ts, us, ps, ds, dv []string
		for i := range n {
			if i > 0 && rng.IntN(5) == 0 { // duplicate row
				ts, us, ps, ds, dv = append(ts, ts[i-1]), append(us, us[i-1]), append(ps, ps[i-1]), append(ds, ds[i-1]), append(dv, dv[i-1])
				continue
			}
			late := time.Duration(rng.Int64N(int64(20 * time.Minute))) // up to 20m late: some past every window
			ts = append(ts, `"`+clock.Add(-late).Format(time.RFC3339Nano)+`"`)
			us = append(us, `"`+users[rng.IntN(len(users)-1)]+`"`)
			ps = append(ps, fmt.Sprint(rng.IntN(30)))
			if rng.IntN(5) == 0 {
				ds = append(ds, "null")
			} else {
				ds = append(ds, fmt.Sprintf("%.2f", rng.Float64()*120))
			}
			dv = append(dv, `"`+[]string{"mobile", "desktop", "tablet"}[rng.IntN(3)]+`"`)
		}
		j := func(s []string) string { return "[" + strings.Join(s, ",") + "]" }
		return fmt.Sprintf(`{"push_source_name": "page_views", "request_id": %q, "df": {"event_time": %s, "user_id": %s, "product_id": %s, "dwell_seconds": %s, "device": %s}}`,
			id, j(ts), j(us), j(ps), j(ds), j(dv))
	}
	post := func(b string) int {
		t.Helper()
		resp, err := http.Post(hs.URL+"/push", "application/json", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var refs []string
	var frefs []features.FeatureRef
	for _, f := range v.Features() {
		refs = append(refs, v.Name+":"+f.Name)
		frefs = append(frefs, features.FeatureRef{View: v.Name, Feature: f.Name})
	}
	type sample struct {
		at  time.Time
		res *serving.Result
	}
	var samples []sample
	serve := func(at time.Time) {
		t.Helper()
		r, err := serving.New(reg, online, serving.Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res, err := r.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys(users...)})
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{at, res})
	}
	last := ""
	retries, conflicts := 0, 0
	for step := range 80 {
		clock = clock.Add(time.Duration(rng.Int64N(int64(50 * time.Second)))).Truncate(time.Microsecond)
		switch {
		case last != "" && rng.IntN(6) == 0:
			if code := post(last); code != 200 {
				t.Fatalf("retry: %d", code)
			}
			retries++
		case last != "" && rng.IntN(12) == 0:
			id := last[strings.Index(last, `"request_id": "`)+15:]
			id = id[:strings.Index(id, `"`)]
			if code := post(body(id)); code != http.StatusConflict {
				t.Fatalf("reused id: %d, want 409", code)
			}
			conflicts++
		default:
			last = body(fmt.Sprintf("step-%d", step))
			if code := post(last); code != 200 {
				t.Fatalf("push: %d", code)
			}
		}
		serve(clock)
		serve(clock.Add(-time.Duration(rng.Int64N(int64(40 * time.Second)))).Truncate(time.Microsecond))
	}
	if retries == 0 || conflicts == 0 {
		t.Fatalf("%d retries, %d conflicts: the stream must have both", retries, conflicts)
	}

	key := features.NewColumn("user_id", features.String, 0)
	ent := &features.Frame{Key: key}
	for _, s := range samples {
		for _, u := range users {
			_ = key.Append(features.StringValue(u))
			ent.Time = append(ent.Time, features.Micros(s.at))
		}
	}
	dir := t.TempDir()
	entities, out := filepath.Join(dir, "entities.parquet"), filepath.Join(dir, "train.parquet")
	if err := parquet.WriteFileAtomic(entities, func(w *os.File) error {
		return parquet.WriteFrame(w, ent, trainingset.EntityColumn, nil)
	}); err != nil {
		t.Fatal(err)
	}
	offline, err := parquet.Open(filepath.Join(root, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trainingset.Build(ctx, reg, offline, trainingset.Options{
		Entities: entities, Features: frefs, Out: out, AsKnownAt: true, Sources: sources}); err != nil {
		t.Fatal(err)
	}
	spec := parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: trainingset.EntityColumn}
	for _, f := range v.Features() {
		spec.Columns = append(spec.Columns, features.Field{Name: v.Name + "__" + f.Name, Type: f.Type})
	}
	train, err := parquet.ReadFile(out, spec)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != len(samples)*len(users) {
		t.Fatalf("training set has %d rows, want %d", train.Len(), len(samples)*len(users))
	}
	diffs, counted := 0, 0
	for si, s := range samples {
		for ui, u := range users {
			row := si*len(users) + ui
			for j, c := range train.Columns {
				got := s.res.Rows[ui][j]
				if got.Status != serving.Present || !got.EventTime.Equal(s.at) {
					t.Fatalf("%s: %s at %s, want PRESENT at the request time %s", u, got.Status, got.EventTime, s.at)
				}
				if off := c.Value(row); !off.Equal(got.Value) {
					diffs++
					if diffs <= 10 {
						t.Errorf("T=%s %s %s: served %s, training set %s", s.at.Format(time.RFC3339Nano), u, c.Name, got.Value, off)
					}
				}
			}
			counted += int(s.res.Rows[ui][0].Value.Int64())
		}
	}
	t.Logf("%d instants × %d users × %d features: %d differences (%d page views counted, %d retries, %d conflicts)",
		len(samples), len(users), len(refs), diffs, counted, retries, conflicts)
	if diffs != 0 {
		t.Fatalf("%d differences between served values and the --as-known-at training set", diffs)
	}
	if counted < len(samples) {
		t.Fatal("almost nothing counted: the comparison proves little")
	}
}
