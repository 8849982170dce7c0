package serving_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// gateStore is a Redis store whose Fetch records the keys of every call and
// first runs hook (when set) with the call's number (1-based) and keys: the
// hook may block, panic, or fail the call with an error.
type gateStore struct {
	*redisstore.Store
	mu    sync.Mutex
	sizes []int
	hook  func(n int, keys []string) error
}

func (g *gateStore) Fetch(ctx context.Context, keys []string, dst []string) ([]string, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(keys))
	n, hook := len(g.sizes), g.hook
	g.mu.Unlock()
	if hook != nil {
		if err := hook(n, keys); err != nil {
			return dst[:0], err
		}
	}
	return g.Store.Fetch(ctx, keys, dst)
}

func (g *gateStore) fetchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// blockFirst makes the store's first Fetch wait until release is closed,
// and reports on started when it began.
func blockFirst(g *gateStore) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	g.hook = func(n int, _ []string) error {
		if n == 1 {
			close(started)
			<-release
		}
		return nil
	}
	return started, release
}

// waitQueued waits until n fetches are queued in r's coalescer.
func waitQueued(t *testing.T, r *serving.Reader, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for serving.QueuedFetches(r) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches queued, want %d", serving.QueuedFetches(r), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// coalesceEnv writes every view of the demo registry for users u0..u39 and
// products 0..39 (values differ per entity), leaving u40.. and 40..
// unwritten.
func coalesceEnv(t *testing.T) (*env, time.Time) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	users := make([]string, 40)
	prods := make([]int64, 40)
	for i := range users {
		users[i], prods[i] = fmt.Sprintf("u%d", i), int64(i)
	}
	for _, v := range e.reg.Views() {
		keys := serving.StringKeys(users...)
		if e.reg.EntityOf(v).KeyType == features.Int64 {
			keys = serving.IntKeys(prods...)
		}
		f := testEnvFrame(t, e, v.Name, keys, now.Add(-time.Hour))
		if _, err := e.store.Write(context.Background(), v.Name, f); err != nil {
			t.Fatal(err)
		}
	}
	return e, now
}

// request is one Get of a random feature list for random entities.
type request struct {
	refs []string
	ents serving.Entities
}

func randomRequests(reg *features.Registry, n int, rng *rand.Rand) []request {
	var all []string
	for _, v := range reg.Views() {
		if v.Fresh != nil {
			// Fresh views' tiles are read in a round trip of their own
			// (FetchWithTiles), never through Fetch: a request with one
			// neither passes the gate nor queues, and blockFirst's first
			// Get would wait for a Fetch that never comes.
			continue
		}
		for _, f := range v.Features() {
			all = append(all, v.Name+":"+f.Name)
		}
	}
	out := make([]request, n)
	for i := range out {
		var refs []string
		for len(refs) == 0 {
			for _, r := range all {
				if rng.IntN(4) == 0 {
					refs = append(refs, r)
				}
			}
		}
		rows := 1 + rng.IntN(4)
		users, prods := make([]string, rows), make([]int64, rows)
		for j := range rows {
			users[j], prods[j] = fmt.Sprintf("u%d", rng.IntN(50)), int64(rng.IntN(50))
		}
		ents := serving.Entities{}
		for _, r := range refs {
			v, _ := reg.View(strings.SplitN(r, ":", 2)[0])
			if reg.EntityOf(v).KeyType == features.Int64 {
				ents["product_id"] = serving.IntKeys(prods...)
			} else {
				ents["user_id"] = serving.StringKeys(users...)
			}
		}
		out[i] = request{refs, ents}
	}
	return out
}

// TestCoalescedGetsMatchUncoalesced: many concurrent Gets with different
// keys and feature lists, coalesced, answer exactly what a reader without
// coalescing answers from the same Redis.
func TestCoalescedGetsMatchUncoalesced(t *testing.T) {
	e, now := coalesceEnv(t)
	clock := func() time.Time { return now.Add(2 * time.Hour) } // some views OUTSIDE_MAX_AGE
	plain, err := serving.New(e.reg, e.store, serving.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateStore{Store: e.store}
	started, release := blockFirst(g)
	co, err := serving.New(e.reg, g, serving.Options{Now: clock, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	reqs := randomRequests(e.reg, 400, rand.New(rand.NewPCG(1, 2)))
	want := make([]*serving.Result, len(reqs))
	for i, rq := range reqs {
		if want[i], err = plain.Get(context.Background(), rq.refs, rq.ents); err != nil {
			t.Fatal(err)
		}
	}

	got := make([]*serving.Result, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	get := func(i int) {
		defer wg.Done()
		got[i], errs[i] = co.Get(context.Background(), reqs[i].refs, reqs[i].ents)
	}
	// The first Get holds the store; 100 more queue behind it, then the
	// rest race in while batches go out.
	wg.Add(1)
	go get(0)
	<-started
	for i := 1; i <= 100; i++ {
		wg.Add(1)
		go get(i)
	}
	waitQueued(t, co, 100)
	close(release)
	for i := 101; i < len(reqs); i++ {
		wg.Add(1)
		go get(i)
	}
	wg.Wait()
	for i := range reqs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("request %d (%v %v):\ncoalesced %+v\nplain     %+v", i, reqs[i].refs, reqs[i].ents, got[i].Rows, want[i].Rows)
		}
	}
	st := co.Stats()
	if st.CoalescedFetches == 0 || st.CoalescedGets < 100 {
		t.Errorf("stats %+v: want the 100 queued Gets answered by shared fetches", st)
	}
	if n := len(g.fetchSizes()); n >= len(reqs) {
		t.Errorf("%d fetches for %d Gets: nothing shared", n, len(reqs))
	}
}

// TestCoalesceStoreErrorFailsOnlyItsBatch: an error injected into one
// shared fetch fails the Gets of that batch, not the Get before it, and
// the reader serves the next ones.
func TestCoalesceStoreErrorFailsOnlyItsBatch(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			e, now := coalesceEnv(t)
			g := &gateStore{Store: e.store}
			started, release := make(chan struct{}), make(chan struct{})
			g.hook = func(n int, _ []string) error {
				switch n {
				case 1:
					close(started)
					<-release
				case 2:
					if mode == "panic" {
						panic("injected")
					}
					return errors.New("injected")
				}
				return nil
			}
			r, err := serving.New(e.reg, g, serving.Options{Coalesce: true, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			get := func(user string) error {
				res, err := r.Get(context.Background(), []string{"user_orders:spend_30d"}, serving.Entities{"user_id": serving.StringKeys(user)})
				if err == nil && res.Rows[0][0].Status != serving.Present {
					err = fmt.Errorf("%s: status %s", user, res.Rows[0][0].Status)
				}
				return err
			}
			first := make(chan error, 1)
			go func() { first <- get("u0") }()
			<-started
			batch := make(chan error, 5)
			for i := 1; i <= 5; i++ {
				go func() { batch <- get(fmt.Sprintf("u%d", i)) }()
			}
			waitQueued(t, r, 5)
			close(release)
			if err := <-first; err != nil {
				t.Errorf("the Get before the failed batch: %v", err)
			}
			for range 5 {
				if err := <-batch; !errors.Is(err, serving.ErrUnavailable) || !strings.Contains(err.Error(), "injected") {
					t.Errorf("Get in the failed batch: %v, want ErrUnavailable with the injected cause", err)
				}
			}
			if got := g.fetchSizes(); len(got) != 2 || got[1] != 5 {
				t.Errorf("fetch sizes %v, want [1 5]", got)
			}
			for i := range 3 {
				if err := get(fmt.Sprintf("u%d", i)); err != nil {
					t.Errorf("after the failed batch: %v", err)
				}
			}
			if st := r.Stats(); st.StoreErrors != 5 {
				t.Errorf("store errors %d, want 5 (one per failed Get)", st.StoreErrors)
			}
		})
	}
}

// TestCoalesceCancelledWaiter: a Get whose ctx ends returns at once with
// ctx's error, whether it is still queued or its batch is in flight, and
// the Gets it shared a queue or a batch with get their values.
func TestCoalesceCancelledWaiter(t *testing.T) {
	e, now := coalesceEnv(t)
	g := &gateStore{Store: e.store}
	started1, release1 := make(chan struct{}), make(chan struct{})
	started2, release2 := make(chan struct{}), make(chan struct{})
	g.hook = func(n int, _ []string) error {
		switch n {
		case 1:
			close(started1)
			<-release1
		case 2:
			close(started2)
			<-release2
		}
		return nil
	}
	r, err := serving.New(e.reg, g, serving.Options{Coalesce: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		res *serving.Result
		err error
	}
	get := func(ctx context.Context, user string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := r.Get(ctx, []string{"user_orders:spend_30d", "user_activity:page_views_1h"}, serving.Entities{"user_id": serving.StringKeys(user)})
			ch <- answer{res, err}
		}()
		return ch
	}
	check := func(a answer, user string) {
		t.Helper()
		if a.err != nil {
			t.Fatalf("%s: %v", user, a.err)
		}
		if a.res.Rows[0][0].Status != serving.Present {
			t.Fatalf("%s: status %s", user, a.res.Rows[0][0].Status)
		}
	}

	first := get(context.Background(), "u0")
	<-started1
	// Queued: a Get cancelled while waiting for the first fetch leaves the
	// queue.
	qctx, qcancel := context.WithCancel(context.Background())
	queued := get(qctx, "u1")
	waitQueued(t, r, 1)
	other := get(context.Background(), "u2")
	waitQueued(t, r, 2)
	qcancel()
	select {
	case a := <-queued:
		if !errors.Is(a.err, context.Canceled) {
			t.Fatalf("cancelled while queued: %v, want context.Canceled", a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled Get waited for the fetch ahead of it")
	}
	waitQueued(t, r, 1)
	// In flight: a batch of two, one of which gives up.
	fctx, fcancel := context.WithCancel(context.Background())
	flying := get(fctx, "u3")
	waitQueued(t, r, 2)
	close(release1)
	check(<-first, "u0")
	<-started2
	fcancel()
	select {
	case a := <-flying:
		if !errors.Is(a.err, context.Canceled) {
			t.Fatalf("cancelled in flight: %v, want context.Canceled", a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled Get waited for its batch")
	}
	close(release2)
	a := <-other
	check(a, "u2")
	if got := g.fetchSizes(); len(got) != 2 || got[1] != 4 {
		t.Errorf("fetch sizes %v, want [2 4]: the Get cancelled while queued was not fetched", got)
	}
	want, err := serving.New(e.reg, e.store, serving.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Get(context.Background(), []string{"user_orders:spend_30d", "user_activity:page_views_1h"}, serving.Entities{"user_id": serving.StringKeys("u2")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.res, w) {
		t.Errorf("u2 after its batch mate left: %+v, want %+v", a.res.Rows, w.Rows)
	}
}

// TestCoalesceBatchBound: a shared fetch carries at most MaxBatchKeys keys,
// in arrival order, and a Get with more keys than that goes alone.
func TestCoalesceBatchBound(t *testing.T) {
	e, now := coalesceEnv(t)
	g := &gateStore{Store: e.store}
	started, release := blockFirst(g)
	r, err := serving.New(e.reg, g, serving.Options{Coalesce: true, MaxBatchKeys: 10, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"user_orders:spend_30d", "user_activity:page_views_1h"} // 2 keys per user
	get := func(users ...string) chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := r.Get(context.Background(), refs, serving.Entities{"user_id": serving.StringKeys(users...)})
			ch <- err
		}()
		return ch
	}
	var done []chan error
	done = append(done, get("u0"))
	<-started
	// Queued in this order: Gets of 2, 4, 6, 12 (alone), 2, 2 and 2 keys.
	for i, n := range []int{1, 2, 3, 6, 1, 1, 1} {
		users := make([]string, n)
		for j := range users {
			users[j] = fmt.Sprintf("u%d", i*5+j)
		}
		done = append(done, get(users...))
		waitQueued(t, r, i+1)
	}
	close(release)
	for _, ch := range done {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	want := []int{2, 2 + 4, 6, 12, 2 + 2 + 2}
	if got := g.fetchSizes(); !reflect.DeepEqual(got, want) {
		t.Errorf("fetch sizes %v, want %v", got, want)
	}
	if err := (serving.Options{MaxBatchKeys: -1}).Validate(); err == nil {
		t.Error("negative MaxBatchKeys accepted")
	}
}

// testEnvFrame is a frame of view for keys whose values differ per key.
func testEnvFrame(t *testing.T, e *env, view string, keys []features.Value, event time.Time) *features.Frame {
	t.Helper()
	return testenv.Frame(t, e.reg, view, keys, event, event, func(j, i int, f features.Feature) features.Value {
		return testenv.Sample(int64(i)+1)(j, i, f)
	})
}
