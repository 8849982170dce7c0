package app

import (
	"context"
)

// Stopped reports whether a main's work ended because its ctx ended: the
// mains stop on SIGINT and SIGTERM through signal.NotifyContext, so this is
// "a person pressed Ctrl-C" or "the supervisor asked us to stop".
// A context.Canceled from inside the work (ctx still live) is a failure.
// Call it before the signal context's stop function, which cancels ctx.
func Stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil
}

// ExitCode is the exit status of a long-running main (dev, the worker)
// whose work, run under ctx, returned err: 0 when it succeeded or was
// stopped by an interrupt or a termination request (how a person stops
// `make dev`; not a failure, so make does not print "Error 1"), else 1.
func ExitCode(ctx context.Context, err error) int {
	if err == nil || Stopped(ctx, err) {
		return 0
	}
	return 1
}
