package features

import (
	"cmp"
	"slices"
)

// keyIDs numbers distinct entity keys densely in ascending key order. Both
// the transform (grouping events) and the join (bucketing entity rows) need
// it: key order makes outputs deterministic and lets input sorted by key
// walk the numbered state front to back.
type keyIDs[K cmp.Ordered] struct {
	ids    map[K]int32
	sorted []K // sorted[id] is the key of id
}

// numberKeys numbers the keys of the rows where use(i) holds, and returns
// each row's id (-1 for the others).
func numberKeys[K cmp.Ordered](keys []K, use func(int) bool) (keyIDs[K], []int32) {
	k := keyIDs[K]{ids: make(map[K]int32)}
	rowID := make([]int32, len(keys))
	for i, key := range keys {
		rowID[i] = -1
		if !use(i) {
			continue
		}
		id, ok := k.ids[key]
		if !ok {
			id = int32(len(k.ids))
			k.ids[key] = id
		}
		rowID[i] = id
	}
	k.sorted = make([]K, 0, len(k.ids))
	for key := range k.ids {
		k.sorted = append(k.sorted, key)
	}
	slices.Sort(k.sorted)
	perm := make([]int32, len(k.sorted))
	for rank, key := range k.sorted {
		perm[k.ids[key]] = int32(rank)
		k.ids[key] = int32(rank)
	}
	for i, id := range rowID {
		if id >= 0 {
			rowID[i] = perm[id]
		}
	}
	return k, rowID
}

// lookup returns key's id or -1. prev is the id found for the previous
// row: for input sorted by key the answer is prev or prev+1, with no map
// access.
func (k *keyIDs[K]) lookup(key K, prev int32) int32 {
	switch {
	case prev >= 0 && k.sorted[prev] == key:
		return prev
	case prev+1 < int32(len(k.sorted)) && k.sorted[prev+1] == key:
		return prev + 1
	}
	if id, ok := k.ids[key]; ok {
		return id
	}
	return -1
}

// numberColumn numbers the keys of a key column (int64 or string) for the
// rows where use(i) holds and the key is not null.
func numberColumn(c *Column, use func(int) bool) (ints keyIDs[int64], strs keyIDs[string], rowID []int32, n int32) {
	valid := func(i int) bool { return c.Valid[i] && use(i) }
	if c.Type == String {
		strs, rowID = numberKeys(c.Strings, valid)
		return ints, strs, rowID, int32(len(strs.sorted))
	}
	ints, rowID = numberKeys(c.Ints, valid)
	return ints, strs, rowID, int32(len(ints.sorted))
}
