package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/skewfree/skewfree/workflows"
)

// TestTimeoutsReachTheActivities: a backfill's Timeouts reach every
// window's activities; zero keeps the default (30 min run).
func TestTimeoutsReachTheActivities(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   workflows.Timeouts
		sc   time.Duration
	}{
		{"defaults", workflows.Timeouts{}, 30 * time.Minute},
		{"short, as the kill test sets them", workflows.Timeouts{Activity: time.Minute, Heartbeat: 3 * time.Second}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			env := r.env(t)
			var mu sync.Mutex
			var seen []*activity.Info
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, info)
			})
			env.SetStartTime(e0.Add(5 * time.Hour))
			in := workflows.BackfillInput{View: "v", From: e0, To: e0.Add(3 * time.Hour), Cadence: time.Hour, Concurrency: 2, Timeouts: tc.in, Rerun: true}
			env.ExecuteWorkflow(workflows.BackfillWorkflow, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 12 { // compute, history, push and publish of 3 windows
				t.Fatalf("%d activities ran, want 12", len(seen))
			}
			for _, info := range seen {
				// The test environment leaves Info.HeartbeatTimeout zero;
				// the e2e kill test depends on the heartbeat one.
				if info.StartToCloseTimeout != tc.sc {
					t.Fatalf("%s: start-to-close %s, want %s", info.ActivityType.Name, info.StartToCloseTimeout, tc.sc)
				}
			}
		})
	}
}
