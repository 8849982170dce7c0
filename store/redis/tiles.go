package redis

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
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
}

// WriteTiles stores the fields of one push request in one transaction
// (MULTI/EXEC): HSET of each field, then PEXPIREAT of each key. Rewriting
// a field with the same value (a retry) changes nothing, so the call is
// idempotent. On a cluster go-redis runs one transaction per hash slot,
// i.e. per entity: each entity's tiles change atomically.
func (s *Store) WriteTiles(ctx context.Context, ws []TileWrite) error {
	if len(ws) == 0 {
		return nil
	}
	expire := map[string]time.Time{}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, w := range ws {
			p.HSet(ctx, w.Key, w.Field, w.Value)
			if e, ok := expire[w.Key]; !ok || w.ExpireAt.After(e) {
				expire[w.Key] = w.ExpireAt
			}
		}
		for _, w := range ws {
			if e, ok := expire[w.Key]; ok {
				p.PExpireAt(ctx, w.Key, e)
				delete(expire, w.Key)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: write %d tile fields: %w", len(ws), err)
	}
	return nil
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
