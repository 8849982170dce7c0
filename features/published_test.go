package features_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
)

// A registry built from the published catalog serves exactly what the
// registry of code does: the same views, entities, join keys, TTLs, features
// in stored order with their types, services and — what decides whether a
// stored value is served — the same fingerprints.
func TestRegistryFromPublishedMatchesTheCode(t *testing.T) {
	code := demo.Registry()
	version, doc, err := code.PublishedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	v2, doc2, err := demo.Registry().PublishedCatalog()
	if err != nil || v2 != version || !bytes.Equal(doc, doc2) {
		t.Fatalf("publishing the same registry twice: %s %s (err %v): want the same version and bytes", version, v2, err)
	}
	if len(version) != 16 {
		t.Fatalf("version %q: want 16 hex digits", version)
	}
	got, err := features.RegistryFromPublished(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.CatalogVersion() != version || code.CatalogVersion() != version {
		t.Fatalf("versions: published %s, rebuilt %s, code %s", version, got.CatalogVersion(), code.CatalogVersion())
	}
	if len(got.Views()) != len(code.Views()) || len(got.Views()) == 0 {
		t.Fatalf("%d views, want %d", len(got.Views()), len(code.Views()))
	}
	for _, want := range code.Views() {
		v, ok := got.View(want.Name)
		if !ok {
			t.Fatalf("view %s missing", want.Name)
		}
		if got.Fingerprint(v.Name) != code.Fingerprint(v.Name) || got.Fingerprint(v.Name) == "" {
			t.Errorf("%s: fingerprint %q, want %q", v.Name, got.Fingerprint(v.Name), code.Fingerprint(v.Name))
		}
		if v.TTL != want.TTL || v.Entity != want.Entity || *got.EntityOf(v) != *code.EntityOf(want) {
			t.Errorf("%s: ttl %s entity %+v, want %s %+v", v.Name, v.TTL, got.EntityOf(v), want.TTL, code.EntityOf(want))
		}
		if !reflect.DeepEqual(v.Features(), want.Features()) {
			t.Errorf("%s: features\n%+v\nwant\n%+v", v.Name, v.Features(), want.Features())
		}
	}
	for _, s := range code.Services() {
		g, ok := got.Service(s.Name)
		if !ok || !reflect.DeepEqual(g.Features, s.Features) {
			t.Errorf("service %s: %+v", s.Name, g)
		}
	}
	// The catalog (what /catalog shows) is the published one, definitions
	// in words included, though the rebuilt registry has no code.
	a, _ := json.Marshal(code.Catalog())
	b, _ := json.Marshal(got.Catalog())
	if !bytes.Equal(a, b) {
		t.Fatalf("catalog differs:\n%s\n%s", a, b)
	}
	// Catalog hands out a copy.
	c := got.Catalog()
	c.Views[0].Features[0].Name = "changed"
	if got.Catalog().Views[0].Features[0].Name == "changed" {
		t.Fatal("Catalog returned the registry's own copy")
	}
}

// A catalog that no valid registry could have published is refused, with an
// error naming the bad entry; so is a document whose content does not match
// its version.
func TestRegistryFromCatalogRejectsBadEntries(t *testing.T) {
	base := func() features.Catalog { return demo.Registry().Catalog() }
	cases := []struct {
		name string
		mod  func(c *features.Catalog)
		want string
	}{
		{"unknown entity", func(c *features.Catalog) { c.Views[0].Entity = "ghost" }, `view "user_orders": unknown entity "ghost"`},
		{"no fingerprint", func(c *features.Catalog) { c.Views[1].Fingerprint = "" }, `view "user_activity": fingerprint "" invalid`},
		{"feature without type", func(c *features.Catalog) { c.Views[0].Features[2].Type = features.Invalid }, `feature "completed_orders_30d" has no valid type`},
		{"duplicate feature", func(c *features.Catalog) { c.Views[0].Features[1].Name = c.Views[0].Features[0].Name }, `feature "order_count_7d" defined twice`},
		{"feature named like the join key", func(c *features.Catalog) { c.Views[0].Features[0].Name = "user_id" }, `feature "user_id" defined twice or reserved`},
		{"no features", func(c *features.Catalog) { c.Views[0].Features = nil }, `view "user_orders": has no features`},
		{"bad view name", func(c *features.Catalog) { c.Views[0].Name = "Bad View" }, `view name "Bad View" is invalid`},
		{"duplicate view", func(c *features.Catalog) { c.Views[1] = c.Views[0] }, `view "user_orders" listed twice`},
		{"negative TTL", func(c *features.Catalog) { c.Views[0].TTLSeconds = -1 }, `view "user_orders": ttl_seconds -1 out of range`},
		{"bad cadence", func(c *features.Catalog) { c.Views[0].Cadence = "weekly" }, `cadence "weekly" unknown`},
		{"bad entity key type", func(c *features.Catalog) { c.Entities[0].Type = features.Float64 }, `entity "user": key type float64 not supported`},
		{"service of an unknown feature", func(c *features.Catalog) { c.Services[0].Features = append(c.Services[0].Features, "user_orders:nope") },
			`unknown feature "nope" in view user_orders`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			_, err := features.RegistryFromCatalog(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}

	_, doc, err := demo.Registry().PublishedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"edited content", `"ttl_seconds":172800`, `"ttl_seconds":172801`, "content hashes to"},
		{"unknown format", `"format":1`, `"format":2`, "format 2 unknown"},
		{"not JSON", `{`, `[`, "published catalog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(doc, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(bad, doc) {
				t.Fatalf("%q not in the document", tc.old)
			}
			if _, err := features.RegistryFromPublished(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The catalog holds TTLs in seconds; a TTL it cannot carry exactly is
// refused at publishing rather than served with another TTL than training
// sets use.
func TestPublishedCatalogRefusesSubSecondTTL(t *testing.T) {
	reg := features.NewRegistry()
	reg.MustRegister(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.String}}},
		&features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Hourly, TTL: 3*time.Hour + time.Millisecond, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "n", Kind: features.Count, Window: time.Hour}}})
	if _, _, err := reg.PublishedCatalog(); err == nil || !strings.Contains(err.Error(), `view "v": TTL 3h0m0.001s is not a whole number of seconds`) {
		t.Fatalf("err %v", err)
	}
}
