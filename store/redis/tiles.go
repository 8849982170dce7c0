package redis

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// ErrPushConflict is returned by ClaimPush when the request id was already
// used for different events: a client bug (ids reused), never retryable.
var ErrPushConflict = errors.New("request id already used with different events")

// pushRecordLen is a claim's value: ingest µs (8 bytes) then the digest.
const pushRecordLen = 8 + sha256.Size

// PushKey is the Redis key recording one push request of a source:
// <prefix>:push:<source>:<hex SHA-256 of the request id, 32 digits>.
func (s *Store) PushKey(source, requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	return s.opts.Prefix + ":push:" + source + ":" + hex.EncodeToString(h[:16])
}

// ClaimPush records that request id of source carries events with digest,
// ingested at ingest, unless it is already recorded; it returns the ingest
// time of the first claim and whether this call made it. A claim of the same id with another digest is
// ErrPushConflict. Claims expire after ttl: a retry later than that is a new
// request. It is one atomic command (SET NX GET, Redis ≥ 7.0), so two
// concurrent attempts of one request agree on one ingest time.
func (s *Store) ClaimPush(ctx context.Context, source, requestID string, digest [sha256.Size]byte, ingest time.Time, ttl time.Duration) (time.Time, bool, error) {
	var rec [pushRecordLen]byte
	binary.BigEndian.PutUint64(rec[:8], uint64(ingest.UnixMicro()))
	copy(rec[8:], digest[:])
	key := s.PushKey(source, requestID)
	old, err := s.client.SetArgs(ctx, key, rec[:], goredis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	if errors.Is(err, goredis.Nil) {
		return ingest, true, nil // ours
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redis store: claim push %s: %w", key, err)
	}
	if len(old) != pushRecordLen {
		return time.Time{}, false, fmt.Errorf("redis store: claim push %s: stored record of %d bytes, want %d", key, len(old), pushRecordLen)
	}
	if old[8:] != string(digest[:]) {
		return time.Time{}, false, ErrPushConflict
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64([]byte(old[:8])))).UTC(), false, nil
}

// TileWrite is one field of one tile (see onlinecodec.TileKey).
type TileWrite struct {
	Key, Field string
	Value      []byte
	// ExpireAt is when the tile stops being read by any request (its
	// start + tile + the view's longest window); the key expires then.
	ExpireAt time.Time
	// Ingest is the request's ingest time, indexed with the field so that
	// WriteFoldTiles finds the fields it may fold.
	Ingest time.Time
	// View is the fresh view the tile belongs to; WriteFoldTiles needs it
	// to fold the tile (an empty View is never folded).
	View string
}

// writeTiles sets, per tile k (KEYS[k], its requests index at
// KEYS[#KEYS/2 + k]; onlinecodec.TileRequestsKey), the field ARGV[4k-1]
// (a request id) to ARGV[4k] and indexes it with its ingest time
// ARGV[4k+1] (µs), unless the index says that request was already folded
// (score -1); it sets both keys' expiry to ARGV[4k+2] (Unix ms). It answers
// per tile the fields it could fold: when at least ARGV[2] request fields
// were ingested at or before ARGV[1] (µs), those fields (at most 1000) and
// the tile's fold field as a flat list (name, value, name, value, ...), otherwise an
// empty list.
var writeTiles = goredis.NewScript(`
local n = #KEYS / 2
local through, need = ARGV[1], tonumber(ARGV[2])
local out = {}
for k = 1, n do
  local tile, idx = KEYS[k], KEYS[n + k]
  local f, at = ARGV[4 * k - 1], ARGV[4 * k + 2]
  if redis.call('ZSCORE', idx, f) ~= '-1' then
    redis.call('HSET', tile, f, ARGV[4 * k])
    redis.call('ZADD', idx, ARGV[4 * k + 1], f)
  end
  redis.call('PEXPIREAT', tile, at)
  redis.call('PEXPIREAT', idx, at)
  local fold = {}
  if redis.call('ZCOUNT', idx, '(-1', through) >= need then
    local ids = redis.call('ZRANGEBYSCORE', idx, '(-1', through, 'LIMIT', 0, 1000)
    table.insert(ids, '')
    local vals = redis.call('HMGET', tile, unpack(ids))
    for i = 1, #ids do
      if vals[i] then
        table.insert(fold, ids[i])
        table.insert(fold, vals[i])
      end
    end
  end
  out[k] = fold
end
return out
`)

// WriteTiles stores the fields of one push request: HSET of each field,
// indexed by its ingest time in the tile's requests index, and PEXPIREAT of
// both, server-side in one script call (on a cluster, one per hash slot,
// i.e. per entity: each entity's tiles change atomically). A field whose
// request was already folded into its tile (see WriteFoldTiles) is not
// written again. Rewriting a field with the same value (a retry) changes
// nothing, so the call is idempotent.
func (s *Store) WriteTiles(ctx context.Context, ws []TileWrite) error {
	_, err := s.writeTiles(ctx, ws, TileFold{})
	return err
}

// writeTiles is WriteTiles, answering for each write the fields of its
// tile that fold allows folding, as name, value pairs (nil: too few).
func (s *Store) writeTiles(ctx context.Context, ws []TileWrite, fold TileFold) ([][]string, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	through, need := int64(-2), int64(math.MaxInt32) // no folding
	if !fold.Through.IsZero() {
		through, need = features.Micros(fold.Through), int64(max(fold.MinFields, 2))
	}
	expire := make(map[string]time.Time, len(ws))
	for _, w := range ws {
		if e, ok := expire[w.Key]; !ok || w.ExpireAt.After(e) {
			expire[w.Key] = w.ExpireAt
		}
	}
	// One call per hash slot on a cluster; one for the whole request on a
	// single server (as one MULTI/EXEC was).
	var groups [][]int
	if _, ok := s.client.(*goredis.ClusterClient); ok {
		byTag := map[string]int{}
		for i, w := range ws {
			t := hashTag(w.Key)
			g, ok := byTag[t]
			if !ok {
				g = len(groups)
				byTag[t] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], i)
		}
	} else {
		all := make([]int, len(ws))
		for i := range all {
			all[i] = i
		}
		groups = [][]int{all}
	}
	out := make([][]string, len(ws))
	for attempt := 0; ; attempt++ {
		pipe := s.client.Pipeline()
		cmds := make([]*goredis.Cmd, len(groups))
		for g, idx := range groups {
			keys := make([]string, 2*len(idx))
			args := make([]any, 0, 2+4*len(idx))
			args = append(args, through, need)
			for j, i := range idx {
				w := ws[i]
				keys[j], keys[len(idx)+j] = w.Key, onlinecodec.TileRequestsKey(w.Key)
				args = append(args, w.Field, w.Value, features.Micros(w.Ingest), expire[w.Key].UnixMilli())
			}
			cmds[g] = writeTiles.EvalSha(ctx, pipe, keys, args...)
		}
		_, _ = pipe.Exec(ctx) // errors are read per command below
		noScript := false
		for g, c := range cmds {
			res, err := c.Slice()
			switch {
			case err == nil && len(res) == len(groups[g]):
				for j, i := range groups[g] {
					pairs, _ := res[j].([]any)
					if len(pairs) == 0 {
						continue
					}
					out[i] = make([]string, len(pairs))
					for k, p := range pairs {
						out[i][k], _ = p.(string)
					}
				}
			case err == nil:
				return nil, fmt.Errorf("redis store: write tiles: script answered %d results for %d fields", len(res), len(groups[g]))
			case goredis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0:
				noScript = true
			default:
				return nil, fmt.Errorf("redis store: write %d tile fields: %s: %w", len(ws), ws[groups[g][0]].Key, err)
			}
		}
		if !noScript {
			return out, nil
		}
		// Rerunning every group is harmless: the writes are idempotent.
		if err := writeTiles.Load(ctx, s.client).Err(); err != nil {
			return nil, fmt.Errorf("redis store: load tile write script: %w", err)
		}
	}
}

// hashTag is the part of key between its first "{" and the next "}" (the
// part Redis Cluster hashes), or key when it has none.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// FetchWithTiles is Fetch of keys plus, in the same pipeline (one round
// trip per node), the field values of tileKeys (HVALS; nil for a missing
// tile). The strings are owned by the caller.
func (s *Store) FetchWithTiles(ctx context.Context, keys, tileKeys []string, dst []string) ([]string, [][]string, error) {
	dst = dst[:0]
	if len(keys)+len(tileKeys) == 0 {
		return dst, nil, nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	tcmds := make([]*goredis.StringSliceCmd, len(tileKeys))
	for i, k := range tileKeys {
		tcmds[i] = pipe.HVals(ctx, k)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	for i, c := range cmds {
		v, err := c.Result()
		switch {
		case err == nil:
			dst = append(dst, v)
		case errors.Is(err, goredis.Nil):
			dst = append(dst, "")
		default:
			return dst[:0], nil, fmt.Errorf("redis store: read %s: %w", keys[i], err)
		}
	}
	tiles := make([][]string, len(tileKeys))
	for i, c := range tcmds {
		v, err := c.Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return dst[:0], nil, fmt.Errorf("redis store: read tile %s: %w", tileKeys[i], err)
		}
		tiles[i] = v
	}
	return dst, tiles, nil
}
