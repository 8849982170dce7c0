package onlinecodec_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    onlinecodec.Header
		vals []features.Value
	}{
		{"empty", onlinecodec.Header{}, nil},
		{"negative times", onlinecodec.Header{EventMicros: -5, CreatedMicros: math.MinInt64, Fingerprint: "x"}, []features.Value{features.Null}},
		{"every type, odd count", onlinecodec.Header{EventMicros: 1763596800000000, CreatedMicros: 1763600000000000, Fingerprint: "0123456789abcdef"},
			[]features.Value{features.IntValue(-1), features.IntValue(math.MaxInt64), features.FloatValue(math.NaN()), features.FloatValue(math.Inf(-1)),
				features.StringValue(""), features.StringValue("héllo\x00}{"), features.BoolValue(true), features.BoolValue(false), features.Null}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := onlinecodec.Append(nil, tc.h, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			h, vals, err := onlinecodec.Decode(string(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.h {
				t.Errorf("header %+v, want %+v", h, tc.h)
			}
			if len(vals) != len(tc.vals) {
				t.Fatalf("%d values, want %d", len(vals), len(tc.vals))
			}
			for i := range vals {
				if !vals[i].Equal(tc.vals[i]) {
					t.Errorf("value %d: %v, want %v", i, vals[i], tc.vals[i])
				}
			}
		})
	}
}

// The ordering header must sort bytewise like the numbers, since the Lua
// script compares bytes.
func TestOrderHeaderSortsLikeNumbers(t *testing.T) {
	nums := []int64{math.MinInt64, -1 << 40, -1, 0, 1, 1 << 40, math.MaxInt64}
	var prev string
	for i, n := range nums {
		b, _ := onlinecodec.Append(nil, onlinecodec.Header{EventMicros: n}, nil)
		cur := string(b[onlinecodec.OrderOffset : onlinecodec.OrderOffset+onlinecodec.OrderLen])
		if i > 0 && prev >= cur {
			t.Fatalf("%d does not sort after %d", n, nums[i-1])
		}
		prev = cur
	}
}

func TestDecodeRejectsCorrupt(t *testing.T) {
	good, _ := onlinecodec.Append(nil, onlinecodec.Header{Fingerprint: "fp"}, []features.Value{features.StringValue("abc"), features.IntValue(300)})
	tests := map[string]string{
		"empty":          "",
		"bad version":    "\x02" + string(good[1:]),
		"truncated":      string(good[:len(good)-1]),
		"trailing":       string(good) + "x",
		"huge count":     string(good[:20]) + "\xff\xff\xff\xff\x0f",
		"fingerprint":    string(good[:17]) + "\xff",
		"bad tag":        string(good[:21]) + "\x0f" + string(good[22:]),
		"padding nibble": string(mustAppend(t, []features.Value{features.Null}))[:19] + "\x10",
	}
	for name, in := range tests {
		if _, _, err := onlinecodec.Decode(in, nil); !errors.Is(err, onlinecodec.ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := onlinecodec.Append(nil, onlinecodec.Header{Fingerprint: strings.Repeat("x", 256)}, nil); err == nil {
		t.Error("long fingerprint accepted")
	}
}

func mustAppend(t *testing.T, vals []features.Value) []byte {
	b, err := onlinecodec.Append(nil, onlinecodec.Header{}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyAndSignal(t *testing.T) {
	ks := onlinecodec.Key("sf", "user_orders", features.String, features.Key{Str: "u1"})
	ki := onlinecodec.Key("sf", "product_sales", features.Int64, features.Key{Int: -42})
	if ks != "sf:v1:{s:u1}:user_orders" || ki != "sf:v1:{i:-42}:product_sales" {
		t.Fatalf("keys %q %q", ks, ki)
	}
	keys := []string{ks, ki, "", "a\nb"}
	got, err := onlinecodec.DecodeSignal(string(onlinecodec.AppendSignal(nil, keys)))
	if err != nil || strings.Join(got, "|") != strings.Join(keys, "|") || len(got) != len(keys) {
		t.Fatalf("signal round trip: %q %v", got, err)
	}
	for _, bad := range []string{"", "\x02", "\x01\x05", "\x01\x01\x05ab"} {
		if _, err := onlinecodec.DecodeSignal(bad); err == nil {
			t.Errorf("signal %q accepted", bad)
		}
	}
	if onlinecodec.CheckPrefix("a}") == nil || onlinecodec.CheckPrefix("") == nil || onlinecodec.CheckPrefix("sf:prod") != nil {
		t.Error("CheckPrefix")
	}
}

// FuzzCodec checks that Decode never panics and that whatever it accepts
// re-encodes to a value that decodes the same.
func FuzzCodec(f *testing.F) {
	seed, _ := onlinecodec.Append(nil, onlinecodec.Header{EventMicros: 1, CreatedMicros: 2, Fingerprint: "abc"},
		[]features.Value{features.IntValue(5), features.FloatValue(1.5), features.StringValue("x"), features.BoolValue(true), features.Null})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(append([]byte(nil), seed[:len(seed)-3]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, vals, err := onlinecodec.Decode(string(b), nil)
		if err != nil {
			return
		}
		again, err := onlinecodec.Append(nil, h, vals)
		if err != nil {
			t.Fatal(err)
		}
		h2, vals2, err := onlinecodec.Decode(string(again), nil)
		if err != nil || h2 != h || len(vals2) != len(vals) {
			t.Fatalf("re-encoding changed the value: %v", err)
		}
		for i := range vals {
			if !vals[i].Equal(vals2[i]) {
				t.Fatalf("value %d: %v vs %v", i, vals[i], vals2[i])
			}
		}
		_, _ = onlinecodec.DecodeSignal(string(b))
	})
}
