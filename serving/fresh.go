package serving

import (
	"context"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// TileStore is an optional ability of a Store, found by type assertion:
// reading the tiles of fresh views in the same round trip as the other
// views' values. *redis.Store implements it. Without it, requests for fresh
// features fail with ErrUnavailable.
type TileStore interface {
	// FetchWithTiles is Fetch of keys plus, in the same pipeline, the field
	// values of each of tileKeys (nil for a missing tile).
	FetchWithTiles(ctx context.Context, keys, tileKeys []string, dst []string) ([]string, [][]string, error)
}

// freshRead is one (row, fresh view) cell of a request: its tiles are
// tileKeys[first : first+len(starts)].
type freshRead struct {
	i     int // index into keys/entries
	first int
}

// fetchFresh reads the values of the non-fresh positions of miss and the
// tiles of the fresh ones in one round trip, fills entries of the fresh
// positions with their values at the request time, and returns the
// non-fresh positions with their raw values (as Store.Fetch would). now is
// the request time T (taken by get before the read).
//
// The value of a fresh view at T (docs/format/fresh.md) merges, per
// aggregation, the tiles of [floor(T, tile) - window, T) — the tiles
// starting from floor(T) - window through floor(T) — keeping the fields of
// requests ingested at or before T. Its status is PRESENT (a count of 0 is
// a value: the entity had no events in the window) and its event_timestamp
// is T.
func (r *Reader) fetchFresh(ctx context.Context, p *plan, now time.Time, entities Entities, keys []string, miss []int, entries []*entry, dst []string) ([]int, []string, error) {
	ts, ok := r.store.(TileStore)
	if !ok {
		return nil, nil, fmt.Errorf("%w: the store cannot read the tiles of fresh views", ErrUnavailable)
	}
	T := features.Micros(now)
	nv := len(p.views)
	var fetch, tileKeys []string
	var rest []int
	var reads []freshRead
	for _, i := range miss {
		v := &p.views[i%nv]
		if v.fresh == nil {
			rest = append(rest, i)
			fetch = append(fetch, keys[i])
			continue
		}
		jk := p.joinKeys[v.key]
		kv := entities[jk.name][i/nv]
		k := features.Key{Int: kv.Int64(), Str: kv.Str()}
		reads = append(reads, freshRead{i: i, first: len(tileKeys)})
		for _, s := range v.tileStarts(now) {
			tileKeys = append(tileKeys, onlinecodec.TileKey(r.store.Prefix(), v.name, jk.typ, k, s))
		}
	}
	raw, tiles, err := ts.FetchWithTiles(ctx, fetch, tileKeys, dst)
	if err != nil {
		return nil, nil, err
	}
	for _, fr := range reads {
		v := &p.views[fr.i%nv]
		starts := v.tileStarts(now)
		states := make(map[int64]*features.TileState, len(starts))
		for j, s := range starts {
			var acc, only *features.TileState // the tile's one field, or their merge
			for _, field := range tiles[fr.first+j] {
				st := r.tileFieldState(v, field, T)
				switch {
				case st == nil:
					continue
				case only == nil:
					only = st
					continue
				case acc == nil:
					// Cached states are shared: merge into a new one.
					acc = features.NewTileState(v.fresh)
					if err := acc.Merge(only); err != nil {
						r.unreadable.Add(1)
					}
				}
				if err := acc.Merge(st); err != nil {
					r.unreadable.Add(1)
				}
			}
			switch {
			case acc != nil:
				states[s] = acc
			case only != nil:
				states[s] = only // FreshValues never changes a tile's state
			}
		}
		vals := features.FreshValues(v.fresh, now, states)
		entries[fr.i] = &entry{found: true, h: onlinecodec.Header{EventMicros: T, Fingerprint: v.fingerprint}, vals: vals}
	}
	return rest, raw, nil
}

// tileFieldState is the decoded state of one tile field read for view v
// at T (µs): nil when it is not counted (ingested after T, another
// definition, unreadable; the last two are counted in Stats). The state is
// shared through the cache: never change it.
func (r *Reader) tileFieldState(v *viewPlan, field string, T int64) *features.TileState {
	// The key is the whole field, ingest time and fingerprint included: the
	// same bytes always decode to the same state.
	c, ok := r.states.GetIfPresent(field)
	if !ok {
		tf, err := onlinecodec.DecodeTileField(field)
		if err != nil {
			r.unreadable.Add(1)
			return nil
		}
		c = cachedField{ingest: tf.IngestMicros, fingerprint: tf.Fingerprint}
		if tf.Fingerprint == v.fingerprint {
			if c.state, err = features.UnmarshalTileState(v.fresh, tf.State); err != nil {
				r.unreadable.Add(1)
				r.opts.Logger.Warn("serving: unreadable tile state", "view", v.name, "err", err)
				return nil
			}
			r.states.Set(field, c)
		}
	}
	if c.ingest > T {
		return nil // ingested after the request time: not known at T
	}
	if c.fingerprint != v.fingerprint {
		r.defNotFound.Add(1)
		return nil
	}
	return c.state
}

// cachedField is a decoded tile field (serving.Options.FreshStates).
type cachedField struct {
	ingest      int64
	fingerprint string
	state       *features.TileState // shared: never changed
}

// fieldCache is the cache of decoded tile fields; a nil one caches nothing.
type fieldCache struct {
	c *otter.Cache[string, cachedField]
}

func (f fieldCache) GetIfPresent(k string) (cachedField, bool) {
	if f.c == nil {
		return cachedField{}, false
	}
	return f.c.GetIfPresent(k)
}

func (f fieldCache) Set(k string, v cachedField) {
	if f.c != nil {
		f.c.Set(k, v)
	}
}

// tileStarts are the starts of the tiles a read at now covers: from
// floor(now, tile) - the longest window through floor(now, tile).
func (v *viewPlan) tileStarts(now time.Time) []int64 {
	tile := v.fresh.Fresh.Tile.Microseconds()
	first, last := features.FreshTiles(v.fresh, now)
	out := make([]int64, 0, (last-first)/tile+1)
	for s := first; s <= last; s += tile {
		out = append(out, s)
	}
	return out
}
