package app

import (
	"context"
)

// ExitCode is the exit status of a long-running main (dev, the worker)
// whose work, run under ctx, returned err: 0 when it succeeded or was
// stopped because ctx ended (the mains stop on SIGINT and SIGTERM through
// signal.NotifyContext: how a person stops `make dev`, not a failure, so
// make does not print "Error 1"), else 1. A context.Canceled from inside
// the work (ctx still live) is a failure. Call it before the signal
// context's stop function, which cancels ctx.
func ExitCode(ctx context.Context, err error) int {
	if err == nil || ctx.Err() != nil {
		return 0
	}
	return 1
}
