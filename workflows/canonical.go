package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// canonicalChildVersion is the workflow.GetVersion change id of
// runAsCanonical: runs recorded before it computed under whatever id they had.
const canonicalChildVersion = "materialize-under-canonical-id"

// runAsCanonical makes sure one window is computed only under its canonical
// id (Project.MaterializeID), which is what makes "one window, one run at a
// time" hold: the server allows one running workflow per id.
//
// Scheduled runs, backfills and the starter already use that id, and
// runAsCanonical does nothing for them (ok false). "Trigger now" in the
// Temporal UI, or a start under any other id, gets an id the window does not
// own (the scheduler appends the trigger time, not the window end); such a
// run starts the canonical run as a child and returns its result. If the
// canonical run is already in progress, this run joins it: it returns at
// once with MaterializeResult.Joined naming it, and computes nothing. A
// finished canonical run is run again (the caller asked for a run now).
// The child is abandoned if this run is cancelled: it is the window's run.
func runAsCanonical(ctx workflow.Context, in MaterializeInput, end time.Time) (MaterializeResult, bool, error) {
	canonical := Project(in.Project).MaterializeID(in.View, end)
	if workflow.GetInfo(ctx).WorkflowExecution.ID == canonical {
		return MaterializeResult{}, false, nil
	}
	if workflow.GetVersion(ctx, canonicalChildVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return MaterializeResult{}, false, nil
	}
	child := in
	child.WindowEnd = end
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            canonical,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(ViewAttr.ValueSet(in.View), WindowEndAttr.ValueSet(end)),
	})
	var res MaterializeResult
	err := workflow.ExecuteChildWorkflow(cctx, MaterializeWorkflow, child).Get(ctx, &res)
	if alreadyStarted(err) {
		workflow.GetLogger(ctx).Info("window already running under its canonical id: joined", "workflow", canonical)
		return MaterializeResult{View: in.View, WindowEnd: end, Joined: canonical}, true, nil
	}
	return res, true, err
}

// alreadyStarted reports whether a child could not start because its id is
// running: the server says so with ChildWorkflowExecutionAlreadyStartedError,
// the SDK's test environment with the service error.
func alreadyStarted(err error) bool {
	var child *temporal.ChildWorkflowExecutionAlreadyStartedError
	var svc *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &child) || errors.As(err, &svc)
}
