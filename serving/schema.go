package serving

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// A value whose fingerprint differs from the registry's was written by
// another definition of its view. Its features are served by name and type,
// through the schema the writer published for its fingerprint: a remap per
// (view, fingerprint), cached for good since a fingerprint's schema never
// changes.

// maxSchemas bounds each of the schema cache's two sets (published schemas,
// and fingerprints without a readable one): fingerprints come from stored
// values, and a corrupt or hostile value could carry any.
const maxSchemas = 1024

// schemaRetry is how long a missing or corrupt schema is remembered as such
// before the store is asked again (a writer may publish it later), and how
// often at most the reader warns about them.
const schemaRetry = 10 * time.Second

type schemaID struct{ view, fingerprint string }

// remap maps a stored layout onto the registry's view.
type remap struct {
	known   bool            // false: no schema published; every feature NOT_FOUND
	corrupt bool            // the published schema is unreadable: the values are NOT_FOUND and Unreadable
	stored  []features.Type // the stored features' types, in stored order
	pos     []int           // per registry feature: its position in the stored value, -1 if absent
	at      time.Time       // when an unknown schema was last asked for
}

// schemaCache holds published schemas and, apart, fingerprints known to
// have none (or a corrupt one), so that junk fingerprints never crowd out
// the schemas of real definitions. Each set is a bounded otter cache without
// expiry (so no clean-up goroutine); a negative entry is stale once older
// than schemaRetry.
type schemaCache struct {
	pos, neg *otter.Cache[schemaID, *remap]
}

func newSchemaCache() schemaCache {
	o := &otter.Options[schemaID, *remap]{MaximumSize: maxSchemas}
	return schemaCache{pos: otter.Must(o), neg: otter.Must(o)}
}

// cached returns the remap of (view, fingerprint) if it is known, or known
// to be missing and asked for recently.
func (c *schemaCache) cached(id schemaID) (*remap, bool) {
	if m, ok := c.pos.GetIfPresent(id); ok {
		return m, true
	}
	if m, ok := c.neg.GetIfPresent(id); ok && time.Since(m.at) <= schemaRetry {
		return m, true
	}
	return nil, false
}

func (c *schemaCache) put(id schemaID, m *remap) {
	if m.known {
		c.neg.Invalidate(id)
		c.pos.Set(id, m)
		return
	}
	c.neg.Set(id, m)
}

// warnLimiter lets through at most one warning per schemaRetry, telling how
// many it held back: a flood of junk fingerprints logs a line now and then,
// not one per value.
type warnLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *warnLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); l.last.IsZero() || now.Sub(l.last) >= schemaRetry {
		l.last, suppressed, l.suppressed = now, l.suppressed, 0
		return true, suppressed
	}
	l.suppressed++
	return false, 0
}

// loadSchema asks the store for the schema of (view, fingerprint), builds
// its remap onto the registry's view and caches it. It returns the remap
// even when the cache keeps none: use it. Only a failing store is an error;
// a missing or corrupt schema is a remap that serves nothing.
func (r *Reader) loadSchema(ctx context.Context, st *regState, id schemaID) (*remap, error) {
	m := &remap{at: time.Now()}
	if ss, ok := r.store.(SchemaStore); ok {
		feats, found, err := ss.Schema(ctx, id.view, id.fingerprint)
		switch {
		case errors.Is(err, onlinecodec.ErrCorrupt):
			m.corrupt = true
			if warn, held := r.schemaWarn.allow(); warn {
				r.opts.Logger.Warn("serving: unreadable schema of another definition: its online values are NOT_FOUND until rewritten",
					"view", id.view, "fingerprint", id.fingerprint, "err", err, "warnings_held_back", held)
			}
			st.schemas.put(id, m)
			return m, nil
		case err != nil:
			return nil, fmt.Errorf("schema of %s definition %s: %w", id.view, id.fingerprint, err)
		case found:
			v, _ := st.reg.View(id.view)
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
		if warn, held := r.schemaWarn.allow(); warn {
			r.opts.Logger.Warn("serving: online values of another definition with no published schema: NOT_FOUND until rewritten",
				"view", id.view, "fingerprint", id.fingerprint, "warnings_held_back", held)
		}
	}
	st.schemas.put(id, m)
	return m, nil
}

// foreign decodes a value written by another definition into the registry
// view's order, marking the features that definition lacks.
func (r *Reader) foreign(m *remap, v *viewPlan, e *entry) *entry {
	if m.corrupt {
		r.unreadable.Add(1)
		return notFound
	}
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
