package features

import (
	"encoding/binary"
	"hash/fnv"
)

// ShardOf assigns row's entity key to one of n shards. It is FNV-1a over a
// fixed encoding (a string's bytes; an int64 as 8 little-endian bytes), so
// every worker process agrees on it: the shards of one window are computed
// by different workers, and source readers filter by it while decoding.
func ShardOf(key *Column, row, n int) int {
	h := fnv.New64a()
	if key.Type == String {
		h.Write([]byte(key.Strings[row]))
	} else {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(key.Ints[row]))
		h.Write(b[:])
	}
	return int(h.Sum64() % uint64(n))
}
