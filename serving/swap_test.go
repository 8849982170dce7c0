package serving_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
)

// withFingerprint returns the demo registry as published, with view's
// fingerprint replaced: a registry whose definition of view is another one.
func withFingerprint(t *testing.T, view, fp string, drop ...string) *features.Registry {
	t.Helper()
	c := demo.Registry().Catalog()
	views := c.Views[:0]
	for _, v := range c.Views {
		if v.Name == view {
			v.Fingerprint = fp
		}
		if !strings.Contains(strings.Join(drop, ","), v.Name) {
			views = append(views, v)
		}
	}
	c.Views = views
	var svcs []features.CatalogService
	for _, s := range c.Services {
		if !strings.Contains(strings.Join(s.Features, ","), drop0(drop)) {
			svcs = append(svcs, s)
		}
	}
	c.Services = svcs
	reg, err := features.RegistryFromCatalog(c)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func drop0(d []string) string {
	if len(d) == 0 {
		return "\x00"
	}
	return d[0] + ":"
}

// SetRegistry replaces what a running reader serves: plans, cached values
// and fingerprints follow the new registry at once, a view it lacks is a
// request error, and Registry tells which one is served.
func TestSetRegistrySwapsWhatIsServed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	const ref = "user_orders:order_count_7d"
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-time.Hour), 3)
	e.write(t, "product_sales", serving.IntKeys(7), now.Add(-time.Hour), 4)

	// StrictFingerprint: a value of another definition is NOT_FOUND, so the
	// fingerprint the reader compares with shows in the status.
	r, err := serving.New(e.reg, e.store, serving.Options{CacheEntries: 100, CacheTTL: time.Hour, StrictFingerprint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitLive(t, r, ref, "someone-else")
	get := func(refs ...string) (serving.FeatureValue, error) {
		t.Helper()
		ents := serving.Entities{"user_id": serving.StringKeys("u1")}
		if strings.HasPrefix(refs[0], "product") {
			ents = serving.Entities{"product_id": serving.IntKeys(7)}
		}
		res, err := r.Get(ctx, refs, ents)
		if err != nil {
			return serving.FeatureValue{}, err
		}
		return res.Rows[0][0], nil
	}
	for range 2 { // the second from the cache
		if fv, err := get(ref); err != nil || fv.Status != serving.Present || fv.Value.Int64() != 3000 {
			t.Fatalf("before the swap: %+v %v", fv, err)
		}
	}
	if r.Stats().CacheHits == 0 {
		t.Fatal("nothing was cached: the test would not see a stale cache")
	}

	other := withFingerprint(t, "user_orders", "0123456789abcdef", "product_sales")
	r.SetRegistry(other)
	if r.Registry() != other {
		t.Fatal("Registry does not return the new registry")
	}
	if fv, err := get(ref); err != nil || fv.Status != serving.NotFound {
		t.Fatalf("after swapping to another definition: %+v %v; want NOT_FOUND (the cached value and plan are the old registry's)", fv, err)
	}
	var re *serving.RequestError
	if _, err := get("product_sales:units_sold_7d"); !errors.As(err, &re) || !strings.Contains(err.Error(), `unknown view "product_sales"`) {
		t.Fatalf("removed view: err %v, want a request error naming it", err)
	}
	if _, err := r.GetService(ctx, "no_such_service", serving.Entities{"user_id": serving.StringKeys("u1")}); !errors.As(err, &re) {
		t.Fatalf("unknown service: %v", err)
	}

	r.SetRegistry(e.reg)
	if fv, err := get(ref); err != nil || fv.Status != serving.Present || fv.Value.Int64() != 3000 {
		t.Fatalf("after swapping back: %+v %v", fv, err)
	}
	if fv, err := get("product_sales:units_sold_7d"); err != nil || fv.Status != serving.Present {
		t.Fatalf("view back: %+v %v", fv, err)
	}
}

// A request in flight when the registry is swapped finishes on the registry
// it started with, and what it caches on the way is never served to a
// request on the new one.
func TestSetRegistryDuringARequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	const ref = "user_orders:order_count_7d"
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-time.Hour), 5)
	k1, _ := e.store.Key("user_orders", features.Key{Str: "u1"})
	other := withFingerprint(t, "user_orders", "0123456789abcdef")

	var r *serving.Reader
	var once sync.Once
	r, err := serving.NewWithHooks(e.reg, e.store, serving.Options{CacheEntries: 100, CacheTTL: time.Hour, StrictFingerprint: true},
		func(key string) {
			if key == k1 {
				once.Do(func() { r.SetRegistry(other) }) // between the read and the cache write
			}
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitLive(t, r, ref, "someone-else")

	res, err := r.Get(ctx, []string{ref}, serving.Entities{"user_id": serving.StringKeys("u1")})
	if err != nil || res.Rows[0][0].Status != serving.Present || res.Rows[0][0].Value.Int64() != 5000 {
		t.Fatalf("in-flight request: %+v %v; want it answered on the registry it started with", res, err)
	}
	if r.Registry() != other {
		t.Fatal("the hook did not swap")
	}
	res, err = r.Get(ctx, []string{ref}, serving.Entities{"user_id": serving.StringKeys("u1")})
	if err != nil || res.Rows[0][0].Status != serving.NotFound {
		t.Fatalf("next request: %+v %v; want NOT_FOUND under the new definition, not the value cached by the old one", res.Rows, err)
	}
}
