// Package push ingests raw source events for fresh (streaming) feature
// views, as docs/format/fresh.md describes: a request carries one source's
// events column-wise, in the shape of Feast's push API, with an idempotency
// id. Each accepted request gets one ingest time (a retry of its id reuses
// it), is appended durably to the source's raw files (so training sets and
// batch windows read the very same events) and then merged into each
// entity's tiles in Redis (so serving sees it), and is acknowledged only
// when both are durable.
//
// The HTTP endpoint (Handler, POST /push) runs in its own process
// (push/server) or in `dev`; the reader service does not link it.
package push

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/redis"
)

// Request is one push: events of the source named Source, column-wise as
// in Feast's push API ({"push_source_name": ..., "df": {column: [values]}}).
// Columns holds the source's event time column (Times builds it) and every
// field of the source, each with one value per row; values must be null or
// of the field's type.
type Request struct {
	Source    string
	RequestID string // idempotency id, required: a retry carries the same id and events
	Columns   map[string][]features.Value
}

// Times is an event time column for a Request (µs precision, UTC).
func Times(ts ...time.Time) []features.Value {
	out := make([]features.Value, len(ts))
	for i, t := range ts {
		out[i] = features.IntValue(features.Micros(t))
	}
	return out
}

// Result says what a push stored.
type Result struct {
	Rows   int
	Ingest time.Time // the request's ingest time: its events count for reads at Ingest or later
	// Replayed is true when the request id had been claimed before (a
	// retry): the first claim's ingest time is reused and the same files
	// and tile fields are rewritten.
	Replayed bool
	Files    []string // written, relative to the source root
	Tiles    int      // tile fields written
	Folded   int      // tiles folded after the write (Options.FoldAfter)
}

// ErrConflict is wrapped by Push's error when the request id was used
// before for different events (HTTP 409).
var ErrConflict = errors.New("push: request id already used with different events")

// ErrUnavailable is wrapped by Push's error when a store failed; the
// request may be retried with the same id (HTTP 503).
var ErrUnavailable = errors.New("push: store unavailable")

// Offline is where pushed events are appended; *parquet.Sources implements it.
type Offline interface {
	AppendPush(ctx context.Context, src *features.Source, f *features.Frame, ingest time.Time, requestID string) ([]parquet.Partition, error)
}

// Online holds the push claims and the tiles; *redis.Store implements it.
type Online interface {
	Prefix() string
	ClaimPush(ctx context.Context, source, requestID string, digest [sha256.Size]byte, ingest time.Time, ttl time.Duration) (time.Time, bool, error)
	WriteFoldTiles(ctx context.Context, ws []redis.TileWrite, fold redis.TileFold) (redis.FoldStats, error)
}

var (
	_ Offline = (*parquet.Sources)(nil)
	_ Online  = (*redis.Store)(nil)
)

// Options configure a Pusher. The zero value is valid: every field
// documents its default.
type Options struct {
	// Now is the clock ingest times come from. Default time.Now.
	Now func() time.Time
	// MaxRows bounds the rows of one request. Default 10000.
	MaxRows int
	// ClaimTTL is how long a request id is remembered: a retry within it
	// reuses the first ingest time; a later one is a new request. Default
	// 24h.
	ClaimTTL time.Duration
	// FoldAfter is the fold horizon: once a tile a push writes holds
	// FoldFields request fields ingested FoldAfter or longer before the
	// push's clock, they are folded into one
	// (docs/format/fresh.md, "Folding"), so reads decode a few states per
	// tile instead of one per request. Reads stay exact at any T no older
	// than FoldAfter before the newest push: it must exceed how far a
	// reader's clock may lag the pushers' (and a request's duration).
	// Default 1m; negative: never fold.
	FoldAfter time.Duration
	// FoldFields is how many foldable fields a tile must hold for a push
	// that writes it to fold them. Default 4.
	FoldFields int
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.MaxRows < 0 || o.ClaimTTL < 0 || o.FoldFields < 0 {
		return fmt.Errorf("push: limits must not be negative")
	}
	return nil
}

func (o *Options) init() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxRows == 0 {
		o.MaxRows = 10000
	}
	if o.ClaimTTL == 0 {
		o.ClaimTTL = 24 * time.Hour
	}
	if o.FoldAfter == 0 {
		o.FoldAfter = time.Minute
	}
	if o.FoldFields == 0 {
		o.FoldFields = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Pusher accepts pushes for the fresh views of a registry. It is safe for
// concurrent use.
type Pusher struct {
	reg     *features.Registry
	offline Offline
	online  Online
	opts    Options
}

// New returns a pusher writing events to offline and tiles to online.
func New(reg *features.Registry, offline Offline, online Online, opts Options) (*Pusher, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	return &Pusher{reg: reg, offline: offline, online: online, opts: opts}, nil
}

// Push validates req, claims its id, appends its events to the source's
// raw files, then merges them into the fresh views' tiles; it returns once
// both are durable. A bad request (*RequestError) writes nothing. Any other
// error leaves the request safe to retry with the same id and events: the
// retry gets the first ingest time and rewrites the same file and fields.
func (p *Pusher) Push(ctx context.Context, req Request) (Result, error) {
	src, ok := p.reg.Source(req.Source)
	if !ok {
		return Result{}, badRequest("push: unknown source %q", req.Source)
	}
	fresh := p.freshViews(src)
	if len(fresh) == 0 {
		return Result{}, badRequest("push: source %q feeds no fresh view: declare a view with Fresh on it to push its events", src.Name)
	}
	now := p.opts.Now().UTC().Truncate(time.Microsecond)
	f, err := p.frame(&req, src, fresh, features.Micros(now))
	if err != nil {
		return Result{}, err
	}
	sum := digest(src.Name, f)
	ingest, first, err := p.online.ClaimPush(ctx, src.Name, req.RequestID, sum, now, p.opts.ClaimTTL)
	if errors.Is(err, redis.ErrPushConflict) {
		return Result{}, fmt.Errorf("%w: source %s, request id %q", ErrConflict, src.Name, req.RequestID)
	}
	if err != nil {
		return Result{}, fmt.Errorf("push: %w: %w", ErrUnavailable, err)
	}
	res := Result{Rows: f.Len(), Ingest: ingest, Replayed: !first}
	// Offline first: an acknowledged event is in the raw files, which
	// training sets read; a failure below leaves a request that a retry
	// completes (same ingest time, same file names).
	parts, err := p.offline.AppendPush(ctx, src, f, ingest, req.RequestID)
	if err != nil {
		return Result{}, fmt.Errorf("push: %w: %w", ErrUnavailable, err)
	}
	for _, pt := range parts {
		res.Files = append(res.Files, pt.Path)
	}
	ws, err := p.tiles(fresh, f, ingest, req.RequestID)
	if err != nil {
		return Result{}, err
	}
	var fold redis.TileFold
	if p.opts.FoldAfter > 0 {
		// The horizon counts from this push's clock, not the (possibly
		// older, replayed) ingest time: older fields are what reads at or
		// after now - FoldAfter all count.
		fold = redis.TileFold{Through: now.Add(-p.opts.FoldAfter), MinFields: p.opts.FoldFields}
	}
	fs, err := p.online.WriteFoldTiles(ctx, ws, fold)
	if err != nil {
		return Result{}, fmt.Errorf("push: %w: %w", ErrUnavailable, err)
	}
	if fs.Err != nil { // the tiles are written: folding is only an optimization
		p.opts.Logger.Warn("push: folding tiles failed", "source", src.Name, "tiles", fs.Failed, "err", fs.Err)
	}
	res.Tiles = len(ws)
	res.Folded = fs.Tiles
	return res, nil
}

func (p *Pusher) freshViews(src *features.Source) []*features.View {
	var out []*features.View
	for _, v := range p.reg.Views() {
		if v.Fresh != nil && v.Source == src.Name {
			out = append(out, v)
		}
	}
	return out
}

// tiles computes, per fresh view, entity and tile, the state of the
// request's events there, as fields named by TileFieldName (ingest time and
// request id, as the request's file name). Tiles that no
// read at or after the ingest time can cover are left out (they would
// expire at once); offline they count at no such time either.
func (p *Pusher) tiles(views []*features.View, f *features.Frame, ingest time.Time, requestID string) ([]redis.TileWrite, error) {
	var ws []redis.TileWrite
	in := features.Micros(ingest)
	for _, v := range views {
		ent := p.reg.EntityOf(v)
		kc := f.Column(ent.JoinKey)
		span := features.FreshRetention(v).Microseconds()
		type group struct {
			key   features.Key
			start int64
		}
		rows := map[group][]int{}
		var order []group
		for i, t := range f.Time {
			g := group{kc.KeyAt(i), features.TileStart(v, t)}
			if g.start+span <= in {
				continue
			}
			if _, ok := rows[g]; !ok {
				order = append(order, g)
			}
			rows[g] = append(rows[g], i)
		}
		fp := p.reg.Fingerprint(v.Name)
		field := TileFieldName(ingest, requestID)
		for _, g := range order {
			st := features.NewTileState(v)
			if err := st.AddEvents(v, f, rows[g]); err != nil {
				return nil, fmt.Errorf("push: %s tile state: %w", v.Name, err)
			}
			state, err := st.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("push: %s tile state: %w", v.Name, err)
			}
			val, err := onlinecodec.AppendTileField(nil, onlinecodec.TileField{IngestMicros: in, Fingerprint: fp, State: state})
			if err != nil {
				return nil, fmt.Errorf("push: %s: %w", v.Name, err)
			}
			ws = append(ws, redis.TileWrite{
				Key:      onlinecodec.TileKey(p.online.Prefix(), v.Name, ent.KeyType, g.key, g.start),
				Field:    field,
				Value:    val,
				ExpireAt: features.FromMicros(g.start + span),
				Ingest:   ingest,
				View:     v.Name,
			})
		}
	}
	return ws, nil
}

// TileFieldName names one request's field in a tile: its ingest time (µs
// since the epoch, decimal), ":", its request id. A retry of a claimed
// request (same ingest time) rewrites the same field, as it rewrites the
// same file; after the claim has expired (ClaimTTL, or a Redis that lost
// it) the id is a new request with a new ingest time, and its events get
// a field of their own, as they get a file of their own. Keyed by the
// request id alone, the later request overwrote the earlier one's field
// (tiles outlive claims when the longest window exceeds ClaimTTL, and a
// late retry lands in the same tiles), so serving counted events once, or
// lost them, while the source files (and training sets) held both.
func TileFieldName(ingest time.Time, requestID string) string {
	return strconv.FormatInt(features.Micros(ingest), 10) + ":" + requestID
}
