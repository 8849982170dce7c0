package serving

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/skewfree/skewfree/features"
)

// A value whose fingerprint differs from the registry's was written by
// another definition of its view. Its features are served by name and type,
// through the schema the writer published for its fingerprint: a remap per
// (view, fingerprint), cached for good since a fingerprint's schema never
// changes.

// maxSchemas bounds the schema cache: fingerprints come from stored values,
// and a corrupt or hostile value could carry any.
const maxSchemas = 1024

// schemaRetry is how long a missing schema is remembered as missing before
// the store is asked again (a writer may publish it later).
const schemaRetry = 10 * time.Second

type schemaID struct{ view, fingerprint string }

// remap maps a stored layout onto the registry's view.
type remap struct {
	known  bool            // false: no schema published; every feature NOT_FOUND
	stored []features.Type // the stored features' types, in stored order
	pos    []int           // per registry feature: its position in the stored value, -1 if absent
	at     time.Time       // when an unknown schema was last asked for
}

type schemaCache struct {
	mu sync.RWMutex
	m  map[schemaID]*remap
}

// cached returns the remap of (view, fingerprint) if it is known, or known
// to be missing and asked for recently.
func (c *schemaCache) cached(id schemaID) (*remap, bool) {
	c.mu.RLock()
	m, ok := c.m[id]
	c.mu.RUnlock()
	if ok && !m.known && time.Since(m.at) > schemaRetry {
		return nil, false
	}
	return m, ok
}

func (c *schemaCache) put(id schemaID, m *remap) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[schemaID]*remap{}
	}
	if _, ok := c.m[id]; ok || len(c.m) < maxSchemas {
		c.m[id] = m
	}
	c.mu.Unlock()
}

// loadSchema asks the store for the schema of (view, fingerprint), builds
// its remap onto the registry's view and caches it.
func (r *Reader) loadSchema(ctx context.Context, id schemaID) (*remap, error) {
	m := &remap{at: time.Now()}
	if ss, ok := r.store.(SchemaStore); ok {
		feats, found, err := ss.Schema(ctx, id.view, id.fingerprint)
		if err != nil {
			return nil, fmt.Errorf("schema of %s definition %s: %w", id.view, id.fingerprint, err)
		}
		if found {
			v, _ := r.reg.View(id.view)
			m.known = true
			m.stored = make([]features.Type, len(feats))
			for i, f := range feats {
				m.stored[i] = f.Type
			}
			for _, want := range v.Features() {
				p := -1
				for i, f := range feats {
					if f.Name == want.Name && f.Type == want.Type {
						p = i
						break
					}
				}
				m.pos = append(m.pos, p)
			}
		}
	}
	if !m.known {
		r.opts.Logger.Warn("serving: online values of another definition with no published schema: NOT_FOUND until rewritten",
			"view", id.view, "fingerprint", id.fingerprint)
	}
	r.schemas.put(id, m)
	return m, nil
}

// foreign decodes a value written by another definition into the registry
// view's order, marking the features that definition lacks.
func (r *Reader) foreign(m *remap, v *viewPlan, e *entry) *entry {
	missing := make([]bool, len(v.types))
	if !m.known || r.opts.StrictFingerprint {
		for i := range missing {
			missing[i] = true
		}
		return &entry{found: true, h: e.h, vals: make([]features.Value, len(v.types)), missing: missing}
	}
	if len(e.vals) != len(m.stored) {
		r.unreadable.Add(1)
		return notFound
	}
	for i, t := range m.stored {
		if !e.vals[i].IsNull() && e.vals[i].Type() != t {
			r.unreadable.Add(1)
			return notFound
		}
	}
	vals := make([]features.Value, len(v.types))
	for i, p := range m.pos {
		if p < 0 {
			missing[i] = true
		} else {
			vals[i] = e.vals[p]
		}
	}
	return &entry{found: true, h: e.h, vals: vals, missing: missing}
}
