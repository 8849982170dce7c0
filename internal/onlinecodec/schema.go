package onlinecodec

import (
	"encoding/binary"
	"fmt"

	"github.com/skewfree/skewfree/features"
)

// SchemaKey returns the Redis key holding the schema (feature names and
// types, in stored order) of the values a definition of view writes:
//
//	<prefix>:schema:<view>:<fingerprint>
//
// A fingerprint names one definition, so the schema under it never changes:
// writers set it once (SET NX) and readers cache it for good. The key is
// read and written alone, so it needs no hash tag on a cluster.
func SchemaKey(prefix, view, fingerprint string) string {
	return prefix + ":schema:" + view + ":" + fingerprint
}

// schemaVersion is the first byte of an encoded schema.
const schemaVersion = 1

// AppendSchema encodes the features a value holds, in stored order: a
// version byte, a uvarint count, then per feature its name and its type's
// name (features.Type.String), each as uvarint length + bytes. Type names
// rather than numbers keep the encoding independent of features.Type's
// numbering.
func AppendSchema(dst []byte, feats []features.Feature) []byte {
	dst = append(dst, schemaVersion)
	dst = binary.AppendUvarint(dst, uint64(len(feats)))
	for _, f := range feats {
		dst = binary.AppendUvarint(dst, uint64(len(f.Name)))
		dst = append(dst, f.Name...)
		t := f.Type.String()
		dst = binary.AppendUvarint(dst, uint64(len(t)))
		dst = append(dst, t...)
	}
	return dst
}

// DecodeSchema is the inverse of AppendSchema: the features' names and
// types, in stored order. It never panics on bad input: it returns an error
// wrapping ErrCorrupt.
func DecodeSchema(s string) ([]features.Feature, error) {
	if len(s) == 0 || s[0] != schemaVersion {
		return nil, fmt.Errorf("online codec: %w: bad schema version", ErrCorrupt)
	}
	p := 1
	n, w := uvarint(s[p:])
	if w <= 0 || n > uint64(len(s)) {
		return nil, fmt.Errorf("online codec: %w: bad schema feature count", ErrCorrupt)
	}
	p += w
	next := func() (string, bool) {
		l, w := uvarint(s[p:])
		if w <= 0 || l > uint64(len(s)-p-w) {
			return "", false
		}
		p += w
		out := s[p : p+int(l)]
		p += int(l)
		return out, true
	}
	feats := make([]features.Feature, 0, n)
	for i := range n {
		name, ok := next()
		if !ok {
			return nil, fmt.Errorf("online codec: %w: bad name of schema feature %d", ErrCorrupt, i)
		}
		tname, ok := next()
		if !ok {
			return nil, fmt.Errorf("online codec: %w: bad type of schema feature %d", ErrCorrupt, i)
		}
		t, err := features.ParseType(tname)
		if err != nil {
			return nil, fmt.Errorf("online codec: %w: schema feature %q: %w", ErrCorrupt, name, err)
		}
		feats = append(feats, features.Feature{Name: name, Type: t})
	}
	if p != len(s) {
		return nil, fmt.Errorf("online codec: %w: trailing bytes in schema", ErrCorrupt)
	}
	return feats, nil
}
