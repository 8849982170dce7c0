package serving

import (
	"hash/maphash"

	"github.com/skewfree/skewfree/features"
)

// regState is one registry a Reader serves, with everything derived from
// it: the plans (views, positions and fingerprints resolved against it) and
// the remaps of other definitions' values onto its views. It is replaced
// whole by SetRegistry, never changed in place, so a request that started
// on one registry finishes on it.
type regState struct {
	reg     *features.Registry
	epoch   uint64 // distinguishes the cache entries decoded for it
	plans   planCache
	schemas schemaCache
	// notFound is notFound as cached for this registry.
	notFound *entry
}

func newRegState(reg *features.Registry, epoch uint64) *regState {
	return &regState{reg: reg, epoch: epoch, schemas: newSchemaCache(), notFound: &entry{epoch: epoch},
		plans: planCache{seed: maphash.MakeSeed(), plans: map[uint64][]*plan{}, bySlce: map[sliceID]*plan{}}}
}

// stamp marks a freshly decoded entry as this registry's before it is
// cached. Entries hold values in the order of the view they were decoded
// for, and cached ones are used only by requests on the same registry: a
// request that started before a swap may still cache what it read, and a
// request after the swap must not use it.
func (st *regState) stamp(e *entry) *entry {
	if e == notFound {
		return st.notFound
	}
	e.epoch = st.epoch
	return e
}

// Registry returns the registry the reader serves now. Requests already
// running may still finish on the one before.
func (r *Reader) Registry() *features.Registry { return r.st.Load().reg }

// SetRegistry makes the reader serve reg from now on: requests that start
// after it returns resolve features, join keys, services, TTLs and
// fingerprints against reg, while requests in flight finish on the registry
// they started with. Plans and the remaps of other definitions' values are
// rebuilt for reg as requests need them, and cached values decoded for the
// old registry are dropped. It is safe to call while requests run; reg must
// not change afterwards.
func (r *Reader) SetRegistry(reg *features.Registry) {
	r.swapMu.Lock()
	defer r.swapMu.Unlock()
	old := r.st.Load()
	r.st.Store(newRegState(reg, old.epoch+1))
	if r.cache != nil {
		// Entries of the old epoch are misses already; this frees them.
		r.cache.InvalidateAll()
	}
}
