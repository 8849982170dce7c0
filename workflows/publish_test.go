package workflows_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/workflows"
)

// After every push succeeded, the run marks its version published at the
// workflow time taken after the pushes returned: never before a value was
// online, and the same on replay.
func TestMaterializePublishesAfterPushes(t *testing.T) {
	for _, shards := range []int{1, 3} {
		r := recorder{pushDelay: 7 * time.Minute} // pushes take 7 minutes of workflow time
		env := r.env(t)
		start := e0.Add(2*time.Hour + 123456789*time.Nanosecond)
		env.SetStartTime(start)
		env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day, Shards: shards})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		var res workflows.MaterializeResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if len(r.publishes) != 1 {
			t.Fatalf("shards %d: %d publications, want 1", shards, len(r.publishes))
		}
		p := r.publishes[0]
		created := r.computes[0].Created
		if !p.Created.Equal(created) || !res.Created.Equal(created) || !p.WindowEnd.Equal(e0) || len(p.Partitions) != shards {
			t.Fatalf("shards %d: publication %+v, result %+v, created %s", shards, p, res, created)
		}
		// The pushes returned at start + 7m (the clock moved by the mock's
		// delay); publication is then, rounded up to the microsecond.
		if want := start.Add(7 * time.Minute).Truncate(time.Microsecond).Add(time.Microsecond); !p.Published.Equal(want) || !res.Published.Equal(want) {
			t.Errorf("shards %d: published %s (result %s), want %s", shards, p.Published, res.Published, want)
		}
		if len(r.pushes) != shards {
			t.Fatalf("pushes %d", len(r.pushes))
		}
		// The committed version went to the second history once, with
		// every partition, before any push.
		if len(r.histories) != 1 || len(r.histories[0].Partitions) != shards || !r.histories[0].Created.Equal(created) || r.pushesAtHistory[0] != 0 {
			t.Fatalf("shards %d: history appends %+v (pushes before: %v), want one of the version's %d partitions before the pushes", shards, r.histories, r.pushesAtHistory, shards)
		}
	}
}

// A run whose push never completed is never published.
func TestMaterializeFailedPushIsNotPublished(t *testing.T) {
	r := recorder{pushErr: temporal.NewNonRetryableApplicationError("redis down", "test", nil)}
	env := r.env(t)
	env.SetStartTime(e0)
	env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a failing push did not fail the run")
	}
	if len(r.publishes) != 0 {
		t.Fatalf("published %+v after a failed push", r.publishes)
	}
}
