package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
)

// ProgressQuery is the name of the backfill's progress query.
const ProgressQuery = "progress"

// maxWindowsPerRun bounds one run's history: after starting this many
// windows the backfill continues as new with its cursor and counts.
const maxWindowsPerRun = 100

// MaxListedWindows bounds the window lists of Progress (failed, joined):
// the state travels through continue-as-new and every query, so it keeps
// the counts and only the first windows of each list.
const MaxListedWindows = 20

// Checking which windows already have a version: checkBatch windows per
// activity call, at most maxChecksPerRun calls before continuing as new.
const (
	checkBatch       = 500
	maxChecksPerRun  = 20
	skipExistingVers = "backfill-skips-existing-windows"
)

// BackfillInput is a range of windows, (From, To], of one view.
type BackfillInput struct {
	View     string
	From, To time.Time
	Cadence  time.Duration
	Lateness time.Duration
	Shards   int
	// Concurrency bounds the windows computed at once; default 4.
	Concurrency int
	// Timeouts of every window's activities; zero: the defaults.
	Timeouts Timeouts `json:",omitzero"`
	// Project qualifies the children's ids ("": the default project).
	Project string `json:",omitempty"`
	// Rerun computes every window; by default windows that already have a
	// version in the offline store are skipped (Progress.Skipped), so a
	// repeated backfill (a restarted `make dev`) adds no versions.
	Rerun bool `json:",omitempty"`

	// Carried across continue-as-new.
	Next     int
	Progress Progress
}

// Progress answers the progress query.
type Progress struct {
	Total  int
	Done   int
	Failed int
	// Joined windows were already running elsewhere (the schedule, another
	// backfill) when this backfill reached them; their own runs decide
	// their outcome, listed in JoinedWindows.
	Joined int
	// JoinedWindows lists the first MaxListedWindows joined window ends.
	JoinedWindows []string
	Running       int
	// FailedWindows lists the first MaxListedWindows window ends (RFC 3339)
	// that failed, with why; Failed counts them all.
	FailedWindows []string
	// Skipped windows already had a version offline and were not run
	// again (see BackfillInput.Rerun).
	Skipped int `json:",omitempty"`
}

// Settled counts the windows whose outcome is known to the backfill:
// done, failed, joined or skipped.
func (p Progress) Settled() int { return p.Done + p.Failed + p.Joined + p.Skipped }

// BackfillInputFor builds a backfill of a view's windows in (from, to].
func BackfillInputFor(in MaterializeInput, from, to time.Time, concurrency int) BackfillInput {
	return BackfillInput{View: in.View, From: from.UTC(), To: to.UTC(), Cadence: in.Cadence, Lateness: in.Lateness, Shards: in.Shards,
		Concurrency: concurrency, Project: in.Project, Timeouts: in.Timeouts}
}

// checkOptions: listing a folder is quick.
var checkOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		MaximumAttempts:        5,
		NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
	},
}

// listWindow appends a window to a Progress list unless it is full.
func listWindow(list []string, s string) []string {
	if len(list) >= MaxListedWindows {
		return list
	}
	return append(list, s)
}

// BackfillWorkflow materializes every window in (From, To] as child
// workflows with the same ids a schedule would use, at most Concurrency at
// a time. Windows finish in any order; the online store keeps the newest
// window's values because its writes never move back in time.
func BackfillWorkflow(ctx workflow.Context, in BackfillInput) (Progress, error) {
	if in.View == "" || in.Cadence <= 0 || !in.From.Before(in.To) {
		return in.Progress, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("bad backfill: view %q, cadence %s, range (%s, %s]", in.View, in.Cadence, in.From.Format(time.RFC3339), in.To.Format(time.RFC3339)),
			activities.ErrTypeBadInput, nil)
	}
	conc := in.Concurrency
	if conc <= 0 {
		conc = 4
	}
	ends := features.WindowEndsEvery(in.Cadence, in.From, in.To)
	p := in.Progress
	p.Total = len(ends)
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return p, nil }); err != nil {
		return p, err
	}

	// Runs recorded before skipping existed never skip.
	skip := !in.Rerun && workflow.GetVersion(ctx, skipExistingVers, workflow.DefaultVersion, 1) == 1
	known := existing{view: in.View, ends: ends}

	proj := Project(in.Project)
	sel := workflow.NewSelector(ctx)
	next, started := in.Next, 0
	start := func(end time.Time) {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            proj.MaterializeID(in.View, end),
			TaskQueue:             proj.TaskQueue(),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
			TypedSearchAttributes: temporal.NewSearchAttributes(ViewAttr.ValueSet(in.View), WindowEndAttr.ValueSet(end)),
		})
		f := workflow.ExecuteChildWorkflow(cctx, MaterializeWorkflow, MaterializeInput{
			View: in.View, WindowEnd: end, Cadence: in.Cadence, Lateness: in.Lateness, Shards: in.Shards, Project: in.Project, Timeouts: in.Timeouts})
		p.Running++
		sel.AddFuture(f, func(f workflow.Future) {
			p.Running--
			err := f.Get(ctx, nil)
			switch {
			case err == nil:
				p.Done++
			case alreadyStarted(err):
				p.Joined++
				p.JoinedWindows = listWindow(p.JoinedWindows, end.Format(time.RFC3339))
			default:
				p.Failed++
				p.FailedWindows = listWindow(p.FailedWindows, end.Format(time.RFC3339)+": "+rootCause(err))
			}
		})
	}
	// checkFailed stops starting windows: the offline store cannot say
	// which windows exist.
	var checkFailed error
	for next < len(ends) || p.Running > 0 {
		for checkFailed == nil && p.Running < conc && next < len(ends) && started < maxWindowsPerRun {
			if skip {
				has, ok, err := known.has(ctx, next)
				if err != nil {
					checkFailed = err
				}
				if !ok {
					break
				}
				if has {
					p.Skipped++
					next++
					continue
				}
			}
			start(ends[next])
			next++
			started++
		}
		if p.Running == 0 {
			break
		}
		sel.Select(ctx)
	}
	if checkFailed != nil {
		return p, checkFailed
	}
	if next < len(ends) {
		in.Next, in.Progress = next, p
		return p, workflow.NewContinueAsNewError(ctx, BackfillWorkflow, in)
	}
	if p.Failed > 0 {
		return p, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d windows failed: %s%s", p.Failed, p.Total, strings.Join(p.FailedWindows, "; "), more(p.Failed, len(p.FailedWindows))), "BackfillFailed", nil, p)
	}
	return p, nil
}

// existing answers, a batch of checkBatch windows per activity call,
// whether a window already has a version offline.
type existing struct {
	view    string
	ends    []time.Time
	answers []bool // answers[i] is for ends[first+i]
	first   int
	calls   int
}

// has reports whether ends[i] already has a version; i never decreases.
// ok is false when it cannot say: the run made its maxChecksPerRun calls
// (it continues as new), or err says why the check failed.
func (e *existing) has(ctx workflow.Context, i int) (has, ok bool, err error) {
	if i < e.first+len(e.answers) {
		return e.answers[i-e.first], true, nil
	}
	if e.calls == maxChecksPerRun {
		return false, false, nil
	}
	e.calls++
	batch := e.ends[i:min(i+checkBatch, len(e.ends))]
	actx := workflow.WithActivityOptions(ctx, checkOptions)
	e.answers = nil
	if err := workflow.ExecuteActivity(actx, a.ExistingWindows, activities.WindowsInput{View: e.view, Ends: batch}).Get(ctx, &e.answers); err != nil {
		return false, false, fmt.Errorf("check existing windows of %s: %w", e.view, err)
	}
	if len(e.answers) != len(batch) {
		return false, false, fmt.Errorf("check existing windows of %s: %d answers for %d windows", e.view, len(e.answers), len(batch))
	}
	e.first = i
	return e.answers[0], true, nil
}

// more says how many of n windows a list of listed leaves out.
func more(n, listed int) string {
	if n <= listed {
		return ""
	}
	return fmt.Sprintf("; and %d more", n-listed)
}

func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
