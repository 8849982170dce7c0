package push_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// testRegistry has one fresh view with every aggregation kind over a
// "clicks" source, and a batch view of the same entity.
func testRegistry(t testing.TB) *features.Registry {
	t.Helper()
	m := time.Minute
	buy := &features.Predicate{Column: "kind", Op: features.Eq, Value: features.StringValue("buy")}
	reg := features.NewRegistry()
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "clicks", Path: "clicks", TimestampField: "event_time", Fields: []features.Field{
			{Name: "user_id", Type: features.String}, {Name: "product", Type: features.Int64},
			{Name: "amount", Type: features.Float64}, {Name: "kind", Type: features.String}}},
		&features.View{Name: "clicks_fresh", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "t", Description: "fresh",
			Fresh: &features.Fresh{Tile: m},
			Aggregations: []features.Aggregation{
				{Name: "clicks_5m", Kind: features.Count, Window: 5 * m},
				{Name: "buys_5m", Kind: features.Count, Window: 5 * m, Where: buy},
				{Name: "amount_10m", Kind: features.Sum, Column: "amount", Window: 10 * m},
				{Name: "mean_amount_5m", Kind: features.Mean, Column: "amount", Window: 5 * m},
				{Name: "max_amount_10m", Kind: features.Max, Column: "amount", Window: 10 * m},
				{Name: "min_product_5m", Kind: features.Min, Column: "product", Window: 5 * m},
				{Name: "last_kind_10m", Kind: features.Last, Column: "kind", Window: 10 * m},
				{Name: "products_10m", Kind: features.DistinctCount, Column: "product", Window: 10 * m},
			}},
		&features.View{Name: "clicks_hourly", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "t", Description: "batch",
			Aggregations: []features.Aggregation{{Name: "clicks_1h", Kind: features.Count, Window: time.Hour}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

type rig struct {
	client  *goredis.Client
	reg     *features.Registry
	online  *redisstore.Store
	sources *parquet.Sources
	clock   time.Time
	pusher  *push.Pusher
}

func newRig(t testing.TB) *rig {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	r := &rig{reg: testRegistry(t), client: c}
	var err error
	if r.online, err = redisstore.New(c, r.reg, redisstore.Options{Prefix: "pt"}); err != nil {
		t.Fatal(err)
	}
	if r.sources, err = parquet.OpenSources(filepath.Join(t.TempDir(), "raw")); err != nil {
		t.Fatal(err)
	}
	// Redis expires tiles by its own clock: simulate from now on.
	r.clock = time.Now().UTC().Truncate(time.Minute)
	if r.pusher, err = push.New(r.reg, r.sources, r.online, push.Options{Now: func() time.Time { return r.clock }}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) rawClient(testing.TB) *goredis.Client { return r.client }

// readAt serves every feature of the fresh view for users at T.
func (r *rig) readAt(t testing.TB, at time.Time, users []string) *serving.Result {
	t.Helper()
	rd, err := serving.New(r.reg, r.online, serving.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	v, _ := r.reg.View("clicks_fresh")
	var refs []string
	for _, f := range v.Features() {
		refs = append(refs, v.Name+":"+f.Name)
	}
	refs = append(refs, "clicks_hourly:clicks_1h") // a batch view in the same round trip
	res, err := rd.Get(context.Background(), refs, serving.Entities{"user_id": serving.StringKeys(users...)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// logged reads back every pushed event with its ingest time.
func (r *rig) logged(t testing.TB) *features.Frame {
	t.Helper()
	src, _ := r.reg.Source("clicks")
	files, err := filepath.Glob(filepath.Join(r.sources.Root(), src.Path, "date=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	out := &features.Frame{}
	for _, fd := range src.Fields {
		out.Columns = append(out.Columns, features.NewColumn(fd.Name, fd.Type, 0))
	}
	ing := features.NewColumn(features.IngestTimestampColumn, features.Int64, 0)
	for _, path := range files {
		pf, err := parquet.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rgs := pf.RowGroups()
		i := 0
		err = pf.ReadFrames(parquet.FrameSpec{Time: src.TimestampField, Columns: src.Fields}, func(fr *features.Frame) error {
			times, valid, err := pf.ReadTimes(rgs[i], features.IngestTimestampColumn, nil, nil)
			i++
			if err != nil {
				return err
			}
			out.Append(fr)
			ing.Ints, ing.Valid = append(ing.Ints, times...), append(ing.Valid, valid...)
			return nil
		})
		pf.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	out.Columns = append(out.Columns, ing)
	return out
}

type randomPush struct {
	req  push.Request
	rows int
}

// event builds a random request of n events of users, event times up to
// 13 minutes before now (late: some beyond every window), with duplicate
// rows.
func randomRequest(rng *rand.Rand, id string, now time.Time, users []string) push.Request {
	n := 1 + rng.IntN(12)
	cols := map[string][]features.Value{}
	var ts []time.Time
	for i := range n {
		if i > 0 && rng.IntN(5) == 0 { // an exact duplicate of the previous row
			ts = append(ts, ts[i-1])
			for k, c := range cols {
				cols[k] = append(c, c[i-1])
			}
			continue
		}
		ts = append(ts, now.Add(-time.Duration(rng.Int64N(int64(13*time.Minute)))).Truncate(time.Microsecond))
		cols["user_id"] = append(cols["user_id"], features.StringValue(users[rng.IntN(len(users)-1)])) // the last user never pushes
		cols["product"] = append(cols["product"], features.IntValue(int64(rng.IntN(20))))
		amount := features.FloatValue(float64(rng.IntN(10000)) / 100)
		if rng.IntN(6) == 0 {
			amount = features.Null
		}
		cols["amount"] = append(cols["amount"], amount)
		cols["kind"] = append(cols["kind"], features.StringValue([]string{"view", "buy", "cart"}[rng.IntN(3)]))
	}
	cols["event_time"] = push.Times(ts...)
	return push.Request{Source: "clicks", RequestID: id, Columns: cols}
}

// TestServedEqualsLoggedEvents is the promise at the library level: random
// pushes (duplicates, late events, retries, a reused id) served at many
// instants equal the values the training-set code (features.FreshAsOf,
// as-known-at) computes from the events the pushes logged to the source.
func TestServedEqualsLoggedEvents(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	users := []string{"u1", "u2", "u3", "u4", "nobody"}
	type sample struct {
		at  time.Time
		res *serving.Result
	}
	var samples []sample
	var prev *push.Request
	replays, conflicts := 0, 0
	for step := range 60 {
		r.clock = r.clock.Add(time.Duration(rng.Int64N(int64(70 * time.Second)))).Truncate(time.Microsecond)
		switch {
		case prev != nil && rng.IntN(6) == 0: // a retry, later, same id and events
			res, err := r.pusher.Push(ctx, *prev)
			if err != nil || !res.Replayed {
				t.Fatalf("retry: %+v, %v", res, err)
			}
			replays++
		case prev != nil && rng.IntN(10) == 0: // the id reused for other events
			other := randomRequest(rng, prev.RequestID, r.clock, users)
			if _, err := r.pusher.Push(ctx, other); !errors.Is(err, push.ErrConflict) {
				t.Fatalf("reused id: err %v, want ErrConflict", err)
			}
			conflicts++
		default:
			req := randomRequest(rng, fmt.Sprintf("req-%d", step), r.clock, users)
			if _, err := r.pusher.Push(ctx, req); err != nil {
				t.Fatal(err)
			}
			prev = &req
		}
		samples = append(samples, sample{r.clock, r.readAt(t, r.clock, users)})
		// and an instant inside the last minute: some pushes not yet known
		at := r.clock.Add(-time.Duration(rng.Int64N(int64(time.Minute)))).Truncate(time.Microsecond)
		samples = append(samples, sample{at, r.readAt(t, at, users)})
	}
	if replays == 0 || conflicts == 0 {
		t.Fatalf("the stream had %d retries and %d conflicts: make it exercise both", replays, conflicts)
	}

	v, _ := r.reg.View("clicks_fresh")
	ev := r.logged(t)
	key := features.NewColumn("user_id", features.String, 0)
	var times []int64
	for _, s := range samples {
		for _, u := range users {
			_ = key.Append(features.StringValue(u))
			times = append(times, features.Micros(s.at))
		}
	}
	cols, err := features.FreshAsOf(v, "user_id", ev, key, times, features.FreshJoinOptions{AsKnownAt: true})
	if err != nil {
		t.Fatal(err)
	}
	diffs, nonzero := 0, 0
	for si, s := range samples {
		for ui, u := range users {
			row := si*len(users) + ui
			for j, c := range cols {
				got := s.res.Rows[ui][j]
				if got.Status != serving.Present || !got.EventTime.Equal(s.at) {
					t.Fatalf("%s at %s: status %s, event time %s; want PRESENT at the request time", u, s.at, got.Status, got.EventTime)
				}
				if want := c.Value(row); !want.Equal(got.Value) {
					diffs++
					if diffs < 10 {
						t.Errorf("T=%s %s %s: served %s, training %s", s.at.Format(time.RFC3339Nano), u, c.Name, got.Value, want)
					}
				}
				if j == 0 && got.Value.Int64() > 0 {
					nonzero++
				}
			}
			if hb := s.res.Rows[ui][len(cols)]; hb.Status != serving.NotFound {
				t.Fatalf("batch view: %s, want NOT_FOUND (never materialized)", hb.Status)
			}
		}
	}
	t.Logf("%d instants × %d users × %d features: %d differences; %d non-zero counts; %d events logged, %d retries, %d conflicts",
		len(samples), len(users), len(cols), diffs, nonzero, ev.Len(), replays, conflicts)
	if diffs > 0 {
		t.Fatalf("%d differences", diffs)
	}
	if nonzero < len(samples) {
		t.Fatalf("only %d non-zero counts: the stream proves little", nonzero)
	}
}
