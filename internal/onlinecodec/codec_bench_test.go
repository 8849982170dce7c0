package onlinecodec_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// row50 is a 50-feature row cycling int64, float64, string and bool, with
// every fifth value null: the benchmark shape.
func row50() (onlinecodec.Header, []features.Value, []features.Type) {
	h := onlinecodec.Header{EventMicros: 1763596800000000, CreatedMicros: 1763600400123456, Fingerprint: "3f2a9c01d4e5b6a7"}
	types := []features.Type{features.Int64, features.Float64, features.String, features.Bool}
	vals := make([]features.Value, 50)
	ts := make([]features.Type, 50)
	for j := range vals {
		ts[j] = types[j%4]
		if j%5 == 4 {
			continue
		}
		switch ts[j] {
		case features.Int64:
			vals[j] = features.IntValue(int64(j * 37))
		case features.Float64:
			vals[j] = features.FloatValue(float64(j) * 12.25)
		case features.String:
			vals[j] = features.StringValue("value-" + strconv.Itoa(j))
		case features.Bool:
			vals[j] = features.BoolValue(j%3 == 0)
		}
	}
	return h, vals, ts
}

// The JSON contender: the same typed, null-aware content; types come from
// the view's schema on decode, as they would have to.
type jsonRow struct {
	Event       int64  `json:"e"`
	Created     int64  `json:"c"`
	Fingerprint string `json:"f"`
	Values      []any  `json:"v"`
}

func jsonEncode(dst []byte, h onlinecodec.Header, vals []features.Value) ([]byte, error) {
	r := jsonRow{Event: h.EventMicros, Created: h.CreatedMicros, Fingerprint: h.Fingerprint, Values: make([]any, len(vals))}
	for i, v := range vals {
		r.Values[i] = v.Any()
	}
	return json.Marshal(r)
}

func jsonDecode(b []byte, types []features.Type, dst []features.Value) (onlinecodec.Header, []features.Value, error) {
	var r struct {
		Event       int64             `json:"e"`
		Created     int64             `json:"c"`
		Fingerprint string            `json:"f"`
		Values      []json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return onlinecodec.Header{}, nil, err
	}
	dst = dst[:0]
	for i, raw := range r.Values {
		if string(raw) == "null" {
			dst = append(dst, features.Null)
			continue
		}
		switch types[i] {
		case features.Int64:
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return onlinecodec.Header{}, nil, err
			}
			dst = append(dst, features.IntValue(n))
		case features.Float64:
			f, err := strconv.ParseFloat(string(raw), 64)
			if err != nil {
				return onlinecodec.Header{}, nil, err
			}
			dst = append(dst, features.FloatValue(f))
		case features.String:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return onlinecodec.Header{}, nil, err
			}
			dst = append(dst, features.StringValue(s))
		case features.Bool:
			dst = append(dst, features.BoolValue(string(raw) == "true"))
		}
	}
	return onlinecodec.Header{EventMicros: r.Event, CreatedMicros: r.Created, Fingerprint: r.Fingerprint}, dst, nil
}

// The protobuf contender, written with protowire: exactly the bytes (and
// about the speed) of generated code for
//
//	message Row { int64 event = 1; int64 created = 2; string fingerprint = 3; repeated Value values = 4; }
//	message Value { oneof kind { sint64 i = 2; double f = 3; string s = 4; bool b = 5; } } // empty = null
func protoEncode(dst []byte, h onlinecodec.Header, vals []features.Value) []byte {
	dst = protowire.AppendTag(dst, 1, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(h.EventMicros))
	dst = protowire.AppendTag(dst, 2, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(h.CreatedMicros))
	dst = protowire.AppendTag(dst, 3, protowire.BytesType)
	dst = protowire.AppendString(dst, h.Fingerprint)
	var v1 []byte
	for _, v := range vals {
		v1 = v1[:0]
		switch v.Type() {
		case features.Int64:
			v1 = protowire.AppendTag(v1, 2, protowire.VarintType)
			v1 = protowire.AppendVarint(v1, protowire.EncodeZigZag(v.Int64()))
		case features.Float64:
			v1 = protowire.AppendTag(v1, 3, protowire.Fixed64Type)
			v1 = protowire.AppendFixed64(v1, math.Float64bits(v.Float64()))
		case features.String:
			v1 = protowire.AppendTag(v1, 4, protowire.BytesType)
			v1 = protowire.AppendString(v1, v.Str())
		case features.Bool:
			v1 = protowire.AppendTag(v1, 5, protowire.VarintType)
			v1 = protowire.AppendVarint(v1, protowire.EncodeBool(v.Bool()))
		}
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendBytes(dst, v1)
	}
	return dst
}

func protoDecode(b []byte, dst []features.Value) (onlinecodec.Header, []features.Value, error) {
	var h onlinecodec.Header
	dst = dst[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h, nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, nil, protowire.ParseError(n)
			}
			h.EventMicros, b = int64(v), b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, nil, protowire.ParseError(n)
			}
			h.CreatedMicros, b = int64(v), b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return h, nil, protowire.ParseError(n)
			}
			h.Fingerprint, b = v, b[n:]
		case num == 4 && typ == protowire.BytesType:
			m, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return h, nil, protowire.ParseError(n)
			}
			b = b[n:]
			val := features.Null
			for len(m) > 0 {
				vn, vt, k := protowire.ConsumeTag(m)
				if k < 0 {
					return h, nil, protowire.ParseError(k)
				}
				m = m[k:]
				switch {
				case vn == 2 && vt == protowire.VarintType:
					x, k := protowire.ConsumeVarint(m)
					if k < 0 {
						return h, nil, protowire.ParseError(k)
					}
					val, m = features.IntValue(protowire.DecodeZigZag(x)), m[k:]
				case vn == 3 && vt == protowire.Fixed64Type:
					x, k := protowire.ConsumeFixed64(m)
					if k < 0 {
						return h, nil, protowire.ParseError(k)
					}
					val, m = features.FloatValue(math.Float64frombits(x)), m[k:]
				case vn == 4 && vt == protowire.BytesType:
					x, k := protowire.ConsumeString(m)
					if k < 0 {
						return h, nil, protowire.ParseError(k)
					}
					val, m = features.StringValue(x), m[k:]
				case vn == 5 && vt == protowire.VarintType:
					x, k := protowire.ConsumeVarint(m)
					if k < 0 {
						return h, nil, protowire.ParseError(k)
					}
					val, m = features.BoolValue(x != 0), m[k:]
				default:
					return h, nil, fmt.Errorf("unexpected field %d", vn)
				}
			}
			dst = append(dst, val)
		default:
			return h, nil, fmt.Errorf("unexpected field %d", num)
		}
	}
	return h, dst, nil
}

// BenchmarkCodec compares our encoding with JSON and protobuf on one
// 50-feature row: ns/op for encode and decode, and bytes/row. Decoding
// starts from a Go string for ours (what go-redis returns, so no copy) and
// from []byte for the others (what their decoders take).
func BenchmarkCodec(b *testing.B) {
	h, vals, types := row50()
	bin, _ := onlinecodec.Append(nil, h, vals)
	js, _ := jsonEncode(nil, h, vals)
	pb := protoEncode(nil, h, vals)
	// All three must carry the same content.
	for name, dec := range map[string]func() (onlinecodec.Header, []features.Value, error){
		"binary":   func() (onlinecodec.Header, []features.Value, error) { return onlinecodec.Decode(string(bin), nil) },
		"json":     func() (onlinecodec.Header, []features.Value, error) { return jsonDecode(js, types, nil) },
		"protobuf": func() (onlinecodec.Header, []features.Value, error) { return protoDecode(pb, nil) },
	} {
		gh, gv, err := dec()
		if err != nil || gh != h || len(gv) != len(vals) {
			b.Fatalf("%s round trip: %v", name, err)
		}
		for i := range gv {
			if !gv[i].Equal(vals[i]) {
				b.Fatalf("%s value %d: %v vs %v", name, i, gv[i], vals[i])
			}
		}
	}
	dst := make([]features.Value, 0, 50)
	var buf []byte
	b.Run("encode/binary", func(b *testing.B) {
		for b.Loop() {
			buf, _ = onlinecodec.Append(buf[:0], h, vals)
		}
		b.ReportMetric(float64(len(bin)), "bytes/row")
	})
	b.Run("encode/json", func(b *testing.B) {
		for b.Loop() {
			buf, _ = jsonEncode(buf[:0], h, vals)
		}
		b.ReportMetric(float64(len(js)), "bytes/row")
	})
	b.Run("encode/protobuf", func(b *testing.B) {
		for b.Loop() {
			buf = protoEncode(buf[:0], h, vals)
		}
		b.ReportMetric(float64(len(pb)), "bytes/row")
	})
	s := string(bin)
	b.Run("decode/binary", func(b *testing.B) {
		for b.Loop() {
			_, dst, _ = onlinecodec.Decode(s, dst)
		}
		b.ReportMetric(float64(len(bin)), "bytes/row")
	})
	b.Run("decode/json", func(b *testing.B) {
		for b.Loop() {
			_, dst, _ = jsonDecode(js, types, dst)
		}
		b.ReportMetric(float64(len(js)), "bytes/row")
	})
	b.Run("decode/protobuf", func(b *testing.B) {
		for b.Loop() {
			_, dst, _ = protoDecode(pb, dst)
		}
		b.ReportMetric(float64(len(pb)), "bytes/row")
	})
}
