package features

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// ErrInput marks errors caused by the data or the definitions handed to the
// transform (a missing or mistyped column, an unaligned window): retrying
// cannot fix them.
var ErrInput = errors.New("bad input")

// Window is the input range a run for window end End must read from its
// source: [Start, End). It reaches back one cadence past the view's lookback
// so entities whose events just left every aggregation window still get a row
// (count 0, mean null) and no stale value survives anywhere.
func Window(v *View, end time.Time) (start time.Time) {
	return end.Add(-v.Lookback() - v.Cadence.Duration())
}

// CheckWindowEnd reports a window end that is not on the view's cadence.
func CheckWindowEnd(v *View, end time.Time) error {
	if !end.Equal(end.Truncate(v.Cadence.Duration())) {
		return fmt.Errorf("%w: view %s: window end %s is not aligned to the %s cadence", ErrInput, v.Name, end.UTC().Format(time.RFC3339Nano), v.Cadence)
	}
	return nil
}

// WindowEnds lists the window ends of a view in (from, to], aligned to its
// cadence in UTC. A backfill of [from, to] runs exactly these windows.
func WindowEnds(v *View, from, to time.Time) []time.Time {
	return WindowEndsEvery(v.Cadence.Duration(), from, to)
}

// WindowEndsEvery lists the multiples of step (since the Unix epoch, UTC) in
// (from, to]. It is pure and deterministic, so workflows may call it.
func WindowEndsEvery(step time.Duration, from, to time.Time) []time.Time {
	first := from.UTC().Truncate(step)
	if !first.After(from) {
		first = first.Add(step)
	}
	var out []time.Time
	for t := first; !t.After(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// Compute is the one transform: it computes view v as of window end end from
// the source events in ev (which may hold more rows than the window; rows
// outside [Window(v, end), end) are ignored). Every entity with an event in
// that input range gets exactly one row with event_timestamp = end and
// created_timestamp = created. Rows come out ordered by key so reruns write
// byte-identical files. A panic in the transform (a FuncTransform's Fn
// included) is returned as a *PanicError.
func Compute(reg *Registry, v *View, ev *Frame, end, created time.Time) (*Frame, error) {
	return ComputeWith(reg, v, ev, end, created, ComputeOptions{})
}

// ComputeOptions are the optional inputs of ComputeWith; the zero value is
// Compute.
type ComputeOptions struct {
	// ExtraKeys (a column of the view's key type) lists entities that get a
	// row even without an event in the input range: the drained row, what
	// the transform gives an entity with no events (counts 0, means null;
	// a FuncTransform sees empty Rows). Keys that have events, nulls and
	// repeats add nothing. Materialization passes the keys whose newest
	// stored row is not drained, so a skipped run leaves no stale value.
	ExtraKeys *Column
}

// ComputeWith is Compute with options.
func ComputeWith(reg *Registry, v *View, ev *Frame, end, created time.Time, opt ComputeOptions) (*Frame, error) {
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("compute %s: %w", v.Name, err)
	}
	if err := CheckWindowEnd(v, end); err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	ent := reg.EntityOf(v)
	if ent == nil {
		return nil, fmt.Errorf("%w: compute %s: view is not registered", ErrInput, v.Name)
	}
	if ev.Key == nil {
		k := ev.Column(ent.JoinKey)
		if k == nil {
			return nil, fmt.Errorf("%w: compute %s: source has no join key column %q", ErrInput, v.Name, ent.JoinKey)
		}
		keyed := *ev
		keyed.Key = k
		ev = &keyed
	}
	if ev.Key.Type != ent.KeyType {
		return nil, fmt.Errorf("%w: compute %s: key column %s is %s, want %s", ErrInput, v.Name, ev.Key.Name, ev.Key.Type, ent.KeyType)
	}
	endUS, startUS := Micros(end), Micros(Window(v, end))

	// Columns each aggregation reads, checked once.
	type bound struct{ col, where *Column }
	binds := make([]bound, len(v.Aggregations))
	for i, a := range v.Aggregations {
		if a.Kind != Count {
			c := ev.Column(a.Column)
			if c == nil {
				return nil, fmt.Errorf("%w: compute %s: source column %q missing", ErrInput, v.Name, a.Column)
			}
			if want := sourceType(reg, v, a.Column); c.Type != want {
				return nil, fmt.Errorf("%w: compute %s: source column %q is %s, want %s", ErrInput, v.Name, a.Column, c.Type, want)
			}
			binds[i].col = c
		}
		if a.Where != nil {
			binds[i].where = ev.Column(a.Where.Column)
			if binds[i].where == nil {
				return nil, fmt.Errorf("%w: compute %s: filter column %q missing", ErrInput, v.Name, a.Where.Column)
			}
		}
	}

	if x := opt.ExtraKeys; x != nil && x.Type != ent.KeyType {
		return nil, fmt.Errorf("%w: compute %s: extra keys are %s, want %s", ErrInput, v.Name, x.Type, ent.KeyType)
	}

	// Group the window's rows by entity, each group in time order.
	rows, bounds := groupByKey(ev, startUS, endUS)
	// slots lists the output rows in key order: group g as g, extra key e
	// (no events) as -1-e.
	slots := mergeExtraKeys(ev.Key, rows, bounds, opt.ExtraKeys)

	feats := v.Features()
	createdUS := Micros(created)
	// computeGroups computes groups [glo, ghi) into a frame of their own,
	// so that workers can share the groups and their frames be joined in
	// group order (the output stays ordered by key).
	computeGroups := func(glo, ghi int) (*Frame, error) {
		out := &Frame{Key: NewColumn(ent.JoinKey, ent.KeyType, ghi-glo)}
		for _, f := range feats {
			out.Columns = append(out.Columns, NewColumn(f.Name, f.Type, ghi-glo))
		}
		vals := make([]Value, len(feats))
		var aggregated map[string]Value
		for _, g := range slots[glo:ghi] {
			var group []int
			keyCol, keyRow := opt.ExtraKeys, -1-g
			if g >= 0 {
				group = rows[bounds[g]:bounds[g+1]]
				keyCol, keyRow = ev.Key, group[0]
			}
			for i := range v.Aggregations {
				a := &v.Aggregations[i]
				vals[i] = a.aggregate(ev, group, endUS-a.Window.Microseconds(), endUS, binds[i].col, binds[i].where, v.Fresh != nil)
			}
			if fn := v.Func; fn != nil {
				if aggregated == nil {
					aggregated = make(map[string]Value, len(v.Aggregations))
				}
				for i, a := range v.Aggregations {
					aggregated[a.Name] = vals[i]
				}
				from := endUS - fn.Lookback.Microseconds()
				first, _ := slices.BinarySearchFunc(group, from, func(r int, t int64) int { return cmp.Compare(ev.Time[r], t) })
				fo := vals[len(v.Aggregations):]
				clear(fo)
				in := FuncInput{Key: keyCol.KeyAt(keyRow), End: end.UTC(), Events: ev, Rows: group[first:], Aggregated: aggregated}
				if err := fn.Fn(in, fo); err != nil {
					return nil, fmt.Errorf("compute %s: func %s for key %v: %w", v.Name, fn.Version, in.Key, err)
				}
			}
			out.Key.AppendRow(keyCol, keyRow)
			out.Time = append(out.Time, endUS)
			out.Created = append(out.Created, createdUS)
			for i, c := range out.Columns {
				if err := c.Append(vals[i]); err != nil {
					return nil, fmt.Errorf("compute %s: %w", v.Name, err)
				}
			}
		}
		return out, nil
	}
	groups := len(slots)
	workers := max(1, min(runtime.GOMAXPROCS(0), groups/minGroupsPerWorker))
	frames := make([]*Frame, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic here (a user Fn, or a bug of ours) would kill the
			// whole worker process: no caller up the stack can recover it.
			defer RecoverPanic(&errs[w], "compute "+v.Name)
			frames[w], errs[w] = computeGroups(w*groups/workers, (w+1)*groups/workers)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := frames[0]
	for _, f := range frames[1:] {
		out.Append(f)
	}
	return out, nil
}

// mergeExtraKeys lists the output rows of a window in ascending key order:
// group g (keys in ascending order, see groupByKey) as g, and each distinct
// valid key of extra that no group has as -1-e (e its row in extra). Without
// extra keys it is 0..groups-1.
func mergeExtraKeys(key *Column, rows, bounds []int, extra *Column) []int {
	groups := len(bounds) - 1
	var xs []int
	if extra != nil {
		for e := range extra.Valid {
			if extra.Valid[e] {
				xs = append(xs, e)
			}
		}
	}
	cmpExtra := func(a, b int) int { return compareKeys(extra, a, b) }
	slices.SortFunc(xs, cmpExtra)
	// cmpGroup compares group g's key with extra row e.
	cmpGroup := func(g, e int) int { return CompareKeys(key, rows[bounds[g]], extra, e) }
	slots := make([]int, 0, groups+len(xs))
	g, i := 0, 0
	for g < groups || i < len(xs) {
		switch {
		case i > 0 && i < len(xs) && cmpExtra(xs[i-1], xs[i]) == 0:
			i++ // a repeated extra key
		case i == len(xs) || (g < groups && cmpGroup(g, xs[i]) < 0):
			slots = append(slots, g)
			g++
		case g < groups && cmpGroup(g, xs[i]) == 0:
			i++ // the entity has events: its own row
		default:
			slots = append(slots, -1-xs[i])
			i++
		}
	}
	return slots
}

// minGroupsPerWorker keeps small windows on one goroutine.
const minGroupsPerWorker = 4096

// groupByKey returns the rows of ev with a key and a time in [from, to),
// grouped by key in ascending key order (so reruns write identical files),
// each group in time order with ties in input order; group g is
// rows[bounds[g]:bounds[g+1]]. It is a counting sort over dense key ids:
// linear in the rows, where a comparison sort of millions of events is not.
func groupByKey(ev *Frame, from, to int64) (rows []int, bounds []int) {
	_, _, rowID, nid := numberColumn(ev.Key, func(i int) bool { return ev.Time[i] >= from && ev.Time[i] < to })
	bounds = make([]int, nid+1)
	for _, id := range rowID {
		if id >= 0 {
			bounds[id+1]++
		}
	}
	for g := 1; g < len(bounds); g++ {
		bounds[g] += bounds[g-1]
	}
	rows = make([]int, bounds[nid])
	next := slices.Clone(bounds[:nid])
	for i, id := range rowID {
		if id >= 0 {
			rows[next[id]] = i
			next[id]++
		}
	}
	for g := 0; g+1 < len(bounds); g++ {
		grp := rows[bounds[g]:bounds[g+1]]
		if !slices.IsSortedFunc(grp, func(a, b int) int { return cmp.Compare(ev.Time[a], ev.Time[b]) }) {
			slices.SortStableFunc(grp, func(a, b int) int { return cmp.Compare(ev.Time[a], ev.Time[b]) })
		}
	}
	return rows, bounds
}

func sourceType(reg *Registry, v *View, col string) Type {
	f, _ := reg.SourceOf(v).Field(col)
	return f.Type
}
