package serving

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/skewfree/skewfree/features"
)

// plan is a resolved feature list: which views to read, which join keys
// they need, and where each requested feature sits in its view's value.
// Plans are immutable and cached per distinct feature list.
type plan struct {
	raw      []string // the feature list as requested
	refs     []features.FeatureRef
	views    []viewPlan
	joinKeys []joinKey
	cols     []colPlan // per ref
}

type viewPlan struct {
	name        string
	key         int   // index into joinKeys
	ttl         int64 // µs; 0 = unlimited
	fingerprint string
	types       []features.Type // the view's features, in stored order
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

// planCache finds plans by a hash of the feature list, checked against the
// list itself, so a hit costs no allocation.
type planCache struct {
	seed  maphash.Seed
	mu    sync.RWMutex
	n     int
	plans map[uint64][]*plan
}

func (r *Reader) planFor(refs []string) (*plan, error) {
	var h maphash.Hash
	h.SetSeed(r.plans.seed)
	for _, ref := range refs {
		h.WriteString(ref)
		h.WriteByte(0)
	}
	id := h.Sum64()
	r.plans.mu.RLock()
	for _, p := range r.plans.plans[id] {
		if slices.Equal(p.raw, refs) {
			r.plans.mu.RUnlock()
			return p, nil
		}
	}
	r.plans.mu.RUnlock()
	p, err := r.newPlan(refs)
	if err != nil {
		return nil, err
	}
	r.plans.mu.Lock()
	if r.plans.n < maxPlans {
		r.plans.plans[id] = append(r.plans.plans[id], p)
		r.plans.n++
	}
	r.plans.mu.Unlock()
	return p, nil
}

func (r *Reader) newPlan(refs []string) (*plan, error) {
	if len(refs) == 0 {
		return nil, badRequest("no features requested")
	}
	parsed, err := r.reg.ResolveRefs(refs)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	p := &plan{raw: slices.Clone(refs), refs: parsed, cols: make([]colPlan, len(parsed))}
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
			vi = len(p.views)
			viewIdx[ref.View] = vi
			p.views = append(p.views, vp)
		}
		v, _ := r.reg.View(ref.View)
		for pos, f := range v.Features() {
			if f.Name == ref.Feature {
				p.cols[i] = colPlan{view: vi, pos: pos}
			}
		}
	}
	return p, nil
}
