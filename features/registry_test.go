package features_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
)

func TestRegisterRejectsBadDefinitions(t *testing.T) {
	day := 24 * time.Hour
	view := func(mod func(v *features.View)) *features.View {
		v := &features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Daily, TTL: 2 * day, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "cnt", Kind: features.Count, Window: day}}}
		mod(v)
		return v
	}
	cases := []struct {
		name string
		def  any
		want string
	}{
		{"duplicate entity", &features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64}, `entity "user" registered twice`},
		{"bad entity key type", &features.Entity{Name: "e2", JoinKey: "k", KeyType: features.Float64}, `key type float64 not supported`},
		{"reserved join key", &features.Entity{Name: "e3", JoinKey: "event_timestamp", KeyType: features.Int64}, `reserved`},
		{"bad view name", view(func(v *features.View) { v.Name = "Bad-Name" }), `view name "Bad-Name" is invalid`},
		{"double underscore", view(func(v *features.View) { v.Name = "a__b" }), `"__" separates`},
		{"unknown entity", view(func(v *features.View) { v.Entity = "ghost" }), `view "v": unknown entity "ghost"`},
		{"unknown source", view(func(v *features.View) { v.Source = "ghost" }), `unknown source "ghost"`},
		{"negative TTL", view(func(v *features.View) { v.TTL = -time.Hour }), `TTL -1h0m0s is invalid`},
		{"TTL shorter than cadence", view(func(v *features.View) { v.TTL = time.Hour }), `the smallest valid TTL is 25h0m0s`},
		// Values expire at E + TTL; the next window's arrive at E + cadence +
		// lateness + the run's duration: serving would go blank in between.
		{"daily TTL without room for lateness and the run", view(func(v *features.View) { v.TTL, v.Lateness = 25*time.Hour, 2*time.Hour }),
			`TTL 25h0m0s is too short: values would expire before the next run replaces them (cadence 24h0m0s + lateness 2h0m0s + margin 1h0m0s); the smallest valid TTL is 27h0m0s`},
		{"hourly TTL of one cadence with lateness", view(func(v *features.View) { v.Cadence, v.TTL, v.Lateness = features.Hourly, time.Hour, 15*time.Minute }),
			`the smallest valid TTL is 2h15m0s`},
		{"hourly TTL one microsecond short", view(func(v *features.View) {
			v.Cadence, v.Lateness = features.Hourly, 15*time.Minute
			v.TTL = features.MinTTL(v) - time.Microsecond
		}), `the smallest valid TTL is 2h15m0s`},
		{"join key name reused with another type", &features.Entity{Name: "account", JoinKey: "user_id", KeyType: features.String},
			`entity "account": join key "user_id" is string, but entity "user" already uses "user_id" as a int64 key`},
		{"bad cadence", view(func(v *features.View) { v.Cadence = "weekly" }), `cadence "weekly" unknown`},
		{"duplicate feature", view(func(v *features.View) { v.Aggregations = append(v.Aggregations, v.Aggregations[0]) }), `feature "cnt" defined twice`},
		{"bad feature name", view(func(v *features.View) { v.Aggregations[0].Name = "9lives" }), `feature name "9lives" is invalid`},
		{"window too long", view(func(v *features.View) { v.Aggregations[0].Window = 91 * day }), `window 2184h0m0s out of range`},
		{"window too short", view(func(v *features.View) { v.Aggregations[0].Window = time.Second }), `out of range`},
		{"unknown column", view(func(v *features.View) {
			v.Aggregations[0] = features.Aggregation{Name: "m", Kind: features.Mean, Column: "nope", Window: day}
		}), `feature m: column "nope" is not in source ev`},
		{"mean of a string", view(func(v *features.View) {
			v.Aggregations[0] = features.Aggregation{Name: "m", Kind: features.Mean, Column: "s", Window: day}
		}), `mean needs a numeric column, s is string`},
		{"filter value of the wrong type", view(func(v *features.View) {
			v.Aggregations[0].Where = &features.Predicate{Column: "s", Op: features.Eq, Value: features.IntValue(1)}
		}), `filter value 1 does not fit string column s`},
		{"no owner", view(func(v *features.View) { v.Owner = "" }), `needs an owner`},
		{"no features", view(func(v *features.View) { v.Aggregations = nil }), `has no features`},
		{"service with unknown feature", &features.Service{Name: "svc", Features: []string{"v0:nope"}}, `unknown feature "nope" in view v0`},
		{"service with unknown view", &features.Service{Name: "svc", Features: []string{"ghost:x"}}, `unknown view "ghost"`},
		{"service with bad reference", &features.Service{Name: "svc", Features: []string{"nocolon"}}, `bad feature reference "nocolon"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := testRegistry(t, &features.View{Name: "v0", Entity: "user", Source: "ev", Cadence: features.Hourly, Owner: "o", Description: "d",
				Aggregations: []features.Aggregation{{Name: "cnt", Kind: features.Count, Window: time.Hour}}})
			err := reg.Register(c.def)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Register error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The smallest valid TTL registers, and so do unlimited TTL and two
// entities sharing a join key of one type.
func TestRegisterAcceptsMinimalTTL(t *testing.T) {
	for _, c := range []struct {
		cadence  features.Cadence
		lateness time.Duration
		want     time.Duration
	}{
		{features.Hourly, 0, 2 * time.Hour},
		{features.Hourly, 15 * time.Minute, 2*time.Hour + 15*time.Minute},
		{features.Daily, 2 * time.Hour, 27 * time.Hour},
	} {
		v := &features.View{Name: "v", Entity: "user", Source: "ev", Cadence: c.cadence, Lateness: c.lateness, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "cnt", Kind: features.Count, Window: time.Hour}}}
		if got := features.MinTTL(v); got != c.want {
			t.Errorf("MinTTL(%s, lateness %s) = %s, want %s", c.cadence, c.lateness, got, c.want)
		}
		for _, ttl := range []time.Duration{0, c.want} {
			v.TTL = ttl
			testRegistry(t, v)
		}
	}
	reg := testRegistry(t)
	if err := reg.Register(&features.Entity{Name: "buyer", JoinKey: "user_id", KeyType: features.Int64}); err != nil {
		t.Fatalf("same join key, same type: %v", err)
	}
}

func TestFingerprintFollowsDefinition(t *testing.T) {
	mk := func(w time.Duration, desc string) string {
		reg := testRegistry(t, &features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: desc,
			Aggregations: []features.Aggregation{{Name: "cnt", Kind: features.Count, Window: w}}})
		return reg.Fingerprint("v")
	}
	base := mk(24*time.Hour, "a")
	if base == "" || base != mk(24*time.Hour, "a") {
		t.Fatal("fingerprint is empty or not stable")
	}
	if base != mk(24*time.Hour, "other words") {
		t.Error("a description change altered the fingerprint; only what is computed should")
	}
	if base == mk(48*time.Hour, "a") {
		t.Error("a window change kept the fingerprint")
	}
}

func TestDemoRepository(t *testing.T) {
	reg := demo.Registry()
	cat := reg.Catalog()
	b, err := json.Marshal(cat)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Entities []struct{ Name, JoinKey, Type, Description string } `json:"entities"`
		Views    []struct {
			Name, Entity, Cadence, Owner, Description, Source string
			TTLSeconds                                        int64 `json:"ttl_seconds"`
			Features                                          []struct{ Name, Type, Description string }
		} `json:"views"`
		Services []struct {
			Name     string
			Features []string
		} `json:"services"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	cadences := map[string]bool{}
	nfeat := 0
	for _, v := range back.Views {
		cadences[v.Cadence] = true
		if v.Owner == "" || len(v.Description) < 20 || v.TTLSeconds <= 0 {
			t.Errorf("view %s lacks owner, description or TTL", v.Name)
		}
		for _, f := range v.Features {
			nfeat++
			types[f.Type]++
			if len(f.Description) < 10 {
				t.Errorf("feature %s:%s has no real description", v.Name, f.Name)
			}
		}
	}
	if len(back.Views) < 3 || nfeat < 12 || len(back.Services) < 2 || !cadences["daily"] || !cadences["hourly"] {
		t.Errorf("demo too small: %d views, %d features, %d services, cadences %v", len(back.Views), nfeat, len(back.Services), cadences)
	}
	for _, ty := range []string{"int64", "float64", "string", "bool"} {
		if types[ty] == 0 {
			t.Errorf("no %s feature in the demo", ty)
		}
	}
	keyTypes := map[string]bool{}
	for _, e := range back.Entities {
		keyTypes[e.Type] = true
	}
	if !keyTypes["string"] || !keyTypes["int64"] {
		t.Errorf("demo entities need string and int64 keys, have %v", keyTypes)
	}
}

func TestWindowEnds(t *testing.T) {
	v := &features.View{Cadence: features.Daily}
	d := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	got := features.WindowEnds(v, d("2026-11-01T00:00:00Z"), d("2026-11-04T00:00:00Z"))
	want := []time.Time{d("2026-11-02T00:00:00Z"), d("2026-11-03T00:00:00Z"), d("2026-11-04T00:00:00Z")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := features.WindowEnds(v, d("2026-11-01T05:00:00Z"), d("2026-11-01T23:00:00Z")); len(got) != 0 {
		t.Fatalf("partial day gave windows %v", got)
	}
}

// TestFingerprintFollowsResultTypes: a source column's type change changes
// the types of the aggregations over it (sum int64 → float64), and so the
// layout of the values: the fingerprint must change with it.
func TestFingerprintFollowsResultTypes(t *testing.T) {
	mk := func(amount features.Type) string {
		r := features.NewRegistry()
		r.MustRegister(
			&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
			&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
				{Name: "user_id", Type: features.Int64}, {Name: "amount", Type: amount}}},
			&features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
				Aggregations: []features.Aggregation{{Name: "amount_sum", Kind: features.Sum, Column: "amount", Window: 24 * time.Hour}}},
		)
		return r.Fingerprint("v")
	}
	if i, f := mk(features.Int64), mk(features.Float64); i == f {
		t.Errorf("sum over an int64 and a float64 column share fingerprint %s", i)
	}
}
