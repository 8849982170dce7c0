// Package workflows holds Skewfree's Temporal workflows: materialize one
// window of a view, and backfill a range of windows. They are deterministic
// and do no I/O: every side effect is an activity of package activities,
// referenced by method, and only partition references and counts travel
// through workflow history.
package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
)

// TaskQueue is where the default project's worker listens and everything
// of it is started; Project.TaskQueue names other projects' queues.
const TaskQueue = "skewfree"

// Project names one deployment's Temporal objects. The default project
// ("" or "skewfree") keeps the plain names (ScheduleID, MaterializeID,
// BackfillID, TaskQueue); any other project P prefixes each with "P.", so
// projects sharing a namespace never share an id or a task queue. It is a
// value, passed along (workflow inputs carry it), never global state.
type Project string

// TaskQueue is the project's task queue.
func (p Project) TaskQueue() string { return config.Qualify(string(p), TaskQueue) }

// ScheduleID is the id of a view's schedule in the project.
func (p Project) ScheduleID(view string) string {
	return config.Qualify(string(p), ScheduleID(view))
}

// MaterializeID is the canonical workflow id of one window of a view in
// the project.
func (p Project) MaterializeID(view string, windowEnd time.Time) string {
	return config.Qualify(string(p), MaterializeID(view, windowEnd))
}

// InputFor builds the input of a view's window in the project (see
// package-level InputFor). Inputs carry "" for the default project, so its
// inputs are those of deployments from before projects.
func (p Project) InputFor(v *features.View, windowEnd time.Time) MaterializeInput {
	in := InputFor(v, windowEnd)
	if !config.IsDefaultProject(string(p)) {
		in.Project = string(p)
	}
	return in
}

// BackfillID is the workflow id of a backfill of (from, to] in the project.
func (p Project) BackfillID(view string, from, to time.Time) string {
	return config.Qualify(string(p), BackfillID(view, from, to))
}

// ScheduleID is the id of a view's schedule. The Temporal scheduler appends
// "-<nominal time, RFC 3339>" to the workflow ids it starts, which gives
// MaterializeID: a window started by the schedule, by the UI's backfill or by
// starter shares one id.
func ScheduleID(view string) string { return "materialize-" + view }

// MaterializeID is the workflow id of one window of a view.
func MaterializeID(view string, windowEnd time.Time) string {
	return ScheduleID(view) + "-" + windowEnd.UTC().Format(time.RFC3339)
}

// BackfillID is the workflow id of a backfill of (from, to].
func BackfillID(view string, from, to time.Time) string {
	return "backfill-" + view + "-" + from.UTC().Format(time.RFC3339) + "-" + to.UTC().Format(time.RFC3339)
}

// windowFromID recovers the nominal time from a scheduled workflow's id.
func windowFromID(id string, p Project, view string) (time.Time, bool) {
	s, ok := strings.CutPrefix(id, p.ScheduleID(view)+"-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err == nil
}

// Search attributes set when materializations are started, so windows are
// findable in the Temporal UI ("SkewfreeView = 'user_orders'"). They are
// registered on the namespace by the worker at start and by `starter apply`.
var (
	ViewAttr      = temporal.NewSearchAttributeKeyKeyword("SkewfreeView")
	WindowEndAttr = temporal.NewSearchAttributeKeyTime("SkewfreeWindowEnd")
	// ScheduledStartAttr is set by the server's scheduler on the workflows a
	// schedule starts (also from the UI's backfill): the nominal time.
	ScheduledStartAttr = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")
)
