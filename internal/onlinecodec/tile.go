package onlinecodec

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/skewfree/skewfree/features"
)

// TileKey returns the Redis key of one tile of a fresh view: the HASH
// holding, per push request, that request's events of one entity with event
// time in [start, start+tile):
//
//	<prefix>:v1:{<t>:<entity key>}:<view>:<tile start, µs since the epoch, decimal>
//
// It is Key plus ":" and the tile start: view names never hold ":", so it
// cannot collide with a view's value key, and it shares the entity's hash
// tag, so one entity's tiles and values live in one cluster slot.
func TileKey(prefix, view string, keyType features.Type, k features.Key, start int64) string {
	base := Key(prefix, view, keyType, k)
	b := make([]byte, 0, len(base)+21)
	b = append(b, base...)
	b = append(b, ':')
	b = strconv.AppendInt(b, start, 10)
	return string(b)
}

// tileVersion is the first byte of a tile field's value.
const tileVersion = 1

// TileField is one push request's contribution to one tile: when the
// request was ingested, which definition encoded its state, and the state
// (features.TileState's MarshalBinary).
type TileField struct {
	IngestMicros int64
	Fingerprint  string
	State        []byte
}

// AppendTileField encodes f: version 0x01, ingest µs (8 bytes big-endian,
// two's complement), fingerprint length (1 byte) and bytes, then the state.
func AppendTileField(dst []byte, f TileField) ([]byte, error) {
	if len(f.Fingerprint) > MaxFingerprint {
		return dst, fmt.Errorf("online codec: fingerprint of %d bytes exceeds %d", len(f.Fingerprint), MaxFingerprint)
	}
	dst = append(dst, tileVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.IngestMicros))
	dst = append(dst, byte(len(f.Fingerprint)))
	dst = append(dst, f.Fingerprint...)
	return append(dst, f.State...), nil
}

// DecodeTileField is the inverse of AppendTileField. State points into s.
func DecodeTileField(s string) (TileField, error) {
	if len(s) < 10 || s[0] != tileVersion {
		return TileField{}, fmt.Errorf("online codec: %w: bad tile field header", ErrCorrupt)
	}
	f := TileField{IngestMicros: int64(binary.BigEndian.Uint64([]byte(s[1:9])))}
	n := int(s[9])
	if len(s) < 10+n {
		return TileField{}, fmt.Errorf("online codec: %w: truncated tile field fingerprint", ErrCorrupt)
	}
	f.Fingerprint = s[10 : 10+n]
	f.State = []byte(s[10+n:])
	return f, nil
}

// TileFoldField is the tile field holding the folded state of older
// requests (docs/format/fresh.md, "Folding"): the empty name, which no
// request id can have.
const TileFoldField = ""

// TileRequestsKey is the Redis sorted set indexing a tile's requests:
// member = request id, score = its ingest time (µs), or -1 once the request
// is folded into TileFoldField, so that a retry of a folded request is not
// counted twice and a writer finds the fields it may fold without reading
// them. The tile's key plus ":requests" (same hash tag, same cluster slot,
// same expiry).
func TileRequestsKey(tileKey string) string { return tileKey + ":requests" }
