package serving

import (
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"

	"github.com/skewfree/skewfree/features"
)

// plan is a resolved feature list: which views to read, which join keys
// they need, and where each requested feature sits in its view's value.
// Plans are immutable and cached per distinct feature list.
type plan struct {
	st       *regState // the registry the plan was made for
	raw      []string  // the feature list as requested
	refs     []features.FeatureRef
	views    []viewPlan
	joinKeys []joinKey
	cols     []colPlan // per ref
	hasFresh bool      // some view is fresh: read through fetchFresh (fresh.go)
}

type viewPlan struct {
	name        string
	key         int   // index into joinKeys
	ttl         int64 // µs; 0 = unlimited
	fingerprint string
	types       []features.Type // the view's features, in stored order
	cols        []viewCol       // the requested features of this view
	fresh       *features.View  // the view when it is fresh (served from tiles), else nil
}

// viewCol is one requested feature of a view: its column in the result
// and its position in the view's value.
type viewCol struct {
	col, pos int
}

type joinKey struct {
	name string
	typ  features.Type
}

type colPlan struct {
	view int // index into views
	pos  int // feature's position in the view's value
}

// maxPlans bounds the plan cache: feature lists come from requests, and a
// hostile caller could send endless distinct valid ones.
const maxPlans = 4096

// maxSlices bounds the slice-identity index of the plan cache.
const maxSlices = 256

// planCache finds plans by a hash of the feature list, checked against the
// list itself, so a hit costs no allocation.
// Callers usually pass the same slice every time (a constant list, a
// service's Features), so the slice's identity is tried first; the check
// against the plan's copy is cheap then, as the strings share their bytes.
type planCache struct {
	seed   maphash.Seed
	mu     sync.RWMutex
	n      int
	plans  map[uint64][]*plan
	bySlce map[sliceID]*plan
}

type sliceID struct {
	data *string
	n    int
}

func (r *regState) planFor(refs []string) (*plan, error) {
	sid := sliceID{unsafe.SliceData(refs), len(refs)}
	r.plans.mu.RLock()
	if p, ok := r.plans.bySlce[sid]; ok && slices.Equal(p.raw, refs) {
		r.plans.mu.RUnlock()
		return p, nil
	}
	r.plans.mu.RUnlock()
	var h maphash.Hash
	h.SetSeed(r.plans.seed)
	for _, ref := range refs {
		h.WriteString(ref)
		h.WriteByte(0)
	}
	id := h.Sum64()
	var found *plan
	r.plans.mu.RLock()
	for _, p := range r.plans.plans[id] {
		if slices.Equal(p.raw, refs) {
			found = p
		}
	}
	r.plans.mu.RUnlock()
	if found == nil {
		var err error
		if found, err = r.newPlan(refs); err != nil {
			return nil, err
		}
	}
	r.plans.mu.Lock()
	if r.plans.n < maxPlans && !slices.Contains(r.plans.plans[id], found) {
		r.plans.plans[id] = append(r.plans.plans[id], found)
		r.plans.n++
	}
	// Per-request slices (HTTP) fill this map up and then stop being
	// added; the long-lived slices of in-process callers come first.
	if len(r.plans.bySlce) < maxSlices {
		r.plans.bySlce[sid] = found
	}
	r.plans.mu.Unlock()
	return found, nil
}

func (r *regState) newPlan(refs []string) (*plan, error) {
	if len(refs) == 0 {
		return nil, badRequest("no features requested")
	}
	parsed, err := r.reg.ResolveRefs(refs)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	p := &plan{st: r, raw: slices.Clone(refs), refs: parsed, cols: make([]colPlan, len(parsed))}
	viewIdx := map[string]int{}
	for i, ref := range parsed {
		vi, ok := viewIdx[ref.View]
		if !ok {
			v, _ := r.reg.View(ref.View)
			ent := r.reg.EntityOf(v)
			ki := -1
			for j, k := range p.joinKeys {
				if k.name == ent.JoinKey {
					ki = j
				}
			}
			if ki < 0 {
				ki = len(p.joinKeys)
				p.joinKeys = append(p.joinKeys, joinKey{name: ent.JoinKey, typ: ent.KeyType})
			}
			vp := viewPlan{name: v.Name, key: ki, ttl: v.TTL.Microseconds(), fingerprint: r.reg.Fingerprint(v.Name)}
			for _, f := range v.Features() {
				vp.types = append(vp.types, f.Type)
			}
			if v.Fresh != nil {
				vp.fresh, p.hasFresh = v, true
			}
			vi = len(p.views)
			viewIdx[ref.View] = vi
			p.views = append(p.views, vp)
		}
		v, _ := r.reg.View(ref.View)
		for pos, f := range v.Features() {
			if f.Name == ref.Feature {
				p.cols[i] = colPlan{view: vi, pos: pos}
				p.views[vi].cols = append(p.views[vi].cols, viewCol{col: i, pos: pos})
			}
		}
	}
	return p, nil
}
