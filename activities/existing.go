package activities

import (
	"context"
	"fmt"
	"time"
)

// WindowsInput names windows of a view.
type WindowsInput struct {
	View string
	Ends []time.Time
}

// ExistingWindows answers, for each window end in order, whether the
// offline store already holds a version of that window. Backfills skip those
// (unless asked to re-run), so repeating a backfill adds no versions.
func (a *Activities) ExistingWindows(ctx context.Context, in WindowsInput) ([]bool, error) {
	if _, ok := a.Registry.View(in.View); !ok {
		return nil, badInput(fmt.Errorf("unknown view %q", in.View))
	}
	out := make([]bool, len(in.Ends))
	for i, end := range in.Ends {
		has, err := a.Offline.HasWindow(ctx, in.View, end)
		if err != nil {
			return nil, fmt.Errorf("check window %s %s: %w", in.View, end.UTC().Format(time.RFC3339), err)
		}
		out[i] = has
	}
	return out, nil
}
