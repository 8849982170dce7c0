package features_test

import (
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
)

// A reader on the published catalog knows the fresh views: same
// aggregations, tile and fingerprint, and it computes the same values from
// the same tiles as the registry's code.
func TestPublishedCatalogCarriesFreshViews(t *testing.T) {
	code := demo.Registry()
	_, doc, err := code.PublishedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := features.RegistryFromPublished(doc)
	if err != nil {
		t.Fatal(err)
	}
	fresh := 0
	for _, cv := range code.Views() {
		pv, _ := pub.View(cv.Name)
		if cv.IsFresh() != pv.IsFresh() {
			t.Fatalf("%s: fresh %v, published %v", cv.Name, cv.IsFresh(), pv.IsFresh())
		}
		if !cv.IsFresh() {
			continue
		}
		fresh++
		if *cv.Fresh != *pv.Fresh || len(cv.Aggregations) != len(pv.Aggregations) || code.Fingerprint(cv.Name) != pub.Fingerprint(cv.Name) {
			t.Fatalf("%s: published %+v, want %+v", cv.Name, pv.Fresh, cv.Fresh)
		}
		// Tiles from events, under both definitions.
		src, _ := code.Source(cv.Source)
		f := &features.Frame{}
		for _, fd := range src.Fields {
			f.Columns = append(f.Columns, features.NewColumn(fd.Name, fd.Type, 0))
		}
		at := time.Date(2026, 11, 20, 10, 7, 30, 0, time.UTC)
		for i := range 40 {
			f.Time = append(f.Time, features.Micros(at.Add(-time.Duration(i)*20*time.Second)))
			for _, c := range f.Columns {
				var v features.Value
				switch c.Name {
				case "device":
					v = features.StringValue([]string{"mobile", "desktop"}[i%2])
				case "product_id":
					v = features.IntValue(int64(i % 7))
				case "dwell_seconds":
					v = features.FloatValue(float64(i))
				case "user_id":
					v = features.StringValue("u1")
				}
				_ = c.Append(v)
			}
		}
		tiles := func(v *features.View) map[int64]*features.TileState {
			out := map[int64]*features.TileState{}
			for r, tm := range f.Time {
				s := features.TileStart(v, tm)
				if out[s] == nil {
					out[s] = features.NewTileState(v)
				}
				if err := out[s].AddEvents(v, f, []int{r}); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		want := features.FreshValues(cv, at, tiles(cv))
		got := features.FreshValues(pv, at, tiles(pv))
		for i := range want {
			if !want[i].Equal(got[i]) {
				t.Fatalf("%s feature %d: published %s, code %s", cv.Name, i, got[i], want[i])
			}
		}
		if want[0].Int64() == 0 {
			t.Fatal("no events counted: the comparison proves nothing")
		}
	}
	if fresh == 0 {
		t.Fatal("the demo has no fresh view")
	}
}
