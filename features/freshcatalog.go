package features

import (
	"fmt"
	"strconv"
	"time"
)

// CatalogFresh is what a catalog carries of a fresh view: enough for a
// reader built from a published catalog (RegistryFromCatalog) to merge the
// view's tiles (FreshValues) and decode them (UnmarshalTileState) without
// the registry's code. Batch views have none, so their catalogs (and
// catalog versions) are unchanged.
type CatalogFresh struct {
	TileSeconds       int64            `json:"tile_seconds"`
	IngestDelayMicros int64            `json:"ingest_delay_micros"`
	Aggregations      []CatalogAggSpec `json:"aggregations"`
}

// CatalogAggSpec is one aggregation of a fresh view, as data.
type CatalogAggSpec struct {
	Name          string            `json:"name"`
	Kind          AggKind           `json:"kind"`
	Column        string            `json:"column,omitempty"`
	WindowSeconds int64             `json:"window_seconds"`
	Where         *CatalogPredicate `json:"where,omitempty"`
}

// CatalogPredicate is a Where filter as data; the value is written as text
// of its type so 64-bit integers survive JSON.
type CatalogPredicate struct {
	Column string `json:"column"`
	Op     Op     `json:"op"`
	Type   Type   `json:"type"`
	Value  string `json:"value"`
}

func catalogFresh(v *View) *CatalogFresh {
	if v.Fresh == nil {
		return nil
	}
	cf := &CatalogFresh{TileSeconds: int64(v.Fresh.Tile / time.Second), IngestDelayMicros: v.Fresh.IngestDelay.Microseconds()}
	for _, a := range v.Aggregations {
		s := CatalogAggSpec{Name: a.Name, Kind: a.Kind, Column: a.Column, WindowSeconds: int64(a.Window / time.Second)}
		if p := a.Where; p != nil {
			s.Where = &CatalogPredicate{Column: p.Column, Op: p.Op, Type: p.Value.Type(), Value: valueText(p.Value)}
		}
		cf.Aggregations = append(cf.Aggregations, s)
	}
	return cf
}

func valueText(v Value) string {
	switch v.typ {
	case Int64:
		return strconv.FormatInt(v.i, 10)
	case Float64:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case String:
		return v.s
	case Bool:
		return strconv.FormatBool(v.i != 0)
	}
	return ""
}

func parseValueText(t Type, s string) (Value, error) {
	switch t {
	case Int64:
		i, err := strconv.ParseInt(s, 10, 64)
		return IntValue(i), err
	case Float64:
		f, err := strconv.ParseFloat(s, 64)
		return FloatValue(f), err
	case String:
		return StringValue(s), nil
	case Bool:
		b, err := strconv.ParseBool(s)
		return BoolValue(b), err
	}
	return Null, fmt.Errorf("type %s unknown", t)
}

// freshFromCatalog rebuilds a published fresh view's aggregations, typed
// by its features, in v; feats are the catalog's features in stored order.
func freshFromCatalog(v *View, cf *CatalogFresh, feats []Feature) error {
	if cf.TileSeconds <= 0 || cf.TileSeconds > 24*3600 || cf.IngestDelayMicros < 0 || cf.IngestDelayMicros > MaxIngestDelay.Microseconds() {
		return fmt.Errorf("fresh: tile_seconds %d or ingest_delay_micros %d out of range", cf.TileSeconds, cf.IngestDelayMicros)
	}
	if len(cf.Aggregations) != len(feats) {
		return fmt.Errorf("fresh: %d aggregations for %d features", len(cf.Aggregations), len(feats))
	}
	v.Fresh = &Fresh{Tile: time.Duration(cf.TileSeconds) * time.Second, IngestDelay: time.Duration(cf.IngestDelayMicros) * time.Microsecond}
	for i, s := range cf.Aggregations {
		if s.Name != feats[i].Name {
			return fmt.Errorf("fresh: aggregation %d is %q, feature %d is %q", i, s.Name, i, feats[i].Name)
		}
		if _, ok := aggCodes[s.Kind]; !ok {
			return fmt.Errorf("fresh: aggregation %s: kind %q unknown", s.Name, s.Kind)
		}
		if s.WindowSeconds <= 0 || s.WindowSeconds > int64(MaxWindow/time.Second) || s.WindowSeconds%cf.TileSeconds != 0 ||
			s.WindowSeconds/cf.TileSeconds > MaxTilesPerWindow {
			return fmt.Errorf("fresh: aggregation %s: window_seconds %d invalid for tile_seconds %d", s.Name, s.WindowSeconds, cf.TileSeconds)
		}
		a := Aggregation{Name: s.Name, Kind: s.Kind, Column: s.Column, Window: time.Duration(s.WindowSeconds) * time.Second,
			Description: feats[i].Description, resultType: feats[i].Type}
		if p := s.Where; p != nil {
			val, err := parseValueText(p.Type, p.Value)
			if err != nil {
				return fmt.Errorf("fresh: aggregation %s: filter value %q: %w", s.Name, p.Value, err)
			}
			a.Where = &Predicate{Column: p.Column, Op: p.Op, Value: val}
		}
		v.Aggregations = append(v.Aggregations, a)
	}
	v.Func = nil
	return nil
}
