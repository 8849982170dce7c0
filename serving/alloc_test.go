package serving_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
)

// TestGetAllocations: without a cache, a Get allocates its Result and a
// few buffers, not one object per key or per value: allocations feed the
// collector, whose pauses and write barriers were most of the reader's
// cost at 100 entities. (The bounds leave room for sync.Pool, which drops
// items at random under the race detector.)
func TestGetAllocations(t *testing.T) {
	reg := testenv.WideRegistry(5, 50, 24*time.Hour)
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprintf("u%03d", i)
	}
	now := time.Now().UTC()
	store := newMemStore(t, reg, users, now)
	var refs []string
	for _, v := range reg.Views() {
		for _, f := range v.Features()[:10] {
			refs = append(refs, v.Name+":"+f.Name)
		}
	}
	r, err := serving.New(reg, store, serving.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []int{1, 100} {
		ents := serving.Entities{"user_id": serving.StringKeys(users[:n]...)}
		var res *serving.Result
		allocs := testing.AllocsPerRun(50, func() {
			if res, err = r.Get(ctx, refs, ents); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 25 {
			t.Errorf("%d entities: %.0f allocations per Get, want at most 25", n, allocs)
		}
		// and the result is whole
		for i, row := range res.Rows {
			for j, c := range row {
				if c.Status != serving.Present || !c.EventTime.Equal(now.Truncate(time.Microsecond)) {
					t.Fatalf("%d entities: row %d col %d: %+v", n, i, j, c)
				}
				v, _ := reg.View(res.Features[j].View)
				f, _ := v.Feature(res.Features[j].Feature)
				if want := testenv.Sample(1)(j%10, i, f); !c.Value.Equal(want) {
					t.Fatalf("%d entities: row %d col %d: %v, want %v", n, i, j, c.Value, want)
				}
			}
		}
	}
}
