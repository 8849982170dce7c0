package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/skewfree/skewfree/app"
)

// TestExitCode: a main stopped by its signal context exits 0 whatever its
// work returned on the way out (make dev interrupted mid-backfill returns
// "context canceled"); a failure without a signal exits 1.
func TestExitCode(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"done", live, nil, 0},
		{"failed", live, errors.New("redis: connection refused"), 1},
		{"cancelled from inside, no signal", live, fmt.Errorf("push: %w", context.Canceled), 1},
		{"interrupted after the banner", stopped, nil, 0},
		{"interrupted mid-backfill", stopped, fmt.Errorf("backfill-x: %w", context.Canceled), 0},
		{"interrupted, error without the cause", stopped, errors.New("rpc error: code = Canceled"), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := app.ExitCode(c.ctx, c.err); got != c.want {
				t.Fatalf("ExitCode = %d, want %d", got, c.want)
			}
		})
	}
}
