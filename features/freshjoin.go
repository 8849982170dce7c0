package features

import (
	"cmp"
	"fmt"
	"slices"
)

// FreshJoinOptions tunes FreshAsOf.
type FreshJoinOptions struct {
	// AsKnownAt counts each event from its ingest time (the frame's
	// IngestTimestampColumn; null, or no such column: its event time),
	// exactly as the online tiles do. Otherwise an event counts from its
	// event time plus the view's Fresh.IngestDelay: what a model will see
	// in production, independent of when historical events were loaded.
	AsKnownAt bool
}

// FreshAsOf computes fresh view v's values at each entity row (key[i] at
// times[i], microseconds) from ev, the logged events of v's source: event
// times in ev.Time, the join key column joinKey, the aggregations' columns,
// and optionally IngestTimestampColumn (Int64 microseconds). It returns one
// column per feature of v, in v.Features() order, with one row per entity
// row: the rule of Fresh applied to the events visible at times[i], through
// the very code of the online tiles (TileState, FreshValues). Rows with a
// null key are null; a key without events gets the values of no events.
//
// Per key, it sorts the events by when they become visible and the entity
// rows by time, and sweeps both once, adding each event to its tile as it
// becomes visible: O(events log events + rows x tiles per window).
func FreshAsOf(v *View, joinKey string, ev *Frame, key *Column, times []int64, opt FreshJoinOptions) ([]*Column, error) {
	if v.Fresh == nil {
		return nil, fmt.Errorf("%w: view %s is not fresh", ErrInput, v.Name)
	}
	if key.Len() != len(times) {
		return nil, fmt.Errorf("%w: view %s: %d entity keys for %d times", ErrInput, v.Name, key.Len(), len(times))
	}
	b, err := bindFrame(v, ev)
	if err != nil {
		return nil, err
	}
	evKey := ev.Column(joinKey)
	if evKey == nil {
		return nil, fmt.Errorf("%w: view %s: source has no join key column %q", ErrInput, v.Name, joinKey)
	}
	if evKey.Type != key.Type {
		return nil, fmt.Errorf("%w: view %s: source join key %s is %s, entity keys are %s", ErrInput, v.Name, joinKey, evKey.Type, key.Type)
	}
	ingest := ev.Column(IngestTimestampColumn)
	if ingest != nil && ingest.Type != Int64 {
		return nil, fmt.Errorf("%w: view %s: column %s is %s, want microseconds (int64)", ErrInput, v.Name, IngestTimestampColumn, ingest.Type)
	}
	// visible is when event r starts to count.
	delay := v.Fresh.IngestDelay.Microseconds()
	visible := func(r int) int64 {
		t := ev.Time[r]
		if !opt.AsKnownAt {
			return t + delay
		}
		if ingest != nil && ingest.Valid[r] {
			return max(ingest.Ints[r], t) // never before its event time
		}
		return t
	}

	feats := v.Features()
	out := make([]*Column, len(feats))
	for i, f := range feats {
		out[i] = NewNullColumn(f.Name, f.Type, len(times))
	}
	// Entity rows by key, then each key's events.
	rowsOf := map[Key][]int{}
	for i := range times {
		if key.Valid[i] {
			k := key.KeyAt(i)
			rowsOf[k] = append(rowsOf[k], i)
		}
	}
	eventsOf := make(map[Key][]int, len(rowsOf))
	for r := range ev.Time {
		if !evKey.Valid[r] {
			continue
		}
		k := evKey.KeyAt(r)
		if _, wanted := rowsOf[k]; wanted {
			eventsOf[k] = append(eventsOf[k], r)
		}
	}
	lookback := v.Lookback().Microseconds()
	keep := int(v.Lookback()/v.Fresh.Tile) + 1 // tiles a read uses
	vis := make([]int64, 0)
	for k, rows := range rowsOf {
		slices.SortStableFunc(rows, func(a, b int) int { return cmp.Compare(times[a], times[b]) })
		evs := eventsOf[k]
		vis = vis[:0]
		for _, r := range evs {
			vis = append(vis, visible(r))
		}
		order := make([]int, len(evs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(vis[a], vis[b]) })

		tiles := map[int64]*TileState{}
		next := 0
		var vals []Value
		for j, row := range rows {
			t := times[row]
			if j == 0 || t != times[rows[j-1]] {
				oldest := TileStart(v, t) - lookback
				for ; next < len(order) && vis[order[next]] <= t; next++ {
					r := evs[order[next]]
					ts := TileStart(v, ev.Time[r])
					if ts < oldest {
						continue // no read at t or later uses its tile
					}
					st := tiles[ts]
					if st == nil {
						st = NewTileState(v)
						tiles[ts] = st
					}
					st.addRow(v, b, ev, r)
				}
				if len(tiles) > 2*keep {
					for ts := range tiles {
						if ts < oldest {
							delete(tiles, ts)
						}
					}
				}
				vals = FreshValues(v, FromMicros(t), tiles)
			}
			for i, c := range out {
				if err := c.Set(row, vals[i]); err != nil {
					return nil, fmt.Errorf("view %s: %w", v.Name, err)
				}
			}
		}
	}
	return out, nil
}
