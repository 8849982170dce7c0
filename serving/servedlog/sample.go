package servedlog

import (
	"math"

	"github.com/skewfree/skewfree/features"
)

// Sampled reports whether rows with this entity key are logged at rate: a
// fixed hash of the key (the same in every process and release) against
// the rate, so a key is always in or always out, and raising the rate only
// adds keys.
func Sampled(key features.Value, rate float64) bool {
	return keyHash(key)>>11 < threshold(rate)
}

func (l *Logger) sampled(key features.Value) bool { return keyHash(key)>>11 < l.threshold }

// threshold maps a rate to 53-bit hash space: rate 1 takes every hash.
func threshold(rate float64) uint64 {
	if !(rate > 0) {
		return 0
	}
	if rate >= 1 {
		return 1 << 53
	}
	return uint64(math.Round(rate * (1 << 53)))
}

// keyHash is FNV-1a over the key's type and bytes, then a 64-bit finalizer
// (splitmix64's) so that similar keys ("u000001", "u000002") spread over
// the high bits the threshold reads.
func keyHash(v features.Value) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(v.Type())) * prime
	switch v.Type() {
	case features.String:
		s := v.Str()
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	default:
		x := uint64(v.Int64())
		for range 8 {
			h = (h ^ (x & 0xff)) * prime
			x >>= 8
		}
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
