package serving

import "github.com/skewfree/skewfree/features"

// NewWithHooks is New with test hooks: beforeCacheSet runs between the
// generation check and the cache write of a fetched value, afterSignal after
// the reader handled a write signal. Either may be nil.
func NewWithHooks(reg *features.Registry, store Store, opts Options, beforeCacheSet func(key string), afterSignal func(keys []string, reset bool)) (*Reader, error) {
	return newReader(reg, store, opts, hooks{beforeCacheSet: beforeCacheSet, afterSignal: afterSignal})
}

// QueuedFetches is the number of fetches waiting in r's coalescer (0
// without Options.Coalesce).
func QueuedFetches(r *Reader) int {
	if r.coalescer == nil {
		return 0
	}
	r.coalescer.mu.Lock()
	defer r.coalescer.mu.Unlock()
	return len(r.coalescer.queue)
}
