package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	operatorpb "go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/workflows"
)

// Change is one thing Apply did to the schedules.
type Change struct {
	Action   string // "created", "updated", "deleted", "unchanged"
	Schedule string
	Detail   string
}

func (c Change) String() string {
	s := c.Action + " " + c.Schedule
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// catchupWindow is how far back a schedule catches up runs missed while no
// worker (or server) was up.
const catchupWindow = 7 * 24 * time.Hour

// MemoProject is the schedule memo field that marks a schedule as created
// by `starter apply` for a project (its value). Apply updates and deletes
// only schedules carrying its own project's mark.
const MemoProject = "skewfree_project"

// scheduleFor is the desired schedule of a view in a project: every cadence
// on the UTC boundary, each run materializing the window ending at its
// nominal time. Overlaps are allowed because runs of different windows are
// independent and a backfill from the UI must run every window it names.
func scheduleFor(v *features.View, project string) (client.ScheduleSpec, *client.ScheduleWorkflowAction, client.ScheduleOptions) {
	proj := workflows.Project(project)
	in := proj.InputFor(v, time.Time{})
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: v.Cadence.Duration()}}}
	action := &client.ScheduleWorkflowAction{
		ID:                    proj.ScheduleID(v.Name),
		Workflow:              "MaterializeWorkflow",
		Args:                  []any{in},
		TaskQueue:             proj.TaskQueue(),
		Memo:                  map[string]any{"view": v.Name, "project": projectName(project)},
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.ViewAttr.ValueSet(v.Name)),
	}
	opts := client.ScheduleOptions{
		ID:            proj.ScheduleID(v.Name),
		Spec:          spec,
		Action:        action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: catchupWindow,
		Memo:          map[string]any{"view": v.Name, "owner": v.Owner, MemoProject: projectName(project)},
		Note:          "managed by `starter apply` (project " + projectName(project) + "): " + v.Description,
	}
	return spec, action, opts
}

// projectName is the project's name, the default for "".
func projectName(project string) string {
	if project == "" {
		return config.DefaultProject
	}
	return project
}

// Apply is ApplyProject for the default project.
func Apply(ctx context.Context, c client.Client, reg *features.Registry) ([]Change, error) {
	return ApplyProject(ctx, c, reg, config.DefaultProject)
}

// ApplyProject makes the project's schedules match the registry: creates
// the missing ones, updates those whose definition changed, deletes those of
// views that no longer exist. It touches only schedules it created, which
// carry the project in their memo (MemoProject): other projects' schedules,
// and any schedule without the mark, are never updated or deleted.
//
// One exception adopts schedules from before the mark (or made by hand): a
// schedule without a mark whose id is exactly the one a view needs and
// whose action is ours (MaterializeWorkflow of that view on the project's
// task queue) is recreated with the mark, keeping its paused state (a memo
// cannot be updated in place). A schedule holding that id with any other
// action, or another project's mark, is an error naming it; Apply then
// changes nothing more.
func ApplyProject(ctx context.Context, c client.Client, reg *features.Registry, project string) ([]Change, error) {
	project = projectName(project)
	if err := config.ValidateProject(project); err != nil {
		return nil, err
	}
	sc := c.ScheduleClient()
	// Candidates for deletion: the schedules marked as ours.
	ours := map[string]bool{}
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if markOf(e.Memo) == project {
			ours[e.ID] = true
		}
	}
	var changes []Change
	for _, v := range reg.Views() {
		spec, action, opts := scheduleFor(v, project)
		id := opts.ID
		delete(ours, id)
		h := sc.GetHandle(ctx, id)
		desc, err := h.Describe(ctx)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			// The list comes from visibility, which can lag: Describe decides.
			created, err := createSchedule(ctx, sc, opts)
			if err != nil {
				return changes, err
			}
			if created {
				changes = append(changes, Change{Action: "created", Schedule: id, Detail: fmt.Sprintf("every %s", v.Cadence.Duration())})
				continue
			}
			if desc, err = h.Describe(ctx); err != nil {
				return changes, fmt.Errorf("describe schedule %s: %w", id, err)
			}
		case err != nil:
			return changes, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		switch owner := markOf(desc.Memo); {
		case owner == project:
		case owner != "":
			return changes, fmt.Errorf("schedule %s belongs to project %q, not %q: left alone", id, owner, project)
		case !actionIs(desc, action):
			return changes, fmt.Errorf("schedule %s exists but was not created by `starter apply` for project %q and does not materialize view %s on task queue %s: left alone; delete or rename it",
				id, project, v.Name, workflows.Project(project).TaskQueue())
		default:
			if err := h.Delete(ctx); err != nil {
				return changes, fmt.Errorf("adopt schedule %s: delete the unmarked one: %w", id, err)
			}
			if desc.Schedule.State != nil {
				opts.Paused = desc.Schedule.State.Paused
			}
			if _, err := createSchedule(ctx, sc, opts); err != nil {
				return changes, fmt.Errorf("adopt schedule %s: %w (run apply again to create it)", id, err)
			}
			changes = append(changes, Change{Action: "adopted", Schedule: id, Detail: "recreated with the project mark"})
			continue
		}
		if same(desc, spec, action) {
			changes = append(changes, Change{Action: "unchanged", Schedule: id})
			continue
		}
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			s.Policy.Overlap = opts.Overlap
			s.Policy.CatchupWindow = opts.CatchupWindow
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
		if err != nil {
			return changes, fmt.Errorf("update schedule %s: %w", id, err)
		}
		changes = append(changes, Change{Action: "updated", Schedule: id})
	}
	stale := make([]string, 0, len(ours))
	for id := range ours {
		stale = append(stale, id)
	}
	slices.Sort(stale)
	for _, id := range stale {
		h := sc.GetHandle(ctx, id)
		desc, err := h.Describe(ctx)
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			continue // already gone; the list lagged
		}
		if err != nil {
			return changes, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		if markOf(desc.Memo) != project {
			continue // the list lagged behind a change of hands
		}
		if err := h.Delete(ctx); err != nil {
			if errors.As(err, &notFound) {
				continue
			}
			return changes, fmt.Errorf("delete schedule %s: %w", id, err)
		}
		changes = append(changes, Change{Action: "deleted", Schedule: id, Detail: "no such view"})
	}
	return changes, nil
}

// createSchedule creates a schedule; false when its id already exists.
func createSchedule(ctx context.Context, sc client.ScheduleClient, opts client.ScheduleOptions) (bool, error) {
	_, err := sc.Create(ctx, opts)
	var exists *serviceerror.AlreadyExists
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exists) || errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		return false, nil
	}
	return false, fmt.Errorf("create schedule %s: %w", opts.ID, err)
}

// markOf is the project a schedule's memo marks it with, "" for none.
func markOf(memo *commonpb.Memo) string {
	p, ok := memo.GetFields()[MemoProject]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// actionIs reports whether a schedule's action materializes the view of
// the desired action in its project, on its task queue: the only unmarked
// schedules Apply adopts.
func actionIs(desc *client.ScheduleDescription, action *client.ScheduleWorkflowAction) bool {
	in, ok := scheduledInput(desc, action.TaskQueue)
	want := action.Args[0].(workflows.MaterializeInput)
	return ok && in.View == want.View && in.Project == want.Project
}

// scheduledInput decodes a schedule's MaterializeWorkflow input when its
// action starts MaterializeWorkflow on queue.
func scheduledInput(desc *client.ScheduleDescription, queue string) (workflows.MaterializeInput, bool) {
	var in workflows.MaterializeInput
	got, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || got.TaskQueue != queue || len(got.Args) != 1 {
		return in, false
	}
	if wt, _ := got.Workflow.(string); wt != "MaterializeWorkflow" {
		return in, false
	}
	p, ok := got.Args[0].(*commonpb.Payload)
	if !ok || converter.GetDefaultDataConverter().FromPayload(p, &in) != nil {
		return in, false
	}
	return in, true
}

// same reports whether a schedule already has the desired spec and action.
func same(desc *client.ScheduleDescription, spec client.ScheduleSpec, action *client.ScheduleWorkflowAction) bool {
	s := desc.Schedule
	if s.Spec == nil || len(s.Spec.Intervals) != 1 || s.Spec.Intervals[0].Every != spec.Intervals[0].Every || s.Spec.Intervals[0].Offset != 0 {
		return false
	}
	got, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || got.ID != action.ID {
		return false
	}
	in, ok := scheduledInput(desc, action.TaskQueue)
	want := action.Args[0].(workflows.MaterializeInput)
	return ok && in == want && desc.Schedule.Policy != nil && desc.Schedule.Policy.Overlap == enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
}

// SearchAttributes are Skewfree's search attributes and their types, which
// a namespace needs: EnsureSearchAttributes registers them, dev's embedded
// server starts with them.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		workflows.ViewAttr.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		workflows.WindowEndAttr.GetName(): enumspb.INDEXED_VALUE_TYPE_DATETIME,
	}
}

// EnsureSearchAttributes registers Skewfree's search attributes on the
// namespace; already registered ones are fine.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorpb.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: SearchAttributes(),
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes on %s: %w", namespace, err)
	}
	return nil
}

// newTemporalLogger routes the SDK's logs to slog, one level quieter: the
// SDK is chatty at info.
func newTemporalLogger(l *slog.Logger) tlog.Logger {
	if l == nil {
		l = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return tlog.NewStructuredLogger(l)
}
