package skew

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// ServedOptions select what CheckServed compares.
type ServedOptions struct {
	// From and To bound the request times checked: [From, To). Required.
	From, To time.Time
	// Examples bounds the example lines kept per feature. Default 3.
	Examples int
	// TempDir holds the entity tables and training sets built. Default
	// os.TempDir(); what the check writes there is removed.
	TempDir string
	// Sources holds the raw source events (*parquet.Sources): the training
	// values of fresh views come from their logged events
	// (docs/format/fresh.md). Required when the log holds a fresh view's
	// features.
	Sources trainingset.LoggedEvents
}

// FeatureReport counts, for one feature, how the logged served values
// compare with the training set built --as-known-at at their request
// times. Rows = Match + Mismatch + Missing + Extra.
type FeatureReport struct {
	Ref  features.FeatureRef
	Rows int
	// Match: equal values, or null (or not PRESENT) on both sides.
	Match int
	// Mismatch: PRESENT on both sides with different values.
	Mismatch int
	// Missing: served PRESENT with a value, but null offline.
	Missing int
	// Extra: a value offline, but served NOT_FOUND (or OUTSIDE_MAX_AGE).
	Extra    int
	Examples []string
}

// Disagreements is Mismatch + Missing + Extra.
func (f *FeatureReport) Disagreements() int { return f.Mismatch + f.Missing + f.Extra }

// Rate is n over the feature's rows (0 for none).
func (f *FeatureReport) Rate(n int) float64 {
	if f.Rows == 0 {
		return 0
	}
	return float64(n) / float64(f.Rows)
}

// ServedReport is the result of CheckServed.
type ServedReport struct {
	From, To time.Time
	Files    int // served log files read
	Rows     int // logged (request, entity) rows in [From, To)
	Features []*FeatureReport
	// Unknown lists logged features the registry no longer has: not checked.
	Unknown []string
}

// Disagreements sums every feature's.
func (r *ServedReport) Disagreements() int {
	n := 0
	for _, f := range r.Features {
		n += f.Disagreements()
	}
	return n
}

// group is the logged rows of one feature list.
type group struct {
	refs     []features.FeatureRef
	keyNames []string
	keys     []*features.Column
	times    []int64
	values   []*features.Column
	status   [][]serving.Status
	evTimes  []*features.Column
}

// CheckServed reads the served log under the offline root
// (<root>/_served, written by serving/servedlog) for request times in
// [From, To), builds a training set --as-known-at for the logged (key,
// request time) rows, and compares, per feature, what was served with what
// the training set holds. On a skew-free stack every feature has 0
// disagreements: the reader serves at T exactly what the offline history
// published by T holds.
func CheckServed(ctx context.Context, reg *features.Registry, off *parquet.Store, opts ServedOptions) (*ServedReport, error) {
	if opts.From.IsZero() || opts.To.IsZero() || !opts.From.Before(opts.To) {
		return nil, fmt.Errorf("served skew check: want a time range with from (%s) before to (%s)", opts.From, opts.To)
	}
	if opts.Examples == 0 {
		opts.Examples = 3
	}
	rep := &ServedReport{From: opts.From, To: opts.To}
	// Through the store's FS: the log is wherever the offline store is,
	// a local folder or Cloud Storage.
	files, err := servedlog.FilesFS(ctx, off.FS(), opts.From, opts.To)
	if err != nil {
		return nil, err
	}
	from, to := features.Micros(opts.From), features.Micros(opts.To)
	groups := map[string]*group{}
	var order []string
	for _, path := range files {
		lg, err := servedlog.ReadFileFS(ctx, off.FS(), path)
		if err != nil {
			return nil, err
		}
		rep.Files++
		var rows []int
		for i, t := range lg.Times {
			if from <= t && t < to {
				rows = append(rows, i)
			}
		}
		if len(rows) == 0 {
			continue
		}
		// One group per feature list and column types: a reader that
		// follows the published catalog may serve a list under two
		// definitions, and checkGroup checks those of the registry's.
		id := refList(lg.Features) + "|" + keyList(lg.JoinKeys) + "|" + keyList(lg.Values)
		g := groups[id]
		if g == nil {
			g = &group{refs: lg.Features, status: make([][]serving.Status, len(lg.Features))}
			for _, c := range lg.JoinKeys {
				g.keyNames = append(g.keyNames, c.Name)
				g.keys = append(g.keys, features.NewColumn(c.Name, c.Type, 0))
			}
			for _, c := range lg.Values {
				g.values = append(g.values, features.NewColumn(c.Name, c.Type, 0))
			}
			for _, c := range lg.EventTimes {
				g.evTimes = append(g.evTimes, features.NewColumn(c.Name, c.Type, 0))
			}
			groups[id] = g
			order = append(order, id)
		}
		for _, i := range rows {
			g.times = append(g.times, lg.Times[i])
			for j, c := range lg.JoinKeys {
				g.keys[j].AppendRow(c, i)
			}
			for j := range lg.Features {
				g.values[j].AppendRow(lg.Values[j], i)
				g.evTimes[j].AppendRow(lg.EventTimes[j], i)
				g.status[j] = append(g.status[j], lg.Status[j][i])
			}
		}
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "skewfree-served-check-")
	if err != nil {
		return nil, fmt.Errorf("served skew check: %w", err)
	}
	defer os.RemoveAll(tmp)
	byRef := map[features.FeatureRef]*FeatureReport{}
	for gi, id := range order {
		g := groups[id]
		rep.Rows += len(g.times)
		if err := checkGroup(ctx, reg, off, g, filepath.Join(tmp, fmt.Sprint(gi)), opts, rep, byRef); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(rep.Features, func(a, b *FeatureReport) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
	slices.Sort(rep.Unknown)
	rep.Unknown = slices.Compact(rep.Unknown)
	return rep, nil
}

func refList(refs []features.FeatureRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

func keyList(cols []*features.Column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.Name + ":" + c.Type.String()
	}
	return strings.Join(s, ",")
}

// checkGroup builds the training set of one feature list's rows and
// compares.
func checkGroup(ctx context.Context, reg *features.Registry, off *parquet.Store, g *group, stem string, opts ServedOptions, rep *ServedReport, byRef map[features.FeatureRef]*FeatureReport) error {
	var known []features.FeatureRef
	var idx []int // position in g.refs of each known ref
	for j, r := range g.refs {
		v, ok := reg.View(r.View)
		if !ok {
			rep.Unknown = append(rep.Unknown, r.String())
			continue
		}
		f, ok := v.Feature(r.Feature)
		if !ok || f.Type != g.values[j].Type {
			rep.Unknown = append(rep.Unknown, r.String())
			continue
		}
		if e := reg.EntityOf(v); !slices.Contains(g.keyNames, e.JoinKey) {
			rep.Unknown = append(rep.Unknown, r.String())
			continue
		}
		known = append(known, r)
		idx = append(idx, j)
	}
	if len(known) == 0 {
		return nil
	}
	at := features.NewColumn(trainingset.EntityColumn, features.Int64, len(g.times))
	for _, t := range g.times {
		_ = at.Append(features.IntValue(t))
	}
	entities, out := stem+"-entities.parquet", stem+"-train.parquet"
	if err := parquet.WriteFileAtomic(entities, func(w *os.File) error {
		return parquet.WriteTable(w, append(slices.Clone(g.keys), at), trainingset.EntityColumn)
	}); err != nil {
		return fmt.Errorf("served skew check: entity table: %w", err)
	}
	if _, err := trainingset.Build(ctx, reg, off, trainingset.Options{Entities: entities, Features: known, Out: out, AsKnownAt: true, Sources: opts.Sources}); err != nil {
		return fmt.Errorf("served skew check: training set: %w", err)
	}
	f, err := parquet.OpenFile(out)
	if err != nil {
		return fmt.Errorf("served skew check: %w", err)
	}
	defer f.Close()
	for k, r := range known {
		j := idx[k]
		var train *features.Column
		for _, rg := range f.RowGroups() {
			if train, err = f.ReadColumn(rg, r.Column(), g.values[j].Type, train); err != nil {
				return fmt.Errorf("served skew check: %w", err)
			}
		}
		fr := byRef[r]
		if fr == nil {
			fr = &FeatureReport{Ref: r}
			byRef[r] = fr
			rep.Features = append(rep.Features, fr)
		}
		for i := range g.times {
			compare(fr, g, j, i, train.Value(i), opts.Examples)
		}
	}
	return nil
}

// compare counts one (row, feature) and keeps an example of a disagreement.
func compare(fr *FeatureReport, g *group, j, i int, offline features.Value, examples int) {
	fr.Rows++
	status, served := g.status[j][i], g.values[j].Value(i)
	var kind string
	switch {
	case status == serving.Present && !served.IsNull() && offline.IsNull():
		fr.Missing++
		kind = "MISSING"
	case status != serving.Present && !offline.IsNull():
		fr.Extra++
		kind = "EXTRA"
	case status == serving.Present && !served.Equal(offline):
		fr.Mismatch++
		kind = "MISMATCH"
	default:
		fr.Match++
		return
	}
	if len(fr.Examples) >= examples {
		return
	}
	var keys []string
	for _, k := range g.keys {
		keys = append(keys, k.Name+"="+k.Value(i).String())
	}
	event := "none"
	if ev := g.evTimes[j].Value(i); !ev.IsNull() {
		event = features.FromMicros(ev.Int64()).Format(time.RFC3339Nano)
	}
	fr.Examples = append(fr.Examples, fmt.Sprintf("%s %s %s at %s: served %s (%s, event_timestamp %s), training set --as-known-at %s",
		kind, strings.Join(keys, " "), fr.Ref, features.FromMicros(g.times[i]).Format(time.RFC3339Nano), served, status, event, offline))
}
