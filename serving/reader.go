package serving

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// Reader reads online features. It is safe for concurrent use. Close it to
// stop its cache subscription.
type Reader struct {
	// st is the registry served, with the caches made for it; SetRegistry
	// replaces it (see swap.go).
	st         atomic.Pointer[regState]
	swapMu     sync.Mutex
	store      Store
	fetcher    fetcher // store, or a coalescer over it
	opts       Options
	coalescer  *coalescer // nil unless Options.Coalesce
	schemaWarn warnLimiter

	cache *otter.Cache[string, *entry]
	// states caches decoded tile fields of fresh views by their bytes
	// (none: Options.FreshStates < 0).
	states fieldCache
	// gen counts cache invalidations: a value fetched while one happened may
	// predate the write that caused it, so it is not cached (see store).
	gen atomic.Uint64
	// live is whether the store's write signal is known to reach us: the
	// cache is neither read nor filled while it is not.
	live   atomic.Bool
	hooks  hooks
	cancel context.CancelFunc
	done   chan struct{}

	hits, misses, storeErrors, mismatches, unreadable, defNotFound atomic.Uint64
}

// hooks let tests force interleavings; all nil outside tests.
type hooks struct {
	// beforeCacheSet runs between the generation check and the cache write
	// of a fetched value.
	beforeCacheSet func(key string)
	// afterSignal runs after the reader handled a write signal.
	afterSignal func(keys []string, reset bool)
}

// entry is one decoded (view, entity) value; immutable once cached (the
// request that decoded it stamps its epoch just before).
type entry struct {
	found bool
	epoch uint64 // of the registry it was decoded for, once cached
	h     onlinecodec.Header
	vals  []features.Value // in the registry view's order
	// missing, for a value of another definition, marks the features it
	// does not hold (by name and type): NOT_FOUND. nil: it holds them all.
	missing []bool
}

var notFound = &entry{}

// fetcher is the Fetch of a Store.
type fetcher interface {
	Fetch(ctx context.Context, keys []string, dst []string) ([]string, error)
}

// New returns a reader of reg's features from store. With a cache it starts
// a goroutine that follows the store's write signal until Close.
func New(reg *features.Registry, store Store, opts Options) (*Reader, error) {
	return newReader(reg, store, opts, hooks{})
}

func newReader(reg *features.Registry, store Store, opts Options, h hooks) (*Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	r := &Reader{store: store, fetcher: store, opts: opts, hooks: h}
	if opts.Coalesce {
		r.coalescer = newCoalescer(store, opts.MaxBatchKeys)
		r.fetcher = r.coalescer
	}
	r.st.Store(newRegState(reg, 1))
	if opts.FreshStates > 0 {
		c, err := otter.New(&otter.Options[string, cachedField]{MaximumSize: opts.FreshStates})
		if err != nil {
			return nil, fmt.Errorf("serving: fresh state cache: %w", err)
		}
		r.states = fieldCache{c}
	}
	if opts.CacheEntries > 0 {
		c, err := otter.New(&otter.Options[string, *entry]{
			MaximumSize:      opts.CacheEntries,
			ExpiryCalculator: otter.ExpiryWriting[string, *entry](opts.CacheTTL),
		})
		if err != nil {
			return nil, fmt.Errorf("serving: cache: %w", err)
		}
		r.cache = c
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel, r.done = cancel, make(chan struct{})
		go func() {
			defer close(r.done)
			_ = store.Watch(ctx, r.invalidate)
		}()
	}
	return r, nil
}

// Close stops the cache subscription. It does not close the store.
func (r *Reader) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cache.StopAllGoroutines()
	}
	if r.states.c != nil {
		r.states.c.StopAllGoroutines()
	}
	return nil
}

// invalidate follows the store's write signal (see Store.Watch): reset
// drops everything and stops caching until the signal is live again, which
// any later call says.
func (r *Reader) invalidate(keys []string, reset bool) {
	r.gen.Add(1)
	if reset {
		r.live.Store(false)
		r.cache.InvalidateAll()
	} else {
		for _, k := range keys {
			r.cache.Invalidate(k)
		}
		r.live.Store(true)
	}
	if r.hooks.afterSignal != nil {
		r.hooks.afterSignal(keys, reset)
	}
}

// cacheSet caches a value fetched while the generation was gen. The value
// may predate a write whose signal arrived since; the signal's handler
// (invalidate) bumps the generation before it drops keys, so checking the
// generation again after the write closes the race: either invalidate's
// drop comes after our write and removes it, or we see the new generation
// and remove it ourselves.
func (r *Reader) cacheSet(st *regState, key string, e *entry, gen uint64) {
	if r.gen.Load() != gen || !r.live.Load() {
		return
	}
	e = st.stamp(e)
	if r.hooks.beforeCacheSet != nil {
		r.hooks.beforeCacheSet(key)
	}
	r.cache.Set(key, e)
	if r.gen.Load() != gen {
		r.cache.Invalidate(key)
	}
}

// Stats returns the reader's counters.
func (r *Reader) Stats() Stats {
	s := Stats{CacheHits: r.hits.Load(), CacheMisses: r.misses.Load(), StoreErrors: r.storeErrors.Load(),
		FingerprintMismatches: r.mismatches.Load(), DefinitionNotFound: r.defNotFound.Load(), Unreadable: r.unreadable.Load()}
	if r.coalescer != nil {
		s.CoalescedFetches, s.CoalescedGets = r.coalescer.batches.Load(), r.coalescer.batched.Load()
	}
	return s
}

// Get reads features ("view:feature" references) for every entity row.
// Errors are *RequestError for bad requests and wrap ErrUnavailable when the
// store cannot answer.
func (r *Reader) Get(ctx context.Context, featureRefs []string, entities Entities) (*Result, error) {
	p, err := r.st.Load().planFor(featureRefs)
	if err != nil {
		return nil, err
	}
	return r.served(ctx, p, entities)
}

// served reads p for entities and, when a served log is set, hands it
// every successful answer (Get and GetService alike).
func (r *Reader) served(ctx context.Context, p *plan, entities Entities) (*Result, error) {
	res, err := r.get(ctx, p, entities)
	if err == nil && r.opts.ServedLog != nil {
		r.opts.ServedLog.Served(features.FromMicros(res.at), entities, res)
	}
	return res, err
}

// GetService reads the features of a feature service for every entity row.
func (r *Reader) GetService(ctx context.Context, service string, entities Entities) (*Result, error) {
	st := r.st.Load()
	s, ok := st.reg.Service(service)
	if !ok {
		return nil, badRequest("unknown feature service %q", service)
	}
	p, err := st.planFor(s.Features)
	if err != nil {
		return nil, err
	}
	return r.served(ctx, p, entities)
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// buffers are one call's scratch space, reused across calls so that a Get
// allocates little more than its Result.
type buffers struct {
	keyBytes []byte
	keyEnds  []int
	keys     []string
	raw      []string
	miss     []int
	entries  []*entry
	vals     []features.Value // one value's features, for views too wide for fill's stack
	status   []Status
	times    []time.Time
}

// release drops what would pin memory of this call and returns buf to the
// pool. raw and vals hold the call's values; keeping them until they are
// overwritten costs less than clearing them.
func (buf *buffers) release() {
	clear(buf.entries)
	bufPool.Put(buf)
}

// filled marks an (entity, view) whose values went straight into the
// result (see fill).
var filled = &entry{found: true}

func (r *Reader) get(ctx context.Context, p *plan, entities Entities) (*Result, error) {
	rows, err := checkEntities(p, entities)
	if err != nil {
		return nil, err
	}
	st := p.st
	buf := bufPool.Get().(*buffers)
	defer buf.release()

	// One key per (row, view), row-major, built in one buffer and turned
	// into strings with one allocation.
	nv := len(p.views)
	prefix := r.store.Prefix()
	kb, ends := buf.keyBytes[:0], buf.keyEnds[:0]
	for i := range rows {
		for _, v := range p.views {
			jk := p.joinKeys[v.key]
			kv := entities[jk.name][i]
			kb = onlinecodec.AppendKey(kb, prefix, v.name, jk.typ, features.Key{Int: kv.Int64(), Str: kv.Str()})
			ends = append(ends, len(kb))
		}
	}
	buf.keyBytes, buf.keyEnds = kb, ends
	all := string(kb)
	keys := buf.keys[:0]
	for i, e := range ends {
		s := 0
		if i > 0 {
			s = ends[i-1]
		}
		keys = append(keys, all[s:e])
	}
	buf.keys = keys
	entries := slices.Grow(buf.entries[:0], len(keys))[:len(keys)]
	buf.entries = entries
	miss := buf.miss[:0]
	if r.cache != nil && r.live.Load() {
		for i, k := range keys {
			if e, ok := r.cache.GetIfPresent(k); ok && e.epoch == st.epoch {
				entries[i] = e
			} else {
				miss = append(miss, i)
			}
		}
		r.hits.Add(uint64(len(keys) - len(miss)))
		r.misses.Add(uint64(len(miss)))
	} else {
		for i := range keys {
			miss = append(miss, i)
		}
	}
	buf.miss = miss

	res := &Result{Features: p.refs, JoinKeys: make([]string, len(p.joinKeys)), Rows: make([][]FeatureValue, rows)}
	for i, k := range p.joinKeys {
		res.JoinKeys[i] = k.name
	}
	nc := len(p.cols)
	cells := make([]FeatureValue, rows*nc)
	for i := range rows {
		res.Rows[i] = cells[i*nc : (i+1)*nc : (i+1)*nc]
	}
	var now int64 // TTLs are measured when the values have arrived
	// A request with fresh views has one request time, T, taken before the
	// read: its fresh values are computed at T (fetchFresh), and TTLs and
	// the served log use T too, so that a training set --as-known-at at the
	// logged time holds what was served (a push landing during the read
	// counts at the clock's later reading, not at T).
	var freshT time.Time
	if p.hasFresh {
		freshT = r.opts.Now()
	}

	if len(miss) > 0 {
		gen := r.gen.Load()
		var raw []string
		var err error
		if p.hasFresh {
			// Fresh views' tiles in the same round trip (fresh.go); miss
			// keeps the other positions.
			miss, raw, err = r.fetchFresh(ctx, p, freshT, entities, keys, miss, entries, buf.raw)
		} else {
			fetch := keys
			if len(miss) < len(keys) {
				fetch = make([]string, len(miss))
				for j, i := range miss {
					fetch[j] = keys[i]
				}
			}
			raw, err = r.fetcher.Fetch(ctx, fetch, buf.raw) // coalesced when Options.Coalesce
		}
		buf.raw = raw
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("serving: %w", ctx.Err())
			}
			r.storeErrors.Add(1)
			return nil, fmt.Errorf("serving: %w: %w", ErrUnavailable, err)
		}
		if p.hasFresh {
			now = features.Micros(freshT)
		} else {
			now = features.Micros(r.opts.Now())
		}
		var later []int // positions in miss of values that wait for a schema
		for j, i := range miss {
			v := &p.views[i%nv]
			if r.cache == nil && r.fill(raw[j], v, res.Rows[i/nv], now, buf) {
				entries[i] = filled
				continue
			}
			e := r.decode(st, raw[j], v, nil)
			if e == nil {
				later = append(later, j)
				continue
			}
			entries[i] = e
			if r.cache != nil {
				r.cacheSet(st, strings.Clone(keys[i]), e, gen)
			}
		}
		// Values of a definition not met before: one more round trip per
		// new fingerprint, once per process (once per request at most).
		var loaded map[schemaID]*remap
		for _, j := range later {
			i := miss[j]
			v := &p.views[i%nv]
			h, err := onlinecodec.DecodeHeader(raw[j])
			if err != nil {
				return nil, fmt.Errorf("serving: %w", err) // decode read it a moment ago
			}
			id := schemaID{v.name, h.Fingerprint}
			m, ok := loaded[id]
			if !ok {
				if m, ok = st.schemas.cached(id); !ok {
					if m, err = r.loadSchema(ctx, st, id); err != nil {
						if ctx.Err() != nil {
							return nil, fmt.Errorf("serving: %w", ctx.Err())
						}
						r.storeErrors.Add(1)
						return nil, fmt.Errorf("serving: %w: %w", ErrUnavailable, err)
					}
				}
				if loaded == nil {
					loaded = map[schemaID]*remap{}
				}
				loaded[id] = m
			}
			e := r.decodeWith(st, raw[j], v, nil, m)
			entries[i] = e
			if r.cache != nil {
				r.cacheSet(st, strings.Clone(keys[i]), e, gen)
			}
		}
	}

	if p.hasFresh {
		now = features.Micros(freshT)
	} else if len(miss) == 0 {
		now = features.Micros(r.opts.Now())
	}
	var defNotFound uint64
	// Status and event time are per (row, view): work them out once.
	status := slices.Grow(buf.status[:0], nv)[:nv]
	times := slices.Grow(buf.times[:0], nv)[:nv]
	buf.status, buf.times = status, times
	for i := range rows {
		todo := false
		for v := range nv {
			e := entries[i*nv+v]
			status[v], times[v] = NotFound, time.Time{}
			if e == filled || !e.found {
				continue
			}
			todo = true
			times[v] = features.FromMicros(e.h.EventMicros)
			if ttl := p.views[v].ttl; ttl > 0 && now-ttl > e.h.EventMicros {
				status[v] = OutsideMaxAge
			} else {
				status[v] = Present
			}
		}
		if !todo {
			continue // every cell is filled or NOT_FOUND (the zero cell)
		}
		row := res.Rows[i]
		for j, c := range p.cols {
			if status[c.view] == NotFound {
				continue
			}
			row[j].Status, row[j].EventTime = status[c.view], times[c.view]
			e := entries[i*nv+c.view]
			if e.missing != nil && e.missing[c.pos] {
				row[j].Status, row[j].EventTime = NotFound, time.Time{}
				defNotFound++
				continue
			}
			if status[c.view] == Present {
				row[j].Value = e.vals[c.pos]
			}
		}
	}
	if defNotFound > 0 {
		r.defNotFound.Add(defNotFound)
	}
	res.at = now
	return res, nil
}

// fill is the fast path of a read without a cache: it decodes a value of
// the view's current definition straight into row's cells, through a
// buffer on the stack (buf's, for views wider than it). It reports false, having written nothing, for anything
// else (missing, corrupt, another definition), which decode handles.
func (r *Reader) fill(raw string, v *viewPlan, row []FeatureValue, now int64, buf *buffers) bool {
	if raw == "" {
		return false
	}
	// Decoding onto the stack spares the write barriers that copying
	// values (they hold string pointers) into heap memory costs while the
	// collector runs, which with a small heap is most of the time.
	var (
		stack [64]features.Value
		h     onlinecodec.Header
		vals  []features.Value
		err   error
	)
	if len(v.types) <= len(stack) {
		h, vals, err = onlinecodec.Decode(raw, stack[:0])
	} else {
		h, buf.vals, err = onlinecodec.Decode(raw, buf.vals)
		vals = buf.vals
	}
	if err != nil || h.Fingerprint != v.fingerprint || len(vals) != len(v.types) {
		return false
	}
	for i, t := range v.types {
		if !vals[i].IsNull() && vals[i].Type() != t {
			return false
		}
	}
	t := features.FromMicros(h.EventMicros)
	status := Present
	if ttl := v.ttl; ttl > 0 && now-ttl > h.EventMicros {
		status = OutsideMaxAge
	}
	for _, c := range v.cols {
		cell := &row[c.col]
		cell.Status, cell.EventTime = status, t
		if status == Present {
			cell.Value = vals[c.pos]
		}
	}
	return true
}

// decode turns a raw value into an entry, checking it against the view's
// current definition. The entry owns its values (strings share raw's memory),
// so it can be cached and shared.
// dst, when not nil, is where the values go (unless the value was written by
// another definition). It returns nil for a value of another definition
// whose schema is not cached yet: load it and decode again.
func (r *Reader) decode(st *regState, raw string, v *viewPlan, dst []features.Value) *entry {
	return r.decodeWith(st, raw, v, dst, nil)
}

// decodeWith is decode with m, when not nil, the remap of the value's
// definition if it is another one.
func (r *Reader) decodeWith(st *regState, raw string, v *viewPlan, dst []features.Value, m *remap) *entry {
	if raw == "" {
		return notFound
	}
	if dst == nil {
		dst = make([]features.Value, 0, len(v.types))
	}
	h, vals, err := onlinecodec.Decode(raw, dst)
	if err != nil {
		r.unreadable.Add(1)
		r.opts.Logger.Warn("serving: unreadable online value", "view", v.name, "err", err)
		return notFound
	}
	if h.Fingerprint == v.fingerprint {
		// The writer checked the layout; this keeps a corrupt value from
		// indexing out of range, or a value from being served as a type
		// its feature does not have.
		if len(vals) != len(v.types) {
			r.unreadable.Add(1)
			return notFound
		}
		for i, t := range v.types {
			if !vals[i].IsNull() && vals[i].Type() != t {
				r.unreadable.Add(1)
				return notFound
			}
		}
		return &entry{found: true, h: h, vals: vals}
	}
	if r.opts.StrictFingerprint {
		m = &remap{} // nothing matches
	} else if m == nil {
		var ok bool
		if m, ok = st.schemas.cached(schemaID{v.name, h.Fingerprint}); !ok {
			return nil
		}
	}
	r.mismatches.Add(1)
	return r.foreign(m, v, &entry{h: h, vals: vals})
}

// checkEntities validates the entity columns against the plan and returns
// the number of rows.
func checkEntities(p *plan, entities Entities) (int, error) {
	rows := -1
	for _, k := range p.joinKeys {
		col, ok := entities[k.name]
		if !ok {
			return 0, badRequest("missing join key %q (needed by the requested features)", k.name)
		}
		if rows >= 0 && len(col) != rows {
			return 0, badRequest("join key %q has %d values, %q has %d: every entity column needs one value per row", k.name, len(col), p.joinKeys[0].name, rows)
		}
		rows = len(col)
		for i, v := range col {
			if v.Type() != k.typ {
				got := "null"
				if !v.IsNull() {
					got = v.Type().String()
				}
				return 0, badRequest("join key %q value %d: want %s, got %s", k.name, i, k.typ, got)
			}
		}
	}
	if len(entities) > len(p.joinKeys) {
		for name := range entities {
			needed := false
			for _, k := range p.joinKeys {
				needed = needed || k.name == name
			}
			if !needed {
				return 0, badRequest("entity column %q is not a join key of any requested feature's view", name)
			}
		}
	}
	if rows == 0 {
		return 0, badRequest("no entity rows given")
	}
	return rows, nil
}
