package push_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
)

// Folding tiles (push.Options.FoldAfter) keeps a tile to a few fields
// however many requests it gets, and every read no older than the horizon
// still serves exactly what the training-set code computes from the logged
// events, retries of folded requests included, through a reader whose
// cache of decoded tile fields lives across the folds.
func TestFoldedTilesServeExactly(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	const horizon = 20 * time.Second
	p, err := push.New(r.reg, r.sources, r.online, push.Options{Now: func() time.Time { return r.clock }, FoldAfter: horizon, FoldFields: 2})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	users := []string{"u1", "u2", "nobody"}
	// One reader throughout, so its cache of decoded tile fields
	// (serving.Options.FreshStates) meets fields before and after folds.
	var readAt time.Time
	rd, err := serving.New(r.reg, r.online, serving.Options{Now: func() time.Time { return readAt }})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	fv, _ := r.reg.View("clicks_fresh")
	var refs []string
	for _, f := range fv.Features() {
		refs = append(refs, fv.Name+":"+f.Name)
	}
	read := func(at time.Time) *serving.Result {
		readAt = at
		res, err := rd.Get(ctx, refs, serving.Entities{"user_id": serving.StringKeys(users...)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	type sample struct {
		at  time.Time
		res *serving.Result
	}
	var samples []sample
	var sent []push.Request
	folded, replays := 0, 0
	for step := range 150 {
		r.clock = r.clock.Add(time.Duration(rng.Int64N(int64(8 * time.Second)))).Truncate(time.Microsecond)
		req := randomRequest(rng, fmt.Sprintf("f-%d", step), r.clock, users)
		if len(sent) > 10 && rng.IntN(5) == 0 { // a retry of an older, likely folded, request
			req = sent[rng.IntN(len(sent)-5)]
			replays++
		} else {
			sent = append(sent, req)
		}
		res, err := p.Push(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		folded += res.Folded
		if step%3 == 0 {
			samples = append(samples, sample{r.clock, read(r.clock)})
			at := r.clock.Add(-time.Duration(rng.Int64N(int64(horizon)))).Truncate(time.Microsecond)
			samples = append(samples, sample{at, read(at)})
		}
	}
	if folded == 0 || replays == 0 {
		t.Fatalf("%d folds, %d retries: the stream proves little", folded, replays)
	}
	// Bounded tiles: the fold plus the requests of the last horizon and a
	// few waiting to be folded. Without folding, a tile of a pushing user
	// holds one field per request that touched it (dozens here).
	keys, err := r.client.Keys(ctx, "pt:*:clicks_fresh:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, k := range keys {
		if strings.HasSuffix(k, ":requests") {
			continue
		}
		most = max(most, int(r.client.HLen(ctx, k).Val()))
	}
	if most > 8 {
		t.Fatalf("a tile holds %d fields after folding, want at most 8", most)
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
	diffs := 0
	for si, s := range samples {
		for ui, u := range users {
			for j, c := range cols {
				if want, got := c.Value(si*len(users)+ui), s.res.Rows[ui][j].Value; !want.Equal(got) {
					diffs++
					if diffs < 10 {
						t.Errorf("T=%s %s %s: served %s, training %s", s.at.Format(time.RFC3339Nano), u, c.Name, got, want)
					}
				}
			}
		}
	}
	t.Logf("%d instants, %d folds, %d retries, at most %d fields per tile: %d differences", len(samples), folded, replays, most, diffs)
	if diffs > 0 {
		t.Fatalf("%d differences", diffs)
	}
}
