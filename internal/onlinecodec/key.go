package onlinecodec

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/skewfree/skewfree/features"
)

// Key returns the Redis key of one (view, entity key) value:
//
//	<prefix>:v1:{<t>:<entity key>}:<view>
//
// where <t> is "s" for string keys and "i" for int64 keys (decimal). The
// hash tag is the entity key, not the view, so that one entity's views share
// a cluster slot (a single-entity read touches one node) while different
// entities spread over the cluster. Redis takes the tag up to the first "}",
// so a string key holding "}" still maps all its views to one slot, and the
// key stays unambiguous because view names never hold "}".
func Key(prefix, view string, keyType features.Type, k features.Key) string {
	var num [20]byte
	b := make([]byte, 0, len(prefix)+len(view)+len(k.Str)+len(num)+8)
	return string(AppendKey(b, prefix, view, keyType, k))
}

// AppendKey appends Key(prefix, view, keyType, k) to dst and returns it, so
// a reader can build a request's keys in one buffer.
func AppendKey(dst []byte, prefix, view string, keyType features.Type, k features.Key) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, ":v1:{"...)
	if keyType == features.String {
		dst = append(dst, "s:"...)
		dst = append(dst, k.Str...)
	} else {
		dst = append(dst, "i:"...)
		dst = strconv.AppendInt(dst, k.Int, 10)
	}
	dst = append(dst, "}:"...)
	return append(dst, view...)
}

// CheckPrefix reports whether prefix can start keys: it must be non-empty
// and must not hold "{" or "}", which would move the cluster hash tag.
func CheckPrefix(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("online key prefix %q is invalid: want a non-empty string without { or }", prefix)
	}
	return nil
}

// Channel is the pub/sub channel on which a store announces the keys each
// write batch changed.
func Channel(prefix string) string { return "skewfree:writes:" + prefix }

// signalVersion is the first byte of a write signal.
const signalVersion = 1

// AppendSignal encodes the keys a write batch changed as a pub/sub message:
// a version byte, a uvarint count, then each key as uvarint length + bytes.
// Keys may hold any bytes (string entity keys are arbitrary), hence no text
// separator.
func AppendSignal(dst []byte, keys []string) []byte {
	dst = append(dst, signalVersion)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
	}
	return dst
}

// DecodeSignal is the inverse of AppendSignal.
func DecodeSignal(s string) ([]string, error) {
	if len(s) == 0 || s[0] != signalVersion {
		return nil, fmt.Errorf("online codec: %w: bad write signal version", ErrCorrupt)
	}
	p := 1
	n, w := uvarint(s[p:])
	if w <= 0 || n > uint64(len(s)) {
		return nil, fmt.Errorf("online codec: %w: bad write signal count", ErrCorrupt)
	}
	p += w
	keys := make([]string, 0, n)
	for range n {
		l, w := uvarint(s[p:])
		if w <= 0 || l > uint64(len(s)-p-w) {
			return nil, fmt.Errorf("online codec: %w: bad write signal key", ErrCorrupt)
		}
		p += w
		keys = append(keys, s[p:p+int(l)])
		p += int(l)
	}
	if p != len(s) {
		return nil, fmt.Errorf("online codec: %w: trailing bytes in write signal", ErrCorrupt)
	}
	return keys, nil
}
