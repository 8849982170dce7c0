package trainingset_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// Column shapes the fuzz target builds entity tables from.
var (
	fuzzNames  = []string{"event_timestamp", "user_id", "shop", "label", "x", "daily__cnt", "score"}
	fuzzLeaves = []func() goparquet.Node{
		func() goparquet.Node { return goparquet.Int(32) },
		func() goparquet.Node { return goparquet.Int(64) },
		func() goparquet.Node { return goparquet.Leaf(goparquet.FloatType) },
		func() goparquet.Node { return goparquet.Leaf(goparquet.DoubleType) },
		func() goparquet.Node { return goparquet.Leaf(goparquet.BooleanType) },
		func() goparquet.Node { return goparquet.String() },
		func() goparquet.Node { return goparquet.Leaf(goparquet.ByteArrayType) },
		func() goparquet.Node { return goparquet.Timestamp(goparquet.Millisecond) },
		func() goparquet.Node { return goparquet.Timestamp(goparquet.Microsecond) },
		func() goparquet.Node { return goparquet.Timestamp(goparquet.Nanosecond) },
		func() goparquet.Node { return goparquet.Leaf(goparquet.Int96Type) },
		func() goparquet.Node { return goparquet.Date() },
		func() goparquet.Node { return goparquet.Leaf(goparquet.FixedLenByteArrayType(4)) },
		func() goparquet.Node { return goparquet.JSON() },
	}
)

// Shapes around a leaf: the last three are what the join must refuse.
const (
	shapeRequired = iota
	shapeOptional
	shapeOptionalNull
	shapeRepeated
	shapeList
	shapeGroup
	shapes
)

// fuzzSchema turns bytes into an entity table schema: three bytes a column
// (name, leaf type, shape). It reports the first column the join must
// refuse, if any.
func fuzzSchema(spec []byte) (g goparquet.Group, nulls map[string]bool, refuse string) {
	g, nulls = goparquet.Group{}, map[string]bool{}
	for i := 0; i+2 < len(spec) && len(g) < 8; i += 3 {
		name := fuzzNames[int(spec[i])%len(fuzzNames)]
		if _, dup := g[name]; dup {
			continue
		}
		leaf := fuzzLeaves[int(spec[i+1])%len(fuzzLeaves)]()
		var n goparquet.Node
		switch shape := int(spec[i+2]) % shapes; shape {
		case shapeRequired:
			n = goparquet.Required(leaf)
		case shapeOptional, shapeOptionalNull:
			n = goparquet.Optional(leaf)
			nulls[name] = shape == shapeOptionalNull
		case shapeRepeated:
			n = goparquet.Repeated(leaf)
		case shapeList:
			n = goparquet.List(leaf)
		case shapeGroup:
			n = goparquet.Optional(goparquet.Group{"inner": goparquet.Optional(leaf)})
		}
		g[name] = n
	}
	// The file's columns are sorted by name: the first refused one in that
	// order is not necessarily the one named, so collect them all.
	var refused []string
	for _, f := range goparquet.NewSchema("x", g).Fields() {
		if !f.Leaf() || f.Repeated() {
			refused = append(refused, f.Name())
		}
	}
	return g, nulls, strings.Join(refused, ",")
}

// fuzzRow is one row for schema s: nested and repeated columns empty,
// optional ones null or present as chosen, values from seed.
func fuzzRow(s *goparquet.Schema, nulls map[string]bool, seed int64) goparquet.Row {
	var row goparquet.Row
	for i, path := range s.Columns() {
		lc, _ := s.Lookup(path...)
		if lc.MaxRepetitionLevel > 0 || len(path) > 1 || (lc.MaxDefinitionLevel > 0 && nulls[path[0]]) {
			row = append(row, goparquet.Value{}.Level(0, 0, i))
			continue
		}
		var v goparquet.Value
		switch lc.Node.Type().Kind() {
		case goparquet.Boolean:
			v = goparquet.BooleanValue(seed%2 == 0)
		case goparquet.Int32:
			v = goparquet.Int32Value(int32(seed))
		case goparquet.Int64:
			v = goparquet.Int64Value(features.Micros(day0) + seed)
		case goparquet.Int96:
			v = goparquet.Int96Value([3]uint32{uint32(seed), 0, 2461346})
		case goparquet.Float:
			v = goparquet.FloatValue(float32(seed))
		case goparquet.Double:
			v = goparquet.DoubleValue(float64(seed))
		case goparquet.FixedLenByteArray:
			v = goparquet.FixedLenByteArrayValue([]byte{1, 2, 3, byte(seed)})
		default:
			v = goparquet.ByteArrayValue(fmt.Appendf(nil, "k%d", seed%3))
		}
		row = append(row, v.Level(0, lc.MaxDefinitionLevel, i))
	}
	return row
}

// FuzzEntitySchema builds entity tables of arbitrary column shapes and types
// and joins them: Build never panics, refuses every nested or repeated
// column by name before work starts, and otherwise either fails with an
// error or writes one output row per input row.
func FuzzEntitySchema(f *testing.F) {
	f.Add([]byte{0, 8, 0, 1, 1, 1}, int64(5), uint8(2))           // good: required timestamp, optional int64 key
	f.Add([]byte{0, 8, 0, 1, 1, 0, 3, 3, 4}, int64(1), uint8(1))  // a list label
	f.Add([]byte{0, 8, 0, 1, 1, 0, 3, 5, 3}, int64(1), uint8(1))  // a repeated label
	f.Add([]byte{0, 8, 0, 1, 1, 0, 3, 2, 5}, int64(1), uint8(1))  // a nested group
	f.Add([]byte{0, 5, 0, 1, 1, 0}, int64(1), uint8(1))           // event_timestamp a string
	f.Add([]byte{0, 10, 1, 2, 5, 1, 1, 0, 0}, int64(7), uint8(3)) // INT96 time, string shop key, INT32 user_id
	f.Add([]byte{0, 8, 2, 1, 1, 0}, int64(1), uint8(1))           // event_timestamp null
	f.Add([]byte{0, 8, 0, 1, 1, 0, 5, 1, 0}, int64(1), uint8(1))  // output column clash
	f.Add([]byte{0, 8, 0, 1, 1, 0, 3, 12, 1, 6, 10, 0, 4, 11, 1}, int64(3), uint8(4))
	reg := registry(f)
	refs, err := reg.ResolveRefs([]string{"daily:cnt", "daily:last", "hourly:n"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec []byte, seed int64, rows uint8) {
		g, nulls, refuse := fuzzSchema(spec)
		if len(g) == 0 {
			return
		}
		schema := goparquet.NewSchema("x", g)
		var buf bytes.Buffer
		w := goparquet.NewWriter(&buf, schema)
		n := int(rows % 5)
		for r := range n {
			if _, err := w.WriteRows([]goparquet.Row{fuzzRow(schema, nulls, seed+int64(r))}); err != nil {
				return // a shape parquet-go cannot write: not an input anyone has
			}
		}
		if err := w.Close(); err != nil {
			return
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "entities.parquet")
		if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := parquet.Open(filepath.Join(dir, "offline"))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out.parquet")
		_, err = trainingset.Build(context.Background(), reg, s, trainingset.Options{Entities: in, Features: refs, Out: out})
		if refuse != "" {
			named := false
			for _, c := range strings.Split(refuse, ",") {
				named = named || (err != nil && strings.Contains(err.Error(), fmt.Sprintf("%q", c)))
			}
			if !named {
				t.Fatalf("schema %v: err %v, want it to name one of the columns %s", schema, err, refuse)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Fatal("an output was written for a refused entity table")
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "panic") {
				t.Fatalf("err %q: want one line, no panic", err)
			}
			return
		}
		got, err := parquet.OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		defer got.Close()
		if got.NumRows() != int64(n) {
			t.Fatalf("%d output rows for %d entity rows", got.NumRows(), n)
		}
	})
}
