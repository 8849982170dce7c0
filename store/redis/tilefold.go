package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// TileFold says which tiles WriteFoldTiles folds after writing, and what.
type TileFold struct {
	// Through: fields ingested at or before it are folded. A read at T
	// counts a folded field only when T >= its ingest time (the newest of
	// the folded requests'), so folding is exact for every read at
	// T >= Through; the caller picks Through older than any read can be
	// (docs/format/fresh.md, "Folding"). Zero: fold nothing.
	Through time.Time
	// MinFields: a written tile is folded only when at least this many of
	// its request fields were ingested at or before Through (its requests
	// index counts them, so a tile is never read in vain). Default 2.
	MinFields int
}

// FoldStats counts what WriteFoldTiles folded.
type FoldStats struct {
	Tiles  int // tiles folded
	Fields int // fields folded into them (each tile's previous fold included)
	// Failed counts tiles left unfolded because of an error (Err is the
	// first); their fields stay, so reads are unaffected. A tile that a
	// concurrent fold changed first is skipped, not failed.
	Failed int
	Err    error
}

// foldTile replaces, in the tile KEYS[1], the fold field
// (onlinecodec.TileFoldField) and the request fields ARGV[5], ARGV[7], ...
// by one fold field ARGV[1], if the tile is as they were read: the fold
// field present with value ARGV[4] when ARGV[3] is "1", absent otherwise,
// and each request field holding the value folded (ARGV[6], ARGV[8], ...).
// Otherwise it changes nothing and answers 0 (another fold came first).
// The folded request ids are scored -1 in the tile's requests index KEYS[2]
// (expiring at ARGV[2], Unix ms, with the tile), which the write script
// checks, so a retry of a folded request is not counted twice. Fields it
// was not given (a request written meanwhile) are left alone.
var foldTile = goredis.NewScript(`
local old = redis.call('HGET', KEYS[1], '')
if (ARGV[3] == '1' and old ~= ARGV[4]) or (ARGV[3] ~= '1' and old) then return 0 end
for i = 5, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
for i = 5, #ARGV, 2 do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[2], -1, ARGV[i])
end
redis.call('HSET', KEYS[1], '', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
return 1
`)

// WriteFoldTiles is WriteTiles, then folds each written tile that holds at
// least fold.MinFields request fields ingested at or before fold.Through:
// those fields (of the registry's current definition of w.View) and the
// tile's previous fold are merged into one field
// (onlinecodec.TileFoldField) whose ingest time is the newest of theirs,
// atomically (a script that first checks the folded fields are unchanged,
// so a concurrent write or fold is never lost). The write finds the fields
// to fold; the folds take one more pipeline. Reads then decode one state
// per tile plus the recent requests' instead of one per request.
//
// An error is returned only when the write failed (as WriteTiles). A fold
// that fails leaves its tile as written and is counted in FoldStats.
func (s *Store) WriteFoldTiles(ctx context.Context, ws []TileWrite, fold TileFold) (FoldStats, error) {
	var st FoldStats
	cands, err := s.writeTiles(ctx, ws, fold)
	if err != nil || fold.Through.IsZero() {
		return st, err
	}
	fail := func(err error) {
		st.Failed++
		if st.Err == nil {
			st.Err = err
		}
	}
	type pending struct {
		keys []string
		args []any
		n    int
	}
	var todo []pending
	done := map[string]bool{}
	for i, w := range ws {
		if cands[i] == nil || w.View == "" || done[w.Key] {
			continue
		}
		done[w.Key] = true
		args, n, err := s.foldArgs(w, cands[i], features.Micros(fold.Through))
		switch {
		case err != nil:
			fail(err)
		case n >= 2:
			todo = append(todo, pending{[]string{w.Key, onlinecodec.TileRequestsKey(w.Key)}, args, n})
		}
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := s.client.Pipeline()
		cmds := make([]*goredis.Cmd, len(todo))
		for i, p := range todo {
			cmds[i] = foldTile.EvalSha(ctx, pipe, p.keys, p.args...)
		}
		_, _ = pipe.Exec(ctx) // errors are read per command below
		var retry []pending
		for i, c := range cmds {
			swapped, err := c.Int()
			switch {
			case err == nil && swapped == 1:
				st.Tiles++
				st.Fields += todo[i].n
			case err == nil: // changed meanwhile by another fold: the next write folds it
			case goredis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0:
				retry = append(retry, todo[i])
			default:
				fail(fmt.Errorf("redis store: fold %s: %w", todo[i].keys[0], err))
			}
		}
		if len(retry) > 0 {
			if err := foldTile.Load(ctx, s.client).Err(); err != nil {
				st.Failed += len(retry)
				fail(fmt.Errorf("redis store: load tile fold script: %w", err))
				break
			}
		}
		todo = retry
	}
	return st, nil
}

// foldArgs merges the candidate fields of w's tile (name, value pairs)
// that may be folded (of the current definition, ingested at or before
// through) into one fold field, and returns the fold script's arguments
// and the number of fields folded (fewer than two: nothing to gain).
func (s *Store) foldArgs(w TileWrite, pairs []string, through int64) ([]any, int, error) {
	v, ok := s.reg.View(w.View)
	if !ok || v.Fresh == nil {
		return nil, 0, fmt.Errorf("redis store: fold %s: %q is not a fresh view", w.Key, w.View)
	}
	fp := s.reg.Fingerprint(w.View)
	var merged *features.TileState
	var newest int64
	args := []any{nil, w.ExpireAt.UnixMilli(), "0", ""}
	n := 0
	for i := 0; i+1 < len(pairs); i += 2 {
		f, val := pairs[i], pairs[i+1]
		tf, err := onlinecodec.DecodeTileField(val)
		ok := err == nil && tf.IngestMicros <= through && tf.Fingerprint == fp
		var st *features.TileState
		if ok {
			st, err = features.UnmarshalTileState(v, tf.State)
			ok = err == nil
		}
		if !ok {
			if f == onlinecodec.TileFoldField {
				// A fold of another definition, or newer than through
				// (another pusher's clock): never overwrite it.
				return nil, 0, nil
			}
			continue // another definition or unreadable: left as is
		}
		if merged == nil {
			merged = st
		} else if err := merged.Merge(st); err != nil {
			return nil, 0, fmt.Errorf("redis store: fold %s: field %q: %w", w.Key, f, err)
		}
		newest = max(newest, tf.IngestMicros)
		n++
		if f == onlinecodec.TileFoldField {
			args[2], args[3] = "1", val
		} else {
			args = append(args, f, val)
		}
	}
	if n < 2 {
		return nil, n, nil
	}
	state, err := merged.MarshalBinary()
	if err != nil {
		return nil, 0, fmt.Errorf("redis store: fold %s: %w", w.Key, err)
	}
	if args[0], err = onlinecodec.AppendTileField(nil, onlinecodec.TileField{IngestMicros: newest, Fingerprint: fp, State: state}); err != nil {
		return nil, 0, fmt.Errorf("redis store: fold %s: %w", w.Key, err)
	}
	return args, n, nil
}
