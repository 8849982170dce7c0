package trainingset

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// LoggedEvents reads a source's raw events with their ingest times (see
// parquet.Sources.ReadLogged): what fresh views' training values are
// computed from. *parquet.Sources is one.
type LoggedEvents interface {
	ReadLogged(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error)
}

var _ LoggedEvents = (*parquet.Sources)(nil)

// freshView fills dst (the requested features of fresh view v, in feats
// order) for every entity row from the view's logged events, by the rule
// of fresh views (features.FreshAsOf): under AsKnownAt an event counts from
// its ingest time, exactly as online; otherwise from its event time plus
// the view's IngestDelay. It reads the events that any entity row's
// windows can reach, once.
func freshView(ctx context.Context, reg *features.Registry, v *features.View, ent *features.Entity, key *features.Column, times []int64,
	feats []features.Feature, dst []*features.Column, opt Options) (int64, error) {
	if opt.Sources == nil {
		return 0, fmt.Errorf("view %s is fresh: its training values come from the logged source events, so the build needs the source root (Options.Sources, --source)", v.Name)
	}
	if len(times) == 0 {
		return 0, nil
	}
	src := reg.SourceOf(v)
	if src == nil {
		return 0, fmt.Errorf("view %s: source %q unknown (a registry from a published catalog cannot compute fresh views)", v.Name, v.Source)
	}
	lo, hi := slices.Min(times), slices.Max(times)
	from := features.FromMicros(features.TileStart(v, lo)).Add(-v.Lookback())
	to := features.FromMicros(hi + 1) // a counted event has event_time <= T
	ev, err := opt.Sources.ReadLogged(ctx, src, from, to)
	if err != nil {
		return 0, fmt.Errorf("view %s: %w", v.Name, err)
	}
	cols, err := features.FreshAsOf(v, ent.JoinKey, ev, key, times, features.FreshJoinOptions{AsKnownAt: opt.AsKnownAt})
	if err != nil {
		return 0, err
	}
	all := v.Features()
	for i, f := range feats {
		j := slices.IndexFunc(all, func(g features.Feature) bool { return g.Name == f.Name })
		if j < 0 {
			return 0, fmt.Errorf("view %s: no feature %s", v.Name, f.Name)
		}
		for r := range times {
			dst[i].CopyRow(r, cols[j], r)
		}
	}
	return int64(ev.Len()), nil
}
