package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Timeouts of a window's activities. Zero fields mean the defaults: 30
// minutes to run (DefaultActivityTimeout) and 2 minutes without a heartbeat
// (DefaultHeartbeatTimeout) before Temporal retries the activity elsewhere.
// They travel in the workflow input, so every run records the ones it used
// and a replay never depends on a worker's configuration. Shorter ones make
// a dead worker's activities retry sooner (tests set a few seconds); the
// activities heartbeat well within whatever is set.
type Timeouts struct {
	Activity  time.Duration `json:",omitzero"`
	Heartbeat time.Duration `json:",omitzero"`
}

// Defaults of Timeouts.
const (
	DefaultActivityTimeout  = 30 * time.Minute
	DefaultHeartbeatTimeout = 2 * time.Minute
)

// activityOptions are computeOptions with t's non-zero timeouts.
func (t Timeouts) activityOptions() workflow.ActivityOptions {
	o := computeOptions
	if t.Activity > 0 {
		o.StartToCloseTimeout = t.Activity
	}
	if t.Heartbeat > 0 {
		o.HeartbeatTimeout = t.Heartbeat
	}
	return o
}
