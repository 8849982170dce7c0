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
	Joined        int
	JoinedWindows []string
	Running       int
	// FailedWindows lists the window ends (RFC 3339) that failed, with why.
	FailedWindows []string
}

// BackfillInputFor builds a backfill of a view's windows in (from, to].
func BackfillInputFor(in MaterializeInput, from, to time.Time, concurrency int) BackfillInput {
	return BackfillInput{View: in.View, From: from.UTC(), To: to.UTC(), Cadence: in.Cadence, Lateness: in.Lateness, Shards: in.Shards, Concurrency: concurrency, Timeouts: in.Timeouts}
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

	sel := workflow.NewSelector(ctx)
	next, started := in.Next, 0
	start := func(end time.Time) {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            MaterializeID(in.View, end),
			TaskQueue:             TaskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
			TypedSearchAttributes: temporal.NewSearchAttributes(ViewAttr.ValueSet(in.View), WindowEndAttr.ValueSet(end)),
		})
		f := workflow.ExecuteChildWorkflow(cctx, MaterializeWorkflow, MaterializeInput{
			View: in.View, WindowEnd: end, Cadence: in.Cadence, Lateness: in.Lateness, Shards: in.Shards, Timeouts: in.Timeouts})
		p.Running++
		sel.AddFuture(f, func(f workflow.Future) {
			p.Running--
			err := f.Get(ctx, nil)
			var already *temporal.ChildWorkflowExecutionAlreadyStartedError
			switch {
			case err == nil:
				p.Done++
			case errors.As(err, &already):
				p.Joined++
				p.JoinedWindows = append(p.JoinedWindows, end.Format(time.RFC3339))
			default:
				p.Failed++
				p.FailedWindows = append(p.FailedWindows, end.Format(time.RFC3339)+": "+rootCause(err))
			}
		})
	}
	for next < len(ends) || p.Running > 0 {
		for p.Running < conc && next < len(ends) && started < maxWindowsPerRun {
			start(ends[next])
			next++
			started++
		}
		if p.Running == 0 {
			break
		}
		sel.Select(ctx)
	}
	if next < len(ends) {
		in.Next, in.Progress = next, p
		return p, workflow.NewContinueAsNewError(ctx, BackfillWorkflow, in)
	}
	if p.Failed > 0 {
		return p, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d windows failed: %s", p.Failed, p.Total, strings.Join(p.FailedWindows, "; ")), "BackfillFailed", nil, p)
	}
	return p, nil
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
