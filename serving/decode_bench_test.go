package serving_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
)

// memStore serves encoded values from memory: with it, a benchmark
// measures the reader's own work (keys, decoding, the result) without a
// network round trip.
type memStore struct{ vals map[string]string }

func (m *memStore) Prefix() string { return "sf" }

func (m *memStore) Fetch(_ context.Context, keys []string, dst []string) ([]string, error) {
	dst = dst[:0]
	for _, k := range keys {
		dst = append(dst, m.vals[k])
	}
	return dst, nil
}

func (m *memStore) Watch(ctx context.Context, _ func([]string, bool)) error {
	<-ctx.Done()
	return nil
}

// newMemStore encodes, for every view of reg and every user, the values
// testenv.Sample(1) gives.
func newMemStore(tb testing.TB, reg *features.Registry, users []string, now time.Time) *memStore {
	m := &memStore{vals: map[string]string{}}
	fill := testenv.Sample(1)
	for _, v := range reg.Views() {
		h := onlinecodec.Header{EventMicros: features.Micros(now), CreatedMicros: features.Micros(now), Fingerprint: reg.Fingerprint(v.Name)}
		for i, u := range users {
			var vals []features.Value
			for j, f := range v.Features() {
				vals = append(vals, fill(j, i, f))
			}
			b, err := onlinecodec.Append(nil, h, vals)
			if err != nil {
				tb.Fatal(err)
			}
			m.vals[onlinecodec.Key("sf", v.Name, features.String, features.Key{Str: u})] = string(b)
		}
	}
	return m
}

// BenchmarkGetDecode measures Get against an in-memory store (5 views × 50
// features, all requested): the CPU cost the reader adds to a Redis round
// trip, per entity count.
func BenchmarkGetDecode(b *testing.B) {
	reg := testenv.WideRegistry(5, 50, 0)
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("u%06d", i)
	}
	store := newMemStore(b, reg, users, time.Now().UTC())
	var refs []string
	for _, v := range reg.Views() {
		for _, f := range v.Features() {
			refs = append(refs, v.Name+":"+f.Name)
		}
	}
	r, err := serving.New(reg, store, serving.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, entities := range []int{1, 100} {
		b.Run(fmt.Sprintf("entities=%d", entities), func(b *testing.B) {
			ents := serving.Entities{"user_id": serving.StringKeys(users[:entities]...)}
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Get(ctx, refs, ents)
				if err != nil || res.Rows[0][0].Status != serving.Present {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entities*len(refs)), "ns/value")
		})
	}
}
