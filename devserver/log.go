package devserver

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger passes the server's errors to slog; its debug, info and
// warning lines are the server's own business and would drown the dev
// output. Once the server is stopping, nothing passes: every service
// complains about the others going away.
type serverLogger struct {
	l       *slog.Logger
	stopped *atomic.Bool
}

func slogAdapter(l *slog.Logger, stopped *atomic.Bool) log.Logger { return serverLogger{l, stopped} }

func attrs(tags []tag.Tag) []any {
	out := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		out = append(out, t.Key(), fmt.Sprint(t.Value()))
	}
	return out
}

func (s serverLogger) Debug(string, ...tag.Tag) {}
func (s serverLogger) Info(string, ...tag.Tag)  {}
func (s serverLogger) Warn(string, ...tag.Tag)  {}
func (s serverLogger) Error(msg string, tags ...tag.Tag) {
	if !s.stopped.Load() {
		s.l.Error("temporal: "+msg, attrs(tags)...)
	}
}
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.Error(msg, tags...) }
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.Error(msg, tags...)
	panic(msg)
}
func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.Error(msg, tags...)
	panic(msg)
}

// quietLogger silences the SDK client used for readiness probes.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
