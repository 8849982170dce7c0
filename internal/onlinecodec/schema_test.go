package onlinecodec_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

func TestSchemaRoundTrip(t *testing.T) {
	for _, feats := range [][]features.Feature{
		nil,
		{{Name: "a", Type: features.Int64}},
		{{Name: "orders_7d", Type: features.Int64}, {Name: "spend", Type: features.Float64}, {Name: "", Type: features.String}, {Name: "vip", Type: features.Bool}},
	} {
		enc := onlinecodec.AppendSchema(nil, feats)
		got, err := onlinecodec.DecodeSchema(string(enc))
		if err != nil || !slices.Equal(got, append([]features.Feature{}, feats...)) {
			t.Errorf("%v: decoded %v, %v", feats, got, err)
		}
		// Every strict prefix and any trailing byte are rejected.
		for n := range len(enc) {
			if _, err := onlinecodec.DecodeSchema(string(enc[:n])); !errors.Is(err, onlinecodec.ErrCorrupt) {
				t.Errorf("%v: prefix of %d bytes: %v", feats, n, err)
			}
		}
		if _, err := onlinecodec.DecodeSchema(string(enc) + "x"); !errors.Is(err, onlinecodec.ErrCorrupt) {
			t.Errorf("%v: trailing byte accepted", feats)
		}
	}
	bad := onlinecodec.AppendSchema(nil, []features.Feature{{Name: "a", Type: features.Invalid}})
	if _, err := onlinecodec.DecodeSchema(string(bad)); !errors.Is(err, onlinecodec.ErrCorrupt) {
		t.Errorf("unknown type accepted: %v", err)
	}
	if k := onlinecodec.SchemaKey("sf", "user_orders", "abc"); k != "sf:schema:user_orders:abc" {
		t.Errorf("SchemaKey %q", k)
	}
}

func FuzzDecodeSchema(f *testing.F) {
	f.Add(string(onlinecodec.AppendSchema(nil, []features.Feature{{Name: "a", Type: features.Int64}, {Name: "b", Type: features.Bool}})))
	f.Add("\x01\xff\xff\xff\xff\x0f")
	f.Fuzz(func(t *testing.T, s string) {
		feats, err := onlinecodec.DecodeSchema(s)
		if err != nil {
			return
		}
		// (Varints need not be minimal, so s itself may differ.)
		again, err := onlinecodec.DecodeSchema(string(onlinecodec.AppendSchema(nil, feats)))
		if err != nil || !slices.Equal(again, feats) {
			t.Fatalf("%q decodes to %v, which does not round-trip: %v %v", s, feats, again, err)
		}
	})
}
