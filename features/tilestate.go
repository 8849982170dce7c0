package features

import (
	"fmt"
	"slices"
	"time"
)

// TileState holds the mergeable states of every aggregation of one fresh
// view over a set of events (usually one entity's events in one tile):
// counts, sums, min/max, last with its event time, distinct-count sketches.
// The same code builds tiles online (from pushed events), sweeps logged
// events offline (FreshAsOf) and computes the view's batch windows, so the
// three cannot disagree. Merging states in any grouping or order gives the
// same values as adding the events to one state.
//
// A TileState is not safe for concurrent use.
type TileState struct {
	view *View
	aggs []aggState
}

// NewTileState returns the empty state of fresh view v.
func NewTileState(v *View) *TileState {
	return &TileState{view: v, aggs: make([]aggState, len(v.Aggregations))}
}

// frameBinding is a frame's columns for each aggregation of a view, looked
// up and type-checked once.
type frameBinding struct {
	col, where []*Column
}

func bindFrame(v *View, f *Frame) (frameBinding, error) {
	b := frameBinding{col: make([]*Column, len(v.Aggregations)), where: make([]*Column, len(v.Aggregations))}
	if err := f.Validate(); err != nil {
		return b, fmt.Errorf("%w: view %s: %w", ErrInput, v.Name, err)
	}
	for i := range v.Aggregations {
		a := &v.Aggregations[i]
		if a.Kind != Count {
			c := f.Column(a.Column)
			if c == nil {
				return b, fmt.Errorf("%w: view %s: source column %q missing", ErrInput, v.Name, a.Column)
			}
			want := a.resultType
			if a.Kind == Mean || a.Kind == DistinctCount {
				want = c.Type // any numeric (checked at registration), any type
				if a.Kind == Mean && want != Int64 && want != Float64 {
					return b, fmt.Errorf("%w: view %s: source column %q is %s, want a number", ErrInput, v.Name, a.Column, c.Type)
				}
			}
			if c.Type != want || c.Type == Invalid {
				return b, fmt.Errorf("%w: view %s: source column %q is %s, want %s", ErrInput, v.Name, a.Column, c.Type, want)
			}
			b.col[i] = c
		}
		if a.Where != nil {
			w := f.Column(a.Where.Column)
			if w == nil {
				return b, fmt.Errorf("%w: view %s: filter column %q missing", ErrInput, v.Name, a.Where.Column)
			}
			b.where[i] = w
		}
	}
	return b, nil
}

// AddEvents adds rows of f (a raw source frame: event times in f.Time, the
// aggregations' columns by name; nil rows means every row) to s, applying
// each aggregation's Where filter. It fails, adding nothing, when a column
// the view reads is missing or mistyped.
func (s *TileState) AddEvents(v *View, f *Frame, rows []int) error {
	if err := s.check(v); err != nil {
		return err
	}
	b, err := bindFrame(v, f)
	if err != nil {
		return err
	}
	if rows == nil {
		for r := range f.Time {
			s.addRow(v, b, f, r)
		}
		return nil
	}
	for _, r := range rows {
		if r < 0 || r >= len(f.Time) {
			return fmt.Errorf("%w: view %s: row %d out of range [0, %d)", ErrInput, v.Name, r, len(f.Time))
		}
	}
	for _, r := range rows {
		s.addRow(v, b, f, r)
	}
	return nil
}

func (s *TileState) addRow(v *View, b frameBinding, f *Frame, r int) {
	for i := range v.Aggregations {
		a := &v.Aggregations[i]
		if w := b.where[i]; w != nil && !a.Where.match(w.Value(r)) {
			continue
		}
		s.aggs[i].addRow(a, true, b.col[i], r, f.Time[r])
	}
}

func (s *TileState) check(v *View) error {
	if v == nil || s.view == nil {
		return fmt.Errorf("%w: tile state not made by NewTileState or UnmarshalTileState", ErrInput)
	}
	if s.view != v && s.view.Name != v.Name {
		return fmt.Errorf("%w: tile state of view %s used for view %s", ErrInput, s.view.Name, v.Name)
	}
	if v.Fresh == nil {
		return fmt.Errorf("%w: view %s is not fresh", ErrInput, v.Name)
	}
	if len(s.aggs) != len(v.Aggregations) {
		return fmt.Errorf("%w: view %s: tile state holds %d aggregations, the view has %d", ErrInput, v.Name, len(s.aggs), len(v.Aggregations))
	}
	return nil
}

// Merge folds o, a state of the same view, into s; o is not changed.
func (s *TileState) Merge(o *TileState) error {
	if o == nil {
		return nil
	}
	v := s.view
	if err := s.check(v); err != nil {
		return err
	}
	if o.view != v && (o.view == nil || o.view.Name != v.Name || len(o.aggs) != len(s.aggs)) {
		return fmt.Errorf("%w: view %s: cannot merge a tile state of another view", ErrInput, v.Name)
	}
	for i := range s.aggs {
		s.aggs[i].merge(&v.Aggregations[i], &o.aggs[i])
	}
	return nil
}

// Values finalizes s into v's feature values, in v.Features() order, as if
// every aggregation's window held exactly the events of s.
func (s *TileState) Values(v *View) []Value {
	out := make([]Value, len(v.Aggregations))
	for i := range v.Aggregations {
		if i < len(s.aggs) {
			out[i] = s.aggs[i].value(&v.Aggregations[i], true)
		}
	}
	return out
}

// FreshValues returns fresh view v's feature values at t (in v.Features()
// order) from tiles, tile start (microseconds, see TileStart) → state of
// one entity's events ingested by t. Each aggregation merges the tiles
// of its window, [floor(t, tile) - window, floor(t, tile)], so with tiles
// holding only events ingested by t this is the rule of Fresh exactly.
// Tiles are not changed; missing tiles are empty; a nil or mismatched
// state counts as empty. An entity without tiles gets the values of no
// events: counts and sums 0, the rest null.
func FreshValues(v *View, t time.Time, tiles map[int64]*TileState) []Value {
	out := make([]Value, len(v.Aggregations))
	if v.Fresh == nil {
		return out
	}
	cur := TileStart(v, Micros(t))
	starts := make([]int64, 0, len(tiles))
	for s, st := range tiles {
		if s <= cur && st != nil && len(st.aggs) == len(v.Aggregations) {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts) // a fixed order, though merges do not depend on it
	for i := range v.Aggregations {
		a := &v.Aggregations[i]
		from := cur - a.Window.Microseconds()
		var acc aggState
		for _, s := range starts[searchInt64(starts, from):] {
			acc.merge(a, &tiles[s].aggs[i])
		}
		out[i] = acc.value(a, true)
	}
	return out
}

func searchInt64(s []int64, x int64) int {
	i, _ := slices.BinarySearch(s, x)
	return i
}
