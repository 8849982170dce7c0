// Package onlinecodec is the versioned binary encoding of Skewfree's online
// values and keys, shared by the Redis store (which writes them) and the
// serving library (which reads them). Its byte layout is a contract between
// deployed writers and readers, written down in docs/format/online.md: change
// it only by adding a new version, never by editing version 1.
//
// It is internal because users must not depend on it: the only supported way
// to read online values is the serving library.
package onlinecodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/skewfree/skewfree/features"
)

// Version is the format version this package writes; it is the first byte of
// every value.
const Version = 1

// Byte offsets of the ordering header, which the store's Lua script compares
// without decoding the rest of the value (see docs/format/online.md).
const (
	OrderOffset = 1  // first byte of event_timestamp
	OrderLen    = 16 // event_timestamp then created_timestamp, 8 bytes each
	headerLen   = 1 + OrderLen + 1
)

// MaxFingerprint is the longest fingerprint a value can carry.
const MaxFingerprint = 255

// Tags of a feature slot: one nibble per feature. Booleans live entirely in
// their tag, so they cost half a byte and nulls cost nothing but their tag.
const (
	tagNull   = 0
	tagInt    = 1
	tagFloat  = 2
	tagString = 3
	tagFalse  = 4
	tagTrue   = 5
)

// ErrCorrupt is returned (wrapped) for values that are not valid encodings.
var ErrCorrupt = errors.New("corrupt online value")

// Header is what every value carries besides its features.
type Header struct {
	EventMicros   int64  // event_timestamp, µs since the Unix epoch, UTC
	CreatedMicros int64  // created_timestamp; breaks event_timestamp ties
	Fingerprint   string // the definition fingerprint of the view that computed it
}

// orderBytes maps an int64 to 8 bytes whose byte order is the numeric order,
// so the Lua script can compare timestamps as raw bytes.
func orderBytes(b []byte, v int64) { binary.BigEndian.PutUint64(b, uint64(v)^(1<<63)) }

func fromOrderBytes(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// Append appends the encoding of (h, vals) to dst and returns it. It fails
// only for a fingerprint longer than MaxFingerprint.
func Append(dst []byte, h Header, vals []features.Value) ([]byte, error) {
	if len(h.Fingerprint) > MaxFingerprint {
		return dst, fmt.Errorf("online codec: fingerprint of %d bytes exceeds %d", len(h.Fingerprint), MaxFingerprint)
	}
	var hdr [headerLen]byte
	hdr[0] = Version
	orderBytes(hdr[1:9], h.EventMicros)
	orderBytes(hdr[9:17], h.CreatedMicros)
	hdr[17] = byte(len(h.Fingerprint))
	dst = append(dst, hdr[:]...)
	dst = append(dst, h.Fingerprint...)
	dst = binary.AppendUvarint(dst, uint64(len(vals)))
	tags := len(dst)
	for range (len(vals) + 1) / 2 {
		dst = append(dst, 0)
	}
	for i, v := range vals {
		var tag byte
		switch v.Type() {
		case features.Int64:
			tag = tagInt
			dst = binary.AppendVarint(dst, v.Int64())
		case features.Float64:
			tag = tagFloat
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Float64()))
		case features.String:
			tag = tagString
			dst = binary.AppendUvarint(dst, uint64(len(v.Str())))
			dst = append(dst, v.Str()...)
		case features.Bool:
			tag = tagFalse
			if v.Bool() {
				tag = tagTrue
			}
		}
		dst[tags+i/2] |= tag << (4 * (i % 2))
	}
	return dst, nil
}

// DecodeHeader decodes only the header of a value.
func DecodeHeader(s string) (Header, error) {
	h, _, err := decodeHeader(s)
	return h, err
}

func decodeHeader(s string) (Header, int, error) {
	if len(s) < headerLen {
		return Header{}, 0, fmt.Errorf("online codec: %w: %d bytes is shorter than the header", ErrCorrupt, len(s))
	}
	if s[0] != Version {
		return Header{}, 0, fmt.Errorf("online codec: %w: unknown version %d", ErrCorrupt, s[0])
	}
	var b [OrderLen]byte
	copy(b[:], s[OrderOffset:OrderOffset+OrderLen])
	h := Header{EventMicros: fromOrderBytes(b[:8]), CreatedMicros: fromOrderBytes(b[8:])}
	n := int(s[headerLen-1])
	if len(s) < headerLen+n {
		return Header{}, 0, fmt.Errorf("online codec: %w: truncated fingerprint", ErrCorrupt)
	}
	h.Fingerprint = s[headerLen : headerLen+n]
	return h, headerLen + n, nil
}

// Decode decodes a value, appending its features to dst[:0]. Strings in the
// result share memory with s (no copies), so s must not be modified; Go
// strings never are. Decode never panics on bad input: it returns an error
// wrapping ErrCorrupt.
func Decode(s string, dst []features.Value) (Header, []features.Value, error) {
	h, p, err := decodeHeader(s)
	if err != nil {
		return h, dst[:0], err
	}
	n, w := uvarint(s[p:])
	if w <= 0 {
		return h, dst[:0], fmt.Errorf("online codec: %w: bad feature count", ErrCorrupt)
	}
	p += w
	// Every feature takes at least its half-byte tag, so n is bounded by the
	// input and a hostile count cannot make us allocate.
	if n > uint64(2*(len(s)-p)) {
		return h, dst[:0], fmt.Errorf("online codec: %w: %d features in %d bytes", ErrCorrupt, n, len(s)-p)
	}
	tags := s[p : p+int(n+1)/2]
	p += len(tags)
	dst = dst[:0]
	for i := range int(n) {
		tag := tags[i/2] >> (4 * (i % 2)) & 0xf
		switch tag {
		case tagNull:
			dst = append(dst, features.Null)
		case tagFalse, tagTrue:
			dst = append(dst, features.BoolValue(tag == tagTrue))
		case tagInt:
			v, w := varint(s[p:])
			if w <= 0 {
				return h, dst[:0], fmt.Errorf("online codec: %w: bad int64 of feature %d", ErrCorrupt, i)
			}
			p += w
			dst = append(dst, features.IntValue(v))
		case tagFloat:
			if len(s)-p < 8 {
				return h, dst[:0], fmt.Errorf("online codec: %w: truncated float64 of feature %d", ErrCorrupt, i)
			}
			var b [8]byte
			copy(b[:], s[p:p+8])
			p += 8
			dst = append(dst, features.FloatValue(math.Float64frombits(binary.LittleEndian.Uint64(b[:]))))
		case tagString:
			l, w := uvarint(s[p:])
			if w <= 0 || l > uint64(len(s)-p-w) {
				return h, dst[:0], fmt.Errorf("online codec: %w: bad string of feature %d", ErrCorrupt, i)
			}
			p += w
			dst = append(dst, features.StringValue(s[p:p+int(l)]))
			p += int(l)
		default:
			return h, dst[:0], fmt.Errorf("online codec: %w: unknown tag %d of feature %d", ErrCorrupt, tag, i)
		}
	}
	if n%2 == 1 && tags[len(tags)-1]>>4 != 0 {
		return h, dst[:0], fmt.Errorf("online codec: %w: padding nibble set", ErrCorrupt)
	}
	if p != len(s) {
		return h, dst[:0], fmt.Errorf("online codec: %w: %d trailing bytes", ErrCorrupt, len(s)-p)
	}
	return h, dst, nil
}

// uvarint and varint read from a string without converting it to bytes.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}
