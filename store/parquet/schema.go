// Package parquet is the offline store on Parquet files, and the reader of
// raw sources and entity tables kept as Parquet. The layout is DESIGN.md's
// offline contract:
//
//	<root>/<view>/date=YYYY-MM-DD/part-<window end>-v<created>[-<shard>].parquet
//
// with the join key, event_timestamp and created_timestamp (TIMESTAMP(MICROS,
// UTC)) and one nullable column per feature. Readers take any Parquet file
// below a view's folder, whoever wrote it (DuckDB, Spark, BigQuery exports):
// timestamps in millis, micros or nanos, UTC-adjusted or not, and INT96.
//
// The client library is imported as goparquet throughout Skewfree.
package parquet

import (
	"fmt"
	"slices"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
)

// Column names of the offline contract.
const (
	EventTimestamp   = "event_timestamp"
	CreatedTimestamp = "created_timestamp"
	// FingerprintKey is the file metadata key holding the view's definition
	// fingerprint; readers never require it.
	FingerprintKey = "skewfree.fingerprint"
)

// orderedGroup keeps columns in the order we list them: parquet-go's Group
// sorts fields by name, and people reading a training set in DuckDB expect
// their own columns first.
type orderedGroup struct {
	goparquet.Group
	order []string
}

func (g orderedGroup) Fields() []goparquet.Field {
	fields := g.Group.Fields()
	rank := make(map[string]int, len(g.order))
	for i, n := range g.order {
		rank[n] = i
	}
	slices.SortStableFunc(fields, func(a, b goparquet.Field) int { return rank[a.Name()] - rank[b.Name()] })
	return fields
}

type schemaBuilder struct {
	g orderedGroup
}

func newSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{g: orderedGroup{Group: goparquet.Group{}}}
}

func (s *schemaBuilder) add(name string, n goparquet.Node) error {
	if _, dup := s.g.Group[name]; dup {
		return fmt.Errorf("column %q appears twice", name)
	}
	s.g.Group[name] = n
	s.g.order = append(s.g.order, name)
	return nil
}

func (s *schemaBuilder) schema() *goparquet.Schema {
	return goparquet.NewSchema("skewfree", s.g)
}

// nodeFor is the nullable Parquet node of a feature type.
func nodeFor(t features.Type) (goparquet.Node, error) {
	switch t {
	case features.Int64:
		return goparquet.Optional(goparquet.Int(64)), nil
	case features.Float64:
		return goparquet.Optional(goparquet.Leaf(goparquet.DoubleType)), nil
	case features.String:
		return goparquet.Optional(goparquet.String()), nil
	case features.Bool:
		return goparquet.Optional(goparquet.Leaf(goparquet.BooleanType)), nil
	}
	return nil, fmt.Errorf("no parquet type for %s", t)
}

func timestampNode() goparquet.Node { return goparquet.Timestamp(goparquet.Microsecond) }
