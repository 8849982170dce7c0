package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// monotonicSet writes each ARGV[2k-1] to KEYS[k] unless the stored value
// is newer, and returns one 1 (written) or 0 (dropped) per key. "Newer"
// compares the 16-byte ordering header (event_timestamp, then
// created_timestamp, both big-endian with the sign bit flipped) as four
// big-endian 32-bit words (struct.unpack), which equals comparing the numbers; GETRANGE reads just those bytes. An
// equal header overwrites, so a retried batch is idempotent. ARGV[2k] is the
// absolute expiry in Unix milliseconds ("0": none). Running the comparison
// server-side makes it atomic with the SET: two writers racing can never
// leave the older value behind.
//
// On a cluster every call carries one key (keys of a call must share a
// slot); on a single server a call carries up to rowsPerCall keys, because
// starting a script costs Redis more than the work inside it.
var monotonicSet = goredis.NewScript(`
local out = {}
for k = 1, #KEYS do
  local new = ARGV[2 * k - 1]
  local old = redis.call('GETRANGE', KEYS[k], 1, 16)
  local write = 1
  if #old == 16 then
    -- Four big-endian 32-bit words each (exact in Lua's doubles), compared
    -- in order: the same as comparing the 16 bytes.
    local n1, n2, n3, n4 = struct.unpack('>I4I4I4I4', new, 2)
    local o1, o2, o3, o4 = struct.unpack('>I4I4I4I4', old)
    if n1 ~= o1 then write = n1 > o1 and 1 or 0
    elseif n2 ~= o2 then write = n2 > o2 and 1 or 0
    elseif n3 ~= o3 then write = n3 > o3 and 1 or 0
    elseif n4 < o4 then write = 0 end
  end
  if write == 1 then
    local at = ARGV[2 * k]
    if at == '0' then
      redis.call('SET', KEYS[k], new)
    else
      redis.call('SET', KEYS[k], new, 'PXAT', at)
    end
  end
  out[k] = write
end
return out
`)

// rowsPerCall bounds the rows of one script call on a single server: enough
// to amortize the call, few enough that Redis is never blocked for long
// (tens of microseconds) and reads keep flowing between calls.
const rowsPerCall = 32

// WriteStats counts what a Write did with its rows.
type WriteStats struct {
	Rows    int // rows in the frame
	Written int // stored
	Stale   int // dropped: Redis held a value at least as new
	Expired int // skipped: already past event_timestamp + TTL (+ grace)
}

// Write stores the rows of f, computed by view: f.Key holds the entity keys,
// f.Time the event_timestamps, f.Created the created_timestamps (nil: equal
// to event_timestamp) and f.Columns the view's features by name. Rows are
// sent in pipelined batches of Options.BatchSize, one script call each; the
// script drops a row older than the stored value. After each batch the keys
// it changed are published on onlinecodec.Channel(prefix).
//
// Write is idempotent: writing the same frame twice leaves the same values.
// On error some batches may have been written; retrying is safe.
func (s *Store) Write(ctx context.Context, view string, f *features.Frame) (WriteStats, error) {
	st := WriteStats{Rows: f.Len()}
	v, ok := s.reg.View(view)
	if !ok {
		return st, fmt.Errorf("redis store: write: unknown view %q", view)
	}
	if err := f.Validate(); err != nil {
		return st, fmt.Errorf("redis store: write %s: %w", view, err)
	}
	ent := s.reg.EntityOf(v)
	if f.Key == nil || f.Key.Type != ent.KeyType {
		return st, fmt.Errorf("redis store: write %s: frame needs a %s key column", view, ent.KeyType)
	}
	feats := v.Features()
	cols := make([]*features.Column, len(feats))
	for i, ft := range feats {
		c := f.Column(ft.Name)
		if c == nil {
			return st, fmt.Errorf("redis store: write %s: frame has no column for feature %s", view, ft.Name)
		}
		if c.Type != ft.Type {
			return st, fmt.Errorf("redis store: write %s: column %s is %s, feature is %s", view, ft.Name, c.Type, ft.Type)
		}
		cols[i] = c
	}
	h := onlinecodec.Header{Fingerprint: s.reg.Fingerprint(view)}
	if f.Len() > 0 {
		// Before any value: a reader that meets this fingerprint must find
		// what it means (docs/format/online.md, "Schemas").
		if err := s.publishSchema(ctx, v, h.Fingerprint); err != nil {
			return st, fmt.Errorf("redis store: write %s: %w", view, err)
		}
	}
	ttl := v.TTL.Microseconds()
	grace := s.opts.ExpiryGrace.Microseconds()
	nowMicros := features.Micros(s.opts.Now())
	vals := make([]features.Value, len(cols))

	batch := make([]pendingWrite, 0, s.opts.BatchSize)
	for i := range f.Len() {
		if !f.Key.Valid[i] {
			return st, fmt.Errorf("redis store: write %s: row %d has a null entity key", view, i)
		}
		h.EventMicros = f.Time[i]
		h.CreatedMicros = f.Time[i]
		if f.Created != nil {
			h.CreatedMicros = f.Created[i]
		}
		var expireAtMs int64 // 0: no expiry
		if ttl > 0 {
			end := h.EventMicros + ttl + grace // last valid µs
			if end < nowMicros {
				st.Expired++
				continue
			}
			expireAtMs = end/1000 + 1 // the key outlives its last valid µs
		}
		for j, c := range cols {
			vals[j] = c.Value(i)
		}
		enc, err := onlinecodec.Append(nil, h, vals)
		if err != nil {
			return st, fmt.Errorf("redis store: write %s: %w", view, err)
		}
		batch = append(batch, pendingWrite{
			key:      onlinecodec.Key(s.opts.Prefix, view, ent.KeyType, f.Key.KeyAt(i)),
			value:    enc,
			expireAt: strconv.FormatInt(expireAtMs, 10),
		})
		if len(batch) == s.opts.BatchSize {
			if err := s.flush(ctx, batch, &st); err != nil {
				return st, fmt.Errorf("redis store: write %s: %w", view, err)
			}
			batch = batch[:0]
		}
	}
	if err := s.flush(ctx, batch, &st); err != nil {
		return st, fmt.Errorf("redis store: write %s: %w", view, err)
	}
	return st, nil
}

type pendingWrite struct {
	key, expireAt string
	value         []byte
}

// flush runs one batch: one pipeline of EVALSHA calls; when a node does not
// know the script yet (first use, restart, SCRIPT FLUSH), it is loaded on
// every node and the affected calls rerun, which the equal-header rule makes
// harmless.
func (s *Store) flush(ctx context.Context, batch []pendingWrite, st *WriteStats) error {
	if len(batch) == 0 {
		return nil
	}
	per := rowsPerCall
	if _, ok := s.client.(*goredis.ClusterClient); ok {
		per = 1
	}
	todo := batch
	changed := make([]string, 0, len(batch))
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := s.client.Pipeline()
		type call struct {
			cmd    *goredis.Cmd
			lo, hi int // rows todo[lo:hi]
		}
		var calls []call
		for lo := 0; lo < len(todo); lo += per {
			hi := min(lo+per, len(todo))
			keys := make([]string, 0, hi-lo)
			args := make([]any, 0, 2*(hi-lo))
			for _, w := range todo[lo:hi] {
				keys = append(keys, w.key)
				args = append(args, w.value, w.expireAt)
			}
			calls = append(calls, call{monotonicSet.EvalSha(ctx, pipe, keys, args...), lo, hi})
		}
		_, _ = pipe.Exec(ctx) // errors are read per command below
		var retry []pendingWrite
		for _, c := range calls {
			res, err := c.cmd.Int64Slice()
			switch {
			case err == nil && len(res) == c.hi-c.lo:
				for i, n := range res {
					if n == 1 {
						st.Written++
						changed = append(changed, todo[c.lo+i].key)
					} else {
						st.Stale++
					}
				}
			case err == nil:
				_ = s.signal(ctx, changed)
				return fmt.Errorf("write script answered %d results for %d rows", len(res), c.hi-c.lo)
			case goredis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0:
				retry = append(retry, todo[c.lo:c.hi]...)
			default:
				_ = s.signal(ctx, changed)
				return fmt.Errorf("set %s: %w", todo[c.lo].key, err)
			}
		}
		if len(retry) > 0 {
			if err := monotonicSet.Load(ctx, s.client).Err(); err != nil {
				_ = s.signal(ctx, changed)
				return fmt.Errorf("load write script: %w", err)
			}
		}
		todo = retry
	}
	return s.signal(ctx, changed)
}

// signal publishes the changed keys. It runs after the batch's replies
// arrived, so a subscriber that drops a key and rereads it sees the new
// value, on a cluster too.
func (s *Store) signal(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	msg := onlinecodec.AppendSignal(nil, keys)
	if err := s.client.Publish(ctx, onlinecodec.Channel(s.opts.Prefix), msg).Err(); err != nil {
		return fmt.Errorf("publish write signal: %w", err)
	}
	return nil
}
