package activities_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/store/parquet"
)

// ExistingWindows answers per window whether a version is stored, from the
// real offline store after a real computation.
func TestExistingWindows(t *testing.T) {
	a, _ := setup(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	day := 24 * time.Hour
	done := start.Add(3 * day)
	in := activities.ComputeInput{View: "user_orders", WindowEnd: done, Created: done.Add(time.Hour), Shard: -1}
	out := computeWindow(t, env, a, in)
	ends := []time.Time{start.Add(2 * day), done, start.Add(4 * day)}
	existing := func() []bool {
		t.Helper()
		v, err := env.ExecuteActivity(a.ExistingWindows, activities.WindowsInput{View: "user_orders", Ends: ends})
		if err != nil {
			t.Fatal(err)
		}
		var got []bool
		if err := v.Get(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Computed but not published (its push never finished): not stored for
	// good, a backfill must run it again.
	if got, want := existing(), []bool{false, false, false}; !slices.Equal(got, want) {
		t.Fatalf("before publication: existing %v, want %v", got, want)
	}
	pub := activities.PublishInput{View: "user_orders", WindowEnd: done, Created: in.Created, Published: in.Created.Add(time.Minute), Partitions: []parquet.Partition{out.Partition}}
	if _, err := env.ExecuteActivity(a.MarkPublished, pub); err != nil {
		t.Fatal(err)
	}
	if got, want := existing(), []bool{false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("after publication: existing %v, want %v", got, want)
	}
	if _, err := env.ExecuteActivity(a.ExistingWindows, activities.WindowsInput{View: "nope", Ends: ends}); err == nil || !strings.Contains(err.Error(), `unknown view "nope"`) {
		t.Fatalf("unknown view: %v", err)
	}
}
