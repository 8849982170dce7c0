package serving_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

var _ serving.Store = (*redisstore.Store)(nil)

type env struct {
	// pipes counts pipelines per node address (cluster envs only).
	pipes *nodePipes
	srv   *testenv.Redis
	reg   *features.Registry
	store *redisstore.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	reg := demo.Registry()
	s, err := redisstore.New(c, reg, redisstore.Options{Prefix: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, reg: reg, store: s}
}

func (e *env) write(t *testing.T, view string, keys []features.Value, event time.Time, mark int64) {
	t.Helper()
	f := testenv.Frame(t, e.reg, view, keys, event, event, testenv.Sample(mark))
	if _, err := e.store.Write(context.Background(), view, f); err != nil {
		t.Fatal(err)
	}
}

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ttl := 2 * 24 * time.Hour // user_orders
	event := now.Add(-time.Hour)
	e.write(t, "user_orders", serving.StringKeys("fresh"), event, 1)
	e.write(t, "product_sales", serving.IntKeys(7), now.Add(-time.Hour), 4)

	tests := []struct {
		name   string
		now    time.Time
		key    string
		status serving.Status
		value  int64 // order_count_7d, when present
	}{
		{"present", now, "fresh", serving.Present, 1000},
		{"exactly TTL old is present, as in the join", event.Add(ttl), "fresh", serving.Present, 1000},
		{"one microsecond past TTL", event.Add(ttl + time.Microsecond), "fresh", serving.OutsideMaxAge, 0},
		{"never written", now, "nobody", serving.NotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := serving.New(e.reg, e.store, serving.Options{Now: func() time.Time { return tc.now }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Get(context.Background(), []string{"user_orders:order_count_7d", "user_orders:order_count_30d"},
				serving.Entities{"user_id": serving.StringKeys(tc.key)})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Rows[0][0]
			if got.Status != tc.status {
				t.Fatalf("status %s, want %s", got.Status, tc.status)
			}
			switch tc.status {
			case serving.Present:
				if got.Value.Int64() != tc.value || got.EventTime.IsZero() {
					t.Errorf("got %+v, want value %d", got, tc.value)
				}
			case serving.OutsideMaxAge:
				if !got.Value.IsNull() || got.EventTime.IsZero() {
					t.Errorf("got %+v, want null value with an event time", got)
				}
			case serving.NotFound:
				if !got.Value.IsNull() || !got.EventTime.IsZero() {
					t.Errorf("got %+v, want null value, zero time", got)
				}
			}
		})
	}

	// Several entities and views in one call, two entity types.
	r, _ := serving.New(e.reg, e.store, serving.Options{})
	res, err := r.GetService(context.Background(), "recommender", serving.Entities{
		"user_id":    serving.StringKeys("fresh", "nobody"),
		"product_id": serving.IntKeys(7, 8),
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.JoinKeys, ",") != "user_id,product_id" || len(res.Rows) != 2 || len(res.Rows[0]) != 8 {
		t.Fatalf("shape: %v %d rows", res.JoinKeys, len(res.Rows))
	}
	want := [][]serving.Status{
		{0, 0, 0, 1, 1, 1, 1, 1}, // user_activity never written; user_orders and product 7 present
		{0, 0, 0, 0, 0, 0, 0, 0},
	}
	for i, row := range res.Rows {
		for j, fv := range row {
			if fv.Status != want[i][j] {
				t.Errorf("row %d %s: %s, want %s", i, res.Features[j], fv.Status, want[i][j])
			}
		}
	}
}

func TestBadRequests(t *testing.T) {
	reg := demo.Registry()
	s, _ := redisstore.New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), reg, redisstore.Options{})
	r, err := serving.New(reg, s, serving.Options{})
	if err != nil {
		t.Fatal(err)
	}
	users := serving.Entities{"user_id": serving.StringKeys("u1")}
	tests := []struct {
		name     string
		features []string
		entities serving.Entities
		want     string
	}{
		{"no features", nil, users, "no features"},
		{"bad reference", []string{"user_orders"}, users, "view:feature"},
		{"unknown view", []string{"nope:x"}, users, `unknown view "nope"`},
		{"unknown feature", []string{"user_orders:nope"}, users, `unknown feature "nope"`},
		{"missing join key", []string{"product_sales:orders_1d"}, users, `missing join key "product_id"`},
		{"wrong key type", []string{"product_sales:orders_1d"}, serving.Entities{"product_id": serving.StringKeys("x")}, "want int64, got string"},
		{"null key", []string{"user_orders:spend_30d"}, serving.Entities{"user_id": {features.Null}}, "got null"},
		{"extra column", []string{"user_orders:spend_30d"}, serving.Entities{"user_id": serving.StringKeys("a"), "zzz": serving.StringKeys("a")}, `"zzz" is not a join key`},
		{"ragged columns", []string{"user_orders:spend_30d", "product_sales:orders_1d"},
			serving.Entities{"user_id": serving.StringKeys("a", "b"), "product_id": serving.IntKeys(1)}, "one value per row"},
		{"no rows", []string{"user_orders:spend_30d"}, serving.Entities{"user_id": {}}, "no entity rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Get(context.Background(), tc.features, tc.entities)
			var re *serving.RequestError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a RequestError containing %q", err, tc.want)
			}
		})
	}
	if _, err := r.GetService(context.Background(), "nope", users); err == nil || !strings.Contains(err.Error(), `unknown feature service "nope"`) {
		t.Fatalf("unknown service: %v", err)
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	e := newEnv(t)
	r, _ := serving.New(e.reg, e.store, serving.Options{})
	req := func() error {
		_, err := r.Get(context.Background(), []string{"user_orders:spend_30d"}, serving.Entities{"user_id": serving.StringKeys("u1")})
		return err
	}
	if err := req(); err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	if err := req(); !errors.Is(err, serving.ErrUnavailable) {
		t.Fatalf("with Redis down: %v, want ErrUnavailable", err)
	}
	e.srv.Start()
	deadline := time.Now().Add(5 * time.Second)
	for req() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", req())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Stats().StoreErrors == 0 {
		t.Error("store errors not counted")
	}
}

func newClusterEnv(t *testing.T) *env {
	t.Helper()
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: testenv.StartRedisCluster(t, 3)})
	t.Cleanup(func() { c.Close() })
	pipes := &nodePipes{n: map[string]int{}}
	c.OnNewNode(func(n *goredis.Client) { n.AddHook(nodeHook{pipes, n.Options().Addr}) })
	reg := demo.Registry()
	s, err := redisstore.New(c, reg, redisstore.Options{Prefix: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, store: s, pipes: pipes}
}

type nodePipes struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *nodePipes) reset() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.n
	p.n = map[string]int{}
	return old
}

type nodeHook struct {
	p    *nodePipes
	addr string
}

func (h nodeHook) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (h nodeHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }
func (h nodeHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.p.mu.Lock()
		h.p.n[h.addr]++
		h.p.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestCluster reads many entities of two entity types over a 3-node
// cluster in one Get.
func TestCluster(t *testing.T) {
	e := newClusterEnv(t)
	now := time.Now().UTC().Truncate(time.Hour)
	var users []string
	var products []int64
	for i := range 200 {
		users = append(users, "u"+strconv.Itoa(i))
		products = append(products, int64(i))
	}
	e.write(t, "user_orders", serving.StringKeys(users...), now, 1)
	e.write(t, "product_sales", serving.IntKeys(products...), now, 2)
	r, _ := serving.New(e.reg, e.store, serving.Options{})
	e.pipes.reset()
	res, err := r.GetService(context.Background(), "recommender", serving.Entities{
		"user_id": serving.StringKeys(users...), "product_id": serving.IntKeys(products...)})
	if err != nil {
		t.Fatal(err)
	}
	// 200 × 3 views = 600 keys over 3 nodes: one round trip to each.
	got := e.pipes.reset()
	if len(got) != 3 {
		t.Errorf("pipelines per node %v, want one on each of 3 nodes", got)
	}
	for addr, n := range got {
		if n != 1 {
			t.Errorf("node %s got %d pipelines, want 1", addr, n)
		}
	}
	for i, row := range res.Rows {
		for j, fv := range row {
			want := serving.Present
			if res.Features[j].View == "user_activity" {
				want = serving.NotFound
			}
			if fv.Status != want || (want == serving.Present && !fv.EventTime.Equal(now)) {
				t.Fatalf("row %d %s: %+v, want %s", i, res.Features[j], fv, want)
			}
		}
	}
}

func TestCacheInvalidatedByWrites(t *testing.T) {
	for name, newEnv := range map[string]func(*testing.T) *env{"single": newEnv, "cluster": newClusterEnv} {
		t.Run(name, func(t *testing.T) { testCacheInvalidatedByWrites(t, newEnv(t)) })
	}
}

func testCacheInvalidatedByWrites(t *testing.T, e *env) {
	now := time.Now().UTC()
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-2*time.Hour), 1)
	r, err := serving.New(e.reg, e.store, serving.Options{CacheEntries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	get := func() serving.FeatureValue {
		t.Helper()
		res, err := r.Get(context.Background(), []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys("u1", "u2")})
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0][0]
	}
	// The subscription may not be up yet; wait until a write is seen at all.
	if v := get(); v.Value.Int64() != 1000 {
		t.Fatalf("first read %v", v)
	}
	// Both rows get cached: u1 and the NOT_FOUND u2.
	waitCached := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			before := r.Stats().CacheHits
			v := get()
			if v.Value.Int64() == 0 {
				t.Fatalf("lost the value: %v", v)
			}
			if r.Stats().CacheHits == before+2 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rows not cached: %+v", r.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCached()
	for mark := int64(2); mark <= 3; mark++ {
		e.write(t, "user_orders", serving.StringKeys("u1", "u2"), now.Add(time.Duration(mark-3)*time.Hour), mark)
		deadline := time.Now().Add(5 * time.Second)
		for get().Value.Int64() != mark*1000 {
			if time.Now().After(deadline) {
				t.Fatalf("cache still serves %v after write %d", get(), mark)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Once the signal has been handled, rows are cached again.
	waitCached()
	if v := get(); v.Value.Int64() != 3000 {
		t.Fatalf("cached %v, want the last write", v)
	}
}

// TestNoHeavyDeps checks DESIGN.md's promise that an inference binary
// linking serving links neither Temporal nor Google Cloud (BigQuery, GCS),
// and that the reader service links neither Temporal nor BigQuery: it
// links the Cloud Storage client only for a served log on gs://.
func TestNoHeavyDeps(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string
	}{
		{"github.com/skewfree/skewfree/serving", []string{"go.temporal.io", "cloud.google.com"}},
		{"github.com/skewfree/skewfree/serving/server", []string{"go.temporal.io", "cloud.google.com/go/bigquery"}},
	} {
		out, err := exec.Command("go", "list", "-deps", c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range c.forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", c.pkg, dep)
				}
			}
		}
	}
}

// TestCacheSurvivesRedisRestart checks that the write signal subscription
// comes back after Redis does, so the cache keeps being invalidated.
func TestCacheSurvivesRedisRestart(t *testing.T) {
	e := newEnv(t)
	r, err := serving.New(e.reg, e.store, serving.Options{CacheEntries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	get := func() (serving.FeatureValue, error) {
		res, err := r.Get(context.Background(), []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys("u1")})
		if err != nil {
			return serving.FeatureValue{}, err
		}
		return res.Rows[0][0], nil
	}
	e.srv.Stop()
	if _, err := get(); !errors.Is(err, serving.ErrUnavailable) {
		t.Fatalf("with Redis down: %v", err)
	}
	e.srv.Start()
	// Once the subscription is back, u1's NOT_FOUND stays cached: a
	// failing subscription would reset the cache at least every 2s, so
	// 2.5s of uninterrupted hits show it is healthy again.
	deadline := time.Now().Add(15 * time.Second)
	stableSince := time.Time{}
	for time.Since(stableSince) < 2500*time.Millisecond || stableSince.IsZero() {
		before := r.Stats().CacheHits
		v, err := get()
		switch {
		case err == nil && v.Status == serving.NotFound && r.Stats().CacheHits == before+1:
			if stableSince.IsZero() {
				stableSince = time.Now()
			}
		default:
			stableSince = time.Time{}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache never stable after restart: %+v", r.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ...so only the write signal can drop it now.
	e.write(t, "user_orders", serving.StringKeys("u1"), time.Now().UTC().Add(-time.Hour), 5)
	deadline = time.Now().Add(time.Second)
	for {
		if v, err := get(); err == nil && v.Value.Int64() == 5000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cache not invalidated after Redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExpiryGraceReportsStaleValues: with a grace period, a value past its
// TTL stays in Redis for a while and reads as OUTSIDE_MAX_AGE (null) rather
// than NOT_FOUND, on the real clock.
func TestExpiryGraceReportsStaleValues(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	reg := demo.Registry()
	s, err := redisstore.New(c, reg, redisstore.Options{ExpiryGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	event := time.Now().UTC().Add(-48*time.Hour - 30*time.Minute) // user_orders TTL is 48h
	f := testenv.Frame(t, reg, "user_orders", serving.StringKeys("late"), event, event, testenv.Sample(1))
	if st, err := s.Write(context.Background(), "user_orders", f); err != nil || st.Written != 1 {
		t.Fatalf("write within grace: %+v %v", st, err)
	}
	r, _ := serving.New(reg, s, serving.Options{})
	res, err := r.Get(context.Background(), []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys("late")})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0]; got.Status != serving.OutsideMaxAge || !got.Value.IsNull() || !got.EventTime.Equal(event.Truncate(time.Microsecond)) {
		t.Fatalf("got %+v, want OUTSIDE_MAX_AGE, null, event time %s", got, event)
	}
}
