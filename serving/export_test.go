package serving

import "github.com/skewfree/skewfree/features"

// NewWithHooks is New with test hooks: beforeCacheSet runs between the
// generation check and the cache write of a fetched value, afterSignal after
// the reader handled a write signal. Either may be nil.
func NewWithHooks(reg *features.Registry, store Store, opts Options, beforeCacheSet func(key string), afterSignal func(keys []string, reset bool)) (*Reader, error) {
	return newReader(reg, store, opts, hooks{beforeCacheSet: beforeCacheSet, afterSignal: afterSignal})
}
