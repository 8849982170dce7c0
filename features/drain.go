package features

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// A view's "drained" row for an entity is what the transform gives the
// entity with no events: counts 0, means null, whatever a FuncTransform
// returns for empty Rows. Each entity gets one in the window after its events
// leave every aggregation window; if that run is skipped or fails, the last
// non-drained row would be served until the TTL (forever with TTL 0). So a
// run also gives a row to every entity whose newest stored row is not drained
// (ComputeOptions.ExtraKeys): Newest collects those rows from the view's
// history, NotDrained picks the keys.

// Newest keeps, per entity key, the newest of the history rows added: the
// greatest event_timestamp, ties broken by the greatest created_timestamp.
// Not safe for concurrent use.
type Newest struct {
	keyType Type
	out     *Frame
	misfit  []bool // per row of out: its stored features did not fit the view
	ints    map[int64]int
	strs    map[string]int
}

// NewNewest returns an empty Newest for rows of view v (its entity's key and
// every feature, in v.Features() order).
func NewNewest(reg *Registry, v *View) *Newest {
	ent := reg.EntityOf(v)
	out := &Frame{Key: NewColumn(ent.JoinKey, ent.KeyType, 0), Created: []int64{}}
	for _, f := range v.Features() {
		out.Columns = append(out.Columns, NewColumn(f.Name, f.Type, 0))
	}
	return &Newest{keyType: ent.KeyType, out: out, ints: map[int64]int{}, strs: map[string]int{}}
}

// Add takes the rows of fr, a frame of history rows with the view's key,
// created_timestamp (may be nil: then every row is as old as can be) and
// feature columns in v.Features() order. Rows with a null key are skipped.
func (n *Newest) Add(fr *Frame) error { return n.add(fr, false) }

// AddMisfit takes history rows whose stored features do not fit the view's
// current definition (a feature's type changed since they were written):
// fr as for Add, its feature columns ignored. A key whose newest row is one
// of these counts as not drained (see NotDrained), so it gets one drained
// row under the current definition.
func (n *Newest) AddMisfit(fr *Frame) error { return n.add(fr, true) }

func (n *Newest) add(fr *Frame, misfit bool) error {
	if fr.Key == nil || fr.Key.Type != n.keyType || len(fr.Columns) != len(n.out.Columns) {
		return fmt.Errorf("%w: history frame does not have the view's key and features", ErrInput)
	}
	for k, c := range fr.Columns {
		if c.Type != n.out.Columns[k].Type {
			return fmt.Errorf("%w: history column %s is %s, want %s", ErrInput, c.Name, c.Type, n.out.Columns[k].Type)
		}
	}
	for i := range fr.Time {
		if !fr.Key.Valid[i] {
			continue
		}
		created := int64(minCreated)
		if fr.Created != nil {
			created = fr.Created[i]
		}
		var at int
		var seen bool
		if n.keyType == String {
			at, seen = n.strs[fr.Key.Strings[i]]
		} else {
			at, seen = n.ints[fr.Key.Ints[i]]
		}
		if !seen {
			at = n.out.Len()
			if n.keyType == String {
				n.strs[fr.Key.Strings[i]] = at
			} else {
				n.ints[fr.Key.Ints[i]] = at
			}
			n.out.Time = append(n.out.Time, fr.Time[i])
			n.out.Created = append(n.out.Created, created)
			n.misfit = append(n.misfit, misfit)
			n.out.Key.AppendRow(fr.Key, i)
			for k, c := range n.out.Columns {
				c.AppendRow(fr.Columns[k], i)
			}
			continue
		}
		if c := cmp.Compare(fr.Time[i], n.out.Time[at]); c < 0 || (c == 0 && created <= n.out.Created[at]) {
			continue
		}
		n.out.Time[at], n.out.Created[at], n.misfit[at] = fr.Time[i], created, misfit
		for k, c := range n.out.Columns {
			c.CopyRow(at, fr.Columns[k], i)
		}
	}
	return nil
}

// minCreated stands for a missing created_timestamp: older than any.
const minCreated = -1 << 63

// Len is the number of keys seen.
func (n *Newest) Len() int { return n.out.Len() }

// Frame returns the newest row of every key seen, in no particular order.
// Rows added by AddMisfit are in it with their features as given.
func (n *Newest) Frame() *Frame { return n.out }

// NotDrained returns the keys whose newest row is not drained: the keys
// NotDrained gives for the rows added by Add, and every key whose newest row
// came from AddMisfit. Sorted.
func (n *Newest) NotDrained(reg *Registry, v *View) (*Column, error) {
	var fit, misfit []int
	for i, m := range n.misfit {
		if m {
			misfit = append(misfit, i)
		} else {
			fit = append(fit, i)
		}
	}
	if len(misfit) == 0 {
		return NotDrained(reg, v, n.out)
	}
	keys, err := NotDrained(reg, v, n.out.Take(fit))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(misfit, func(a, b int) int { return compareKeys(n.out.Key, a, b) })
	return UnionKeys(keys, n.out.Take(misfit).Key), nil
}

// UnionKeys merges two sorted key columns without nulls into one, sorted,
// each key once.
func UnionKeys(a, b *Column) *Column {
	out := NewColumn(a.Name, a.Type, a.Len()+b.Len())
	i, j := 0, 0
	for i < a.Len() || j < b.Len() {
		switch {
		case j == b.Len() || (i < a.Len() && CompareKeys(a, i, b, j) < 0):
			out.AppendRow(a, i)
			i++
		case i == a.Len() || CompareKeys(a, i, b, j) > 0:
			out.AppendRow(b, j)
			j++
		default:
			out.AppendRow(a, i)
			i, j = i+1, j+1
		}
	}
	return out
}

// NotDrained returns the keys of newest (one row per key, as Newest.Frame
// gives) whose row is not drained: its features differ from what the
// transform gives the entity with no events as of the row's own
// event_timestamp. The drained row is computed by the view's own transform,
// never assumed. A row whose event_timestamp is not a window end of the view
// (history written by another tool) counts as not drained. The keys come out
// sorted.
func NotDrained(reg *Registry, v *View, newest *Frame) (*Column, error) {
	ent := reg.EntityOf(v)
	if ent == nil {
		return nil, fmt.Errorf("%w: view %s is not registered", ErrInput, v.Name)
	}
	if newest.Key == nil || newest.Key.Type != ent.KeyType {
		return nil, fmt.Errorf("%w: view %s: history keys are not %s", ErrInput, v.Name, ent.KeyType)
	}
	feats := v.Features()
	cols := make([]*Column, len(feats))
	for k, f := range feats {
		if cols[k] = newest.Column(f.Name); cols[k] == nil || cols[k].Type != f.Type {
			return nil, fmt.Errorf("%w: view %s: history lacks feature %s of type %s", ErrInput, v.Name, f.Name, f.Type)
		}
	}
	// Rows by event_timestamp: one transform call per distinct time.
	byTime := map[int64][]int{}
	for i := range newest.Time {
		byTime[newest.Time[i]] = append(byTime[newest.Time[i]], i)
	}
	times := make([]int64, 0, len(byTime))
	for t := range byTime {
		times = append(times, t)
	}
	slices.Sort(times)
	none := noEvents(reg, v)
	var keep []int
	for _, t := range times {
		rows := byTime[t]
		end := FromMicros(t)
		if CheckWindowEnd(v, end) != nil {
			keep = append(keep, rows...)
			continue
		}
		keys := newest.Take(rows).Key
		drained, err := ComputeWith(reg, v, none, end, end, ComputeOptions{ExtraKeys: keys})
		if err != nil {
			return nil, fmt.Errorf("drained rows of %s at %s: %w", v.Name, end.Format(time.RFC3339), err)
		}
		// drained is in key order and has each key once; so are rows, once
		// sorted the same way.
		slices.SortFunc(rows, func(a, b int) int { return compareKeys(newest.Key, a, b) })
		if len(rows) != drained.Len() {
			return nil, fmt.Errorf("view %s: %d keys at %s gave %d drained rows", v.Name, len(rows), end.Format(time.RFC3339), drained.Len())
		}
		for j, r := range rows {
			for k := range feats {
				if !cols[k].Value(r).Equal(drained.Columns[k].Value(j)) {
					keep = append(keep, r)
					break
				}
			}
		}
	}
	slices.SortFunc(keep, func(a, b int) int { return compareKeys(newest.Key, a, b) })
	return newest.Take(keep).Key, nil
}

// noEvents is an empty event frame with every column of v's source.
func noEvents(reg *Registry, v *View) *Frame {
	src, ent := reg.SourceOf(v), reg.EntityOf(v)
	f := &Frame{Time: []int64{}}
	for _, fd := range src.Fields {
		c := NewColumn(fd.Name, fd.Type, 0)
		f.Columns = append(f.Columns, c)
		if fd.Name == ent.JoinKey {
			f.Key = c
		}
	}
	return f
}

// CompareKeys orders row i of key column x against row j of key column y
// (both of one key type, string or int64), ignoring validity.
func CompareKeys(x *Column, i int, y *Column, j int) int {
	if x.Type == String {
		return cmp.Compare(x.Strings[i], y.Strings[j])
	}
	return cmp.Compare(x.Ints[i], y.Ints[j])
}

func compareKeys(c *Column, a, b int) int { return CompareKeys(c, a, c, b) }
