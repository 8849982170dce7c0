package features

import (
	"fmt"
	"time"
)

// CatalogFresh is what a published catalog carries of a fresh view, so that
// a reader on the published catalog (no registry code) can merge its tiles:
// the tile, the ingest delay and the aggregations with the types of the
// source columns they read.
type CatalogFresh struct {
	TileSeconds       int64                `json:"tile_seconds"`
	IngestDelayMicros int64                `json:"ingest_delay_micros"`
	Aggregations      []CatalogAggregation `json:"aggregations"`
}

// CatalogAggregation is one aggregation of a fresh view.
type CatalogAggregation struct {
	Name          string        `json:"name"`
	Kind          AggKind       `json:"kind"`
	Column        string        `json:"column,omitempty"`
	ColumnType    Type          `json:"column_type,omitempty"`
	WindowSeconds int64         `json:"window_seconds"`
	Where         *CatalogWhere `json:"where,omitempty"`
}

// CatalogWhere is an aggregation's filter: column op value, value of the
// column's type.
type CatalogWhere struct {
	Column     string `json:"column"`
	ColumnType Type   `json:"column_type"`
	Op         Op     `json:"op"`
	Value      any    `json:"value"`
}

// catalogFresh exports fresh view v's definition (nil for a batch view).
func catalogFresh(v *View, src *Source) *CatalogFresh {
	if v.Fresh == nil || src == nil {
		return nil
	}
	cf := &CatalogFresh{TileSeconds: int64(v.Fresh.Tile / time.Second), IngestDelayMicros: v.Fresh.IngestDelay.Microseconds()}
	for _, a := range v.Aggregations {
		ca := CatalogAggregation{Name: a.Name, Kind: a.Kind, Column: a.Column, WindowSeconds: int64(a.Window / time.Second)}
		if f, ok := src.Field(a.Column); ok {
			ca.ColumnType = f.Type
		}
		if a.Where != nil {
			f, _ := src.Field(a.Where.Column)
			ca.Where = &CatalogWhere{Column: a.Where.Column, ColumnType: f.Type, Op: a.Where.Op, Value: a.Where.Value.Any()}
		}
		cf.Aggregations = append(cf.Aggregations, ca)
	}
	return cf
}

// freshFromCatalog rebuilds a fresh view's aggregations from the catalog
// onto v (whose features are feats, as published), over a source holding
// just the columns they read. The result must have exactly the published
// features, or the catalog is refused.
func freshFromCatalog(v *View, cf *CatalogFresh, feats []Feature) error {
	src := &Source{Name: v.Source, TimestampField: "event_time"}
	addField := func(name string, t Type) error {
		if f, ok := src.Field(name); ok {
			if f.Type != t {
				return fmt.Errorf("column %q has types %s and %s", name, f.Type, t)
			}
			return nil
		}
		src.Fields = append(src.Fields, Field{Name: name, Type: t})
		return nil
	}
	v.Aggregations = nil
	for _, ca := range cf.Aggregations {
		a := Aggregation{Name: ca.Name, Kind: ca.Kind, Column: ca.Column, Window: time.Duration(ca.WindowSeconds) * time.Second}
		if ca.Column != "" {
			if err := addField(ca.Column, ca.ColumnType); err != nil {
				return err
			}
		}
		if w := ca.Where; w != nil {
			val, err := valueOfJSON(w.Value, w.ColumnType)
			if err != nil {
				return fmt.Errorf("aggregation %s: filter value: %w", ca.Name, err)
			}
			if err := addField(w.Column, w.ColumnType); err != nil {
				return err
			}
			a.Where = &Predicate{Column: w.Column, Op: w.Op, Value: val}
		}
		v.Aggregations = append(v.Aggregations, a)
	}
	for i := range v.Aggregations {
		if err := v.Aggregations[i].resolve(src); err != nil {
			return fmt.Errorf("aggregation %s: %w", v.Aggregations[i].Name, err)
		}
	}
	v.Func = nil
	v.Fresh = &Fresh{Tile: time.Duration(cf.TileSeconds) * time.Second, IngestDelay: time.Duration(cf.IngestDelayMicros) * time.Microsecond}
	got := v.Features()
	if len(got) != len(feats) {
		return fmt.Errorf("fresh aggregations give %d features, the view lists %d", len(got), len(feats))
	}
	for i := range got {
		if got[i].Name != feats[i].Name || got[i].Type != feats[i].Type {
			return fmt.Errorf("fresh aggregation %d is %s %s, the view lists %s %s", i, got[i].Name, got[i].Type, feats[i].Name, feats[i].Type)
		}
		v.Aggregations[i].Description = feats[i].Description
	}
	return checkFresh(v, src)
}

// valueOfJSON types a decoded JSON scalar (float64, string, bool) as t.
func valueOfJSON(x any, t Type) (Value, error) {
	switch t {
	case Int64:
		if f, ok := x.(float64); ok && f == float64(int64(f)) {
			return IntValue(int64(f)), nil
		}
		if i, ok := x.(int64); ok {
			return IntValue(i), nil
		}
	case Float64:
		if f, ok := x.(float64); ok {
			return FloatValue(f), nil
		}
	case String:
		if s, ok := x.(string); ok {
			return StringValue(s), nil
		}
	case Bool:
		if b, ok := x.(bool); ok {
			return BoolValue(b), nil
		}
	}
	return Null, fmt.Errorf("%v is not a %s", x, t)
}
