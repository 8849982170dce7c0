package serving

import (
	"context"
	"fmt"
	"hash/maphash"
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
	reg   *features.Registry
	store Store
	opts  Options
	plans planCache

	cache *otter.Cache[string, *entry]
	// gen counts cache invalidations: a value fetched while one happened may
	// predate the write that caused it, so it is not cached.
	gen    atomic.Uint64
	cancel context.CancelFunc
	done   chan struct{}

	hits, misses, storeErrors, mismatches, unreadable atomic.Uint64
}

// entry is one decoded (view, entity) value; immutable once built.
type entry struct {
	found bool
	h     onlinecodec.Header
	vals  []features.Value
}

var notFound = &entry{}

// New returns a reader of reg's features from store. With a cache it starts
// a goroutine that follows the store's write signal until Close.
func New(reg *features.Registry, store Store, opts Options) (*Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	r := &Reader{reg: reg, store: store, opts: opts, plans: planCache{seed: maphash.MakeSeed(), plans: map[uint64][]*plan{}, bySlce: map[sliceID]*plan{}}}
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
	return nil
}

func (r *Reader) invalidate(keys []string, reset bool) {
	r.gen.Add(1)
	if reset {
		r.cache.InvalidateAll()
		return
	}
	for _, k := range keys {
		r.cache.Invalidate(k)
	}
}

// Stats returns the reader's counters.
func (r *Reader) Stats() Stats {
	return Stats{CacheHits: r.hits.Load(), CacheMisses: r.misses.Load(), StoreErrors: r.storeErrors.Load(),
		FingerprintMismatches: r.mismatches.Load(), Unreadable: r.unreadable.Load()}
}

// Get reads features ("view:feature" references) for every entity row.
// Errors are *RequestError for bad requests and wrap ErrUnavailable when the
// store cannot answer.
func (r *Reader) Get(ctx context.Context, featureRefs []string, entities Entities) (*Result, error) {
	p, err := r.planFor(featureRefs)
	if err != nil {
		return nil, err
	}
	return r.get(ctx, p, entities)
}

// GetService reads the features of a feature service for every entity row.
func (r *Reader) GetService(ctx context.Context, service string, entities Entities) (*Result, error) {
	s, ok := r.reg.Service(service)
	if !ok {
		return nil, badRequest("unknown feature service %q", service)
	}
	return r.Get(ctx, s.Features, entities)
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

type buffers struct {
	keys, raw []string
	miss      []int
}

func (r *Reader) get(ctx context.Context, p *plan, entities Entities) (*Result, error) {
	rows, err := checkEntities(p, entities)
	if err != nil {
		return nil, err
	}
	buf := bufPool.Get().(*buffers)
	defer bufPool.Put(buf)

	// One key per (row, view), row-major.
	nv := len(p.views)
	keys := buf.keys[:0]
	for i := range rows {
		for _, v := range p.views {
			jk := p.joinKeys[v.key]
			kv := entities[jk.name][i]
			keys = append(keys, onlinecodec.Key(r.store.Prefix(), v.name, jk.typ, features.Key{Int: kv.Int64(), Str: kv.Str()}))
		}
	}
	buf.keys = keys
	entries := make([]*entry, len(keys))
	miss := buf.miss[:0]
	if r.cache != nil {
		for i, k := range keys {
			if e, ok := r.cache.GetIfPresent(k); ok {
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
	if len(miss) > 0 {
		gen := r.gen.Load()
		fetch := keys
		if len(miss) < len(keys) {
			fetch = make([]string, len(miss))
			for j, i := range miss {
				fetch[j] = keys[i]
			}
		}
		raw, err := r.store.Fetch(ctx, fetch, buf.raw)
		buf.raw = raw
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("serving: %w", ctx.Err())
			}
			r.storeErrors.Add(1)
			return nil, fmt.Errorf("serving: %w: %w", ErrUnavailable, err)
		}
		// Without a cache, entries live only for this call: decode them all
		// into one slice rather than one allocation each. (Cached entries
		// get their own, or one would pin a whole request's values.)
		var backing []features.Value
		if r.cache == nil {
			n := 0
			for _, i := range miss {
				n += len(p.views[i%nv].types)
			}
			backing = make([]features.Value, 0, n)
		}
		for j, i := range miss {
			var dst []features.Value
			if backing != nil {
				dst = backing[len(backing):len(backing):cap(backing)]
			}
			e := r.decode(raw[j], &p.views[i%nv], dst)
			if backing != nil && e.found {
				backing = backing[:len(backing)+len(e.vals)]
			}
			entries[i] = e
			if r.cache != nil && r.gen.Load() == gen {
				r.cache.Set(keys[i], e)
			}
		}
	}

	res := &Result{Features: p.refs, JoinKeys: make([]string, len(p.joinKeys)), Rows: make([][]FeatureValue, rows)}
	for i, k := range p.joinKeys {
		res.JoinKeys[i] = k.name
	}
	now := features.Micros(r.opts.Now())
	cells := make([]FeatureValue, rows*len(p.cols))
	// Status and event time are per (row, view): work them out once.
	status := make([]Status, nv)
	times := make([]time.Time, nv)
	for i := range rows {
		for v := range nv {
			e := entries[i*nv+v]
			status[v], times[v] = NotFound, time.Time{}
			if !e.found {
				continue
			}
			times[v] = features.FromMicros(e.h.EventMicros)
			if ttl := p.views[v].ttl; ttl > 0 && now-ttl > e.h.EventMicros {
				status[v] = OutsideMaxAge
			} else {
				status[v] = Present
			}
		}
		row := cells[i*len(p.cols) : (i+1)*len(p.cols) : (i+1)*len(p.cols)]
		for j, c := range p.cols {
			row[j].Status, row[j].EventTime = status[c.view], times[c.view]
			if status[c.view] == Present {
				row[j].Value = entries[i*nv+c.view].vals[c.pos]
			}
		}
		res.Rows[i] = row
	}
	return res, nil
}

// decode turns a raw value into an entry, checking it against the view's
// current definition. The entry owns its values (strings share raw's memory),
// so it can be cached and shared.
// dst, when not nil, is where the values go.
func (r *Reader) decode(raw string, v *viewPlan, dst []features.Value) *entry {
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
	if h.Fingerprint != v.fingerprint {
		r.mismatches.Add(1)
		if r.opts.StrictFingerprint {
			return notFound
		}
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
	}
	return &entry{found: true, h: h, vals: vals}
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
