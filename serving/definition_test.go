package serving_test

import (
	"context"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// defRegistry is a registry with one view "stats" of string-keyed users
// whose features are feats, in that order: one definition of the view.
func defRegistry(t *testing.T, feats ...features.Feature) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts",
			Fields: []features.Field{{Name: "user_id", Type: features.String}}},
		&features.View{Name: "stats", Entity: "user", Source: "events", Cadence: features.Hourly, Owner: "test",
			Description: "a view whose definition the tests change", Func: &features.FuncTransform{Version: "v1", Features: feats,
				Fn: func(features.FuncInput, []features.Value) error { return nil }}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func feat(name string, t features.Type) features.Feature {
	return features.Feature{Name: name, Type: t}
}

// TestOtherDefinitionServedByNameAndType: values written by one definition
// of a view and read with another are served per feature by name and type —
// never by position — and NOT_FOUND where the writer's definition has no
// feature of that name and type, counted in Stats.DefinitionNotFound.
func TestOtherDefinitionServedByNameAndType(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	// The writer's definition and the values it wrote, by name.
	written := []features.Feature{feat("a", features.Int64), feat("b", features.Int64), feat("ratio", features.Float64), feat("orders_7d", features.Int64)}
	values := map[string]features.Value{"a": features.IntValue(1), "b": features.IntValue(2), "ratio": features.FloatValue(3.5), "orders_7d": features.IntValue(7)}
	writer := defRegistry(t, written...)

	tests := []struct {
		name     string
		reader   []features.Feature
		schema   bool // the writer published its schema (false: a value from before schemas)
		strict   bool
		notFound []string // features that must be NOT_FOUND; the others PRESENT with the written value
	}{
		{name: "same definition", reader: written, schema: true},
		{name: "two int64 features swapped: served by name", schema: true,
			reader: []features.Feature{feat("b", features.Int64), feat("a", features.Int64), feat("ratio", features.Float64), feat("orders_7d", features.Int64)}},
		{name: "7d renamed to 30d", schema: true, notFound: []string{"orders_30d"},
			reader: []features.Feature{feat("a", features.Int64), feat("b", features.Int64), feat("ratio", features.Float64), feat("orders_30d", features.Int64)}},
		{name: "type changed", schema: true, notFound: []string{"ratio"},
			reader: []features.Feature{feat("a", features.Int64), feat("b", features.Int64), feat("ratio", features.Int64), feat("orders_7d", features.Int64)}},
		{name: "feature added and one dropped", schema: true, notFound: []string{"c"},
			reader: []features.Feature{feat("orders_7d", features.Int64), feat("c", features.String), feat("a", features.Int64)}},
		{name: "no schema: nothing served, though count and types fit", schema: false, notFound: []string{"b", "a", "ratio", "orders_7d"},
			reader: []features.Feature{feat("b", features.Int64), feat("a", features.Int64), feat("ratio", features.Float64), feat("orders_7d", features.Int64)}},
		{name: "strict", schema: true, strict: true, notFound: []string{"b", "a", "ratio", "orders_7d"},
			reader: []features.Feature{feat("b", features.Int64), feat("a", features.Int64), feat("ratio", features.Float64), feat("orders_7d", features.Int64)}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "def" + string(rune('a'+i))
			ws, err := redisstore.New(c, writer, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			keys := serving.StringKeys("u1", "u2")
			if tc.schema {
				f := testenv.Frame(t, writer, "stats", keys, now, now, func(j, i int, f features.Feature) features.Value { return values[f.Name] })
				if _, err := ws.Write(ctx, "stats", f); err != nil {
					t.Fatal(err)
				}
			} else { // as a writer from before schemas did: the value alone
				vals := make([]features.Value, len(written))
				for j, f := range written {
					vals[j] = values[f.Name]
				}
				setRaw(t, c, ws, "stats", writer.Fingerprint("stats"), now, vals, "u1", "u2")
			}

			reg := defRegistry(t, tc.reader...)
			if same := reg.Fingerprint("stats") == writer.Fingerprint("stats"); same != (tc.name == "same definition") {
				t.Fatalf("fingerprints equal: %v", same)
			}
			rs, err := redisstore.New(c, reg, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			for _, cache := range []int{0, 100} { // the no-cache path decodes into one shared slice
				r, err := serving.New(reg, rs, serving.Options{StrictFingerprint: tc.strict, CacheEntries: cache})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var refs []string
				for _, f := range tc.reader {
					refs = append(refs, "stats:"+f.Name)
				}
				// Twice: the second read uses the cached schema (and entries).
				for range 2 {
					res, err := r.Get(ctx, refs, serving.Entities{"user_id": keys})
					if err != nil {
						t.Fatal(err)
					}
					for row := range res.Rows {
						for j, f := range tc.reader {
							got := res.Rows[row][j]
							missing := false
							for _, n := range tc.notFound {
								missing = missing || n == f.Name
							}
							switch {
							case missing && (got.Status != serving.NotFound || !got.Value.IsNull() || !got.EventTime.IsZero()):
								t.Errorf("cache %d: row %d %s: %+v, want NOT_FOUND", cache, row, f.Name, got)
							case !missing && (got.Status != serving.Present || !got.Value.Equal(values[f.Name]) || !got.EventTime.Equal(now)):
								t.Errorf("cache %d: row %d %s: %+v, want PRESENT %v", cache, row, f.Name, got, values[f.Name])
							}
						}
					}
				}
				want := uint64(2 * len(keys) * len(tc.notFound))
				if st := r.Stats(); st.DefinitionNotFound != want {
					t.Errorf("cache %d: DefinitionNotFound %d, want %d (%+v)", cache, st.DefinitionNotFound, want, st)
				}
			}
		})
	}
}

// TestSchemaPublishedOnce: the first Write of a definition leaves
// its schema, so a reader of a later definition can tell what the values
// are.
func TestSchemaPublishedOnce(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	reg := defRegistry(t, feat("a", features.Int64), feat("s", features.String))
	s, err := redisstore.New(c, reg, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Schema(ctx, "stats", reg.Fingerprint("stats")); err != nil || found {
		t.Fatalf("schema before any write: found %v, err %v", found, err)
	}
	now := time.Now().UTC()
	if _, err := s.Write(ctx, "stats", testenv.Frame(t, reg, "stats", serving.StringKeys("u"), now, now, testenv.Sample(1))); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Schema(ctx, "stats", reg.Fingerprint("stats"))
	if err != nil || !found || len(got) != 2 || got[0] != feat("a", features.Int64) || got[1] != feat("s", features.String) {
		t.Fatalf("schema %+v found %v err %v", got, found, err)
	}
	key := onlinecodec.SchemaKey("p", "stats", reg.Fingerprint("stats"))
	if ttl := c.PTTL(ctx, key).Val(); ttl != -1 {
		t.Errorf("schema key TTL %s, want none (values with TTL 0 never expire)", ttl)
	}
}
