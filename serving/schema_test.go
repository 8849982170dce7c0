package serving_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// sumRegistry is a registry with one view "spend" summing the source column
// "amount", of type amount: changing the column's type changes the sum's.
func sumRegistry(t *testing.T, amount features.Type) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts",
			Fields: []features.Field{{Name: "user_id", Type: features.String}, {Name: "amount", Type: amount}}},
		&features.View{Name: "spend", Entity: "user", Source: "events", Cadence: features.Hourly, Owner: "test",
			Description: "sum of amounts", Aggregations: []features.Aggregation{
				{Name: "amount_sum", Kind: features.Sum, Column: "amount", Window: time.Hour},
				{Name: "n", Kind: features.Count, Window: time.Hour}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newClient(t *testing.T) *goredis.Client {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// setRaw stores an encoded value for each key of view as a writer with
// fingerprint would, without publishing a schema.
func setRaw(t *testing.T, c *goredis.Client, s *redisstore.Store, view, fingerprint string, now time.Time, vals []features.Value, keys ...string) {
	t.Helper()
	enc, err := onlinecodec.Append(nil, onlinecodec.Header{EventMicros: features.Micros(now), CreatedMicros: features.Micros(now), Fingerprint: fingerprint}, vals)
	if err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	for _, k := range keys {
		key, err := s.Key(view, features.Key{Str: k})
		if err != nil {
			t.Fatal(err)
		}
		pipe.Set(context.Background(), key, enc, 0)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSourceColumnTypeChangeNotServedAsWrongType: a source column changed
// from int64 to float64 changes its sum's type; values the old definition
// wrote must not be served PRESENT as the new type. The fingerprint changes
// with the result types, and a value claiming the reader's fingerprint with
// a value of another type is unreadable rather than served.
func TestSourceColumnTypeChangeNotServedAsWrongType(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	old, cur := sumRegistry(t, features.Int64), sumRegistry(t, features.Float64)
	if old.Fingerprint("spend") == cur.Fingerprint("spend") {
		t.Fatalf("fingerprint %s kept though amount_sum changed from int64 to float64", cur.Fingerprint("spend"))
	}
	ws, err := redisstore.New(c, old, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	keys := serving.StringKeys("u1")
	f := testenv.Frame(t, old, "spend", keys, now, now, func(j, i int, f features.Feature) features.Value { return features.IntValue(5) })
	if _, err := ws.Write(ctx, "spend", f); err != nil {
		t.Fatal(err)
	}
	rs, err := redisstore.New(c, cur, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	// A value carrying the reader's own fingerprint but an int64 sum (a
	// writer whose fingerprint missed the change, or a corrupt value).
	setRaw(t, c, rs, "spend", cur.Fingerprint("spend"), now, []features.Value{features.IntValue(5), features.IntValue(5)}, "liar")
	for _, cache := range []int{0, 100} {
		r, err := serving.New(cur, rs, serving.Options{CacheEntries: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res, err := r.Get(ctx, []string{"spend:amount_sum", "spend:n"}, serving.Entities{"user_id": serving.StringKeys("u1", "liar")})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0][0]; got.Status != serving.NotFound || !got.Value.IsNull() {
			t.Errorf("cache %d: old definition's int64 sum read as float64: %+v, want NOT_FOUND", cache, got)
		}
		if got := res.Rows[0][1]; got.Status != serving.Present || !got.Value.Equal(features.IntValue(5)) {
			t.Errorf("cache %d: unchanged count: %+v, want PRESENT 5", cache, got)
		}
		for j, got := range res.Rows[1] {
			if got.Status != serving.NotFound || !got.Value.IsNull() {
				t.Errorf("cache %d: feature %d of a value of the wrong type under the reader's fingerprint: %+v, want NOT_FOUND", cache, j, got)
			}
		}
		if st := r.Stats(); st.Unreadable != 1 {
			t.Errorf("cache %d: Unreadable %d, want 1", cache, st.Unreadable)
		}
	}
}

// TestCorruptSchemaIsNotFound: a corrupt schema key makes the values of
// its definition NOT_FOUND (and Unreadable), not the request fail; values
// of other definitions are unaffected.
func TestCorruptSchemaIsNotFound(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	writer := defRegistry(t, feat("a", features.Int64), feat("b", features.Int64))
	other := defRegistry(t, feat("a", features.Int64), feat("c", features.String))
	reader := defRegistry(t, feat("a", features.Int64))
	fill := func(j, i int, f features.Feature) features.Value {
		if f.Type == features.String {
			return features.StringValue("s")
		}
		return features.IntValue(int64(10 + j))
	}
	for reg, k := range map[*features.Registry]string{writer: "old", other: "fine", reader: "own"} {
		s, err := redisstore.New(c, reg, redisstore.Options{Prefix: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(ctx, "stats", testenv.Frame(t, reg, "stats", serving.StringKeys(k), now, now, fill)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, onlinecodec.SchemaKey("p", "stats", writer.Fingerprint("stats")), "\x01garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rs, err := redisstore.New(c, reader, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, cache := range []int{0, 100} {
		r, err := serving.New(reader, rs, serving.Options{CacheEntries: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for range 2 { // the second read uses the cached verdict
			res, err := r.Get(ctx, []string{"stats:a"}, serving.Entities{"user_id": serving.StringKeys("old", "fine", "own")})
			if err != nil {
				t.Fatalf("cache %d: a corrupt schema failed the request: %v", cache, err)
			}
			if got := res.Rows[0][0]; got.Status != serving.NotFound || !got.Value.IsNull() {
				t.Errorf("cache %d: value of the definition with a corrupt schema: %+v, want NOT_FOUND", cache, got)
			}
			for row := 1; row < 3; row++ {
				if got := res.Rows[row][0]; got.Status != serving.Present || !got.Value.Equal(features.IntValue(10)) {
					t.Errorf("cache %d: row %d: %+v, want PRESENT 10", cache, row, got)
				}
			}
		}
		if st := r.Stats(); st.Unreadable == 0 {
			t.Errorf("cache %d: a corrupt schema not counted Unreadable: %+v", cache, st)
		}
	}
}

// schemaGets counts the commands a client sends for schema keys.
type schemaGets struct{ n atomic.Int64 }

func (h *schemaGets) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *schemaGets) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *schemaGets) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}
func (h *schemaGets) count(cmd goredis.Cmder) {
	if args := cmd.Args(); cmd.Name() == "get" && len(args) > 1 && strings.Contains(fmt.Sprint(args[1]), ":schema:") {
		h.n.Add(1)
	}
}

// TestSchemaCacheFullOfJunk: more junk fingerprints than the schema cache
// holds do not keep a real definition's published schema from serving, and
// each fingerprint is asked for once per request at most.
func TestSchemaCacheFullOfJunk(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	writer := defRegistry(t, feat("a", features.Int64), feat("b", features.Int64))
	reader := defRegistry(t, feat("a", features.Int64))
	gets := &schemaGets{}
	c.AddHook(gets)
	rs, err := redisstore.New(c, reader, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	const junk = 1100
	var junkKeys []string
	for i := range junk {
		k := fmt.Sprintf("junk%d", i)
		setRaw(t, c, rs, "stats", fmt.Sprintf("%016x", i), now, []features.Value{features.IntValue(1)}, k)
		junkKeys = append(junkKeys, k)
	}
	const n = 50
	var legit []string
	for i := range n {
		legit = append(legit, fmt.Sprintf("u%d", i))
	}
	ws, err := redisstore.New(c, writer, redisstore.Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Write(ctx, "stats", testenv.Frame(t, writer, "stats", serving.StringKeys(legit...), now, now,
		func(j, i int, f features.Feature) features.Value { return features.IntValue(int64(j + 1)) })); err != nil {
		t.Fatal(err)
	}
	r, err := serving.New(reader, rs, serving.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Get(ctx, []string{"stats:a"}, serving.Entities{"user_id": serving.StringKeys(junkKeys...)})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range res.Rows {
		if row[0].Status != serving.NotFound {
			t.Fatalf("junk row %d: %+v, want NOT_FOUND", i, row[0])
		}
	}
	before := gets.n.Load()
	res, err = r.Get(ctx, []string{"stats:a"}, serving.Entities{"user_id": serving.StringKeys(legit...)})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range res.Rows {
		if row[0].Status != serving.Present || !row[0].Value.Equal(features.IntValue(1)) {
			t.Fatalf("row %d after the schema cache filled with junk: %+v, want PRESENT 1", i, row[0])
		}
	}
	if got := gets.n.Load() - before; got != 1 {
		t.Errorf("%d schema GETs for %d values of one definition, want 1", got, n)
	}
	// Junk keeps coming: the real schema stays cached (no GET).
	if _, err := r.Get(ctx, []string{"stats:a"}, serving.Entities{"user_id": serving.StringKeys(junkKeys...)}); err != nil {
		t.Fatal(err)
	}
	before = gets.n.Load()
	if _, err := r.Get(ctx, []string{"stats:a"}, serving.Entities{"user_id": serving.StringKeys(legit...)}); err != nil {
		t.Fatal(err)
	}
	if got := gets.n.Load() - before; got != 0 {
		t.Errorf("%d schema GETs for a definition seen before, want 0", got)
	}
}
