package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	operatorpb "go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

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

// scheduleFor is the desired schedule of a view: every cadence on the UTC
// boundary, each run materializing the window ending at its nominal time.
// Overlaps are allowed because runs of different windows are independent
// and a backfill from the UI must run every window it names.
func scheduleFor(v *features.View) (client.ScheduleSpec, *client.ScheduleWorkflowAction, client.ScheduleOptions) {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: v.Cadence.Duration()}}}
	action := &client.ScheduleWorkflowAction{
		ID:                    workflows.ScheduleID(v.Name),
		Workflow:              "MaterializeWorkflow",
		Args:                  []any{workflows.InputFor(v, time.Time{})},
		TaskQueue:             workflows.TaskQueue,
		Memo:                  map[string]any{"view": v.Name},
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.ViewAttr.ValueSet(v.Name)),
	}
	opts := client.ScheduleOptions{
		ID:            workflows.ScheduleID(v.Name),
		Spec:          spec,
		Action:        action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: catchupWindow,
		Memo:          map[string]any{"view": v.Name, "owner": v.Owner},
		Note:          "managed by `starter apply`: " + v.Description,
	}
	return spec, action, opts
}

// Apply makes the namespace's materialize-* schedules match the registry:
// creates the missing ones, updates those whose definition changed, deletes
// those of views that no longer exist.
func Apply(ctx context.Context, c client.Client, reg *features.Registry) ([]Change, error) {
	sc := c.ScheduleClient()
	existing := map[string]bool{}
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, "materialize-") {
			existing[e.ID] = true
		}
	}
	var changes []Change
	for _, v := range reg.Views() {
		spec, action, opts := scheduleFor(v)
		id := opts.ID
		h := sc.GetHandle(ctx, id)
		desc, err := h.Describe(ctx)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			// The list comes from visibility, which can lag: Describe decides.
			existing[id] = false
		case err != nil:
			return changes, fmt.Errorf("describe schedule %s: %w", id, err)
		default:
			existing[id] = true
		}
		if !existing[id] {
			if _, err := sc.Create(ctx, opts); err != nil {
				var exists *serviceerror.AlreadyExists
				if !errors.As(err, &exists) && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
					return changes, fmt.Errorf("create schedule %s: %w", id, err)
				}
			} else {
				changes = append(changes, Change{Action: "created", Schedule: id, Detail: fmt.Sprintf("every %s", v.Cadence.Duration())})
				continue
			}
		}
		delete(existing, id)
		if desc == nil {
			if desc, err = h.Describe(ctx); err != nil {
				return changes, fmt.Errorf("describe schedule %s: %w", id, err)
			}
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
	stale := make([]string, 0, len(existing))
	for id, ok := range existing {
		if ok {
			stale = append(stale, id)
		}
	}
	slices.Sort(stale)
	for _, id := range stale {
		if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil {
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				continue // already gone; the list lagged
			}
			return changes, fmt.Errorf("delete schedule %s: %w", id, err)
		}
		changes = append(changes, Change{Action: "deleted", Schedule: id, Detail: "no such view"})
	}
	return changes, nil
}

// same reports whether a schedule already has the desired spec and action.
func same(desc *client.ScheduleDescription, spec client.ScheduleSpec, action *client.ScheduleWorkflowAction) bool {
	s := desc.Schedule
	if s.Spec == nil || len(s.Spec.Intervals) != 1 || s.Spec.Intervals[0].Every != spec.Intervals[0].Every || s.Spec.Intervals[0].Offset != 0 {
		return false
	}
	got, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || got.ID != action.ID || got.TaskQueue != action.TaskQueue || len(got.Args) != 1 {
		return false
	}
	wt, _ := got.Workflow.(string)
	if wt != "MaterializeWorkflow" {
		return false
	}
	p, ok := got.Args[0].(*commonpb.Payload)
	if !ok {
		return false
	}
	var in workflows.MaterializeInput
	if err := converter.GetDefaultDataConverter().FromPayload(p, &in); err != nil {
		return false
	}
	want := action.Args[0].(workflows.MaterializeInput)
	return in == want && desc.Schedule.Policy != nil && desc.Schedule.Policy.Overlap == enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
}

// EnsureSearchAttributes registers Skewfree's search attributes on the
// namespace; already registered ones are fine.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorpb.AddSearchAttributesRequest{
		Namespace: namespace,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			workflows.ViewAttr.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			workflows.WindowEndAttr.GetName(): enumspb.INDEXED_VALUE_TYPE_DATETIME,
		},
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
