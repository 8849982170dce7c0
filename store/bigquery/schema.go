package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/skewfree/skewfree/features"
)

// tableSpec is what a view's table must be.
type tableSpec struct {
	view      string
	joinKey   string
	keyType   features.Type
	features  []features.Feature
	partition gbigquery.TimePartitioningType
	schema    gbigquery.Schema
}

// fieldType is the BigQuery type of a feature type.
func fieldType(t features.Type) (gbigquery.FieldType, error) {
	switch t {
	case features.Int64:
		return gbigquery.IntegerFieldType, nil
	case features.Float64:
		return gbigquery.FloatFieldType, nil
	case features.String:
		return gbigquery.StringFieldType, nil
	case features.Bool:
		return gbigquery.BooleanFieldType, nil
	}
	return "", fmt.Errorf("no bigquery type for %s", t)
}

// normalType maps standard SQL type names to the legacy names the API
// reports for the same types (a table made with DDL says INT64).
func normalType(t gbigquery.FieldType) gbigquery.FieldType {
	switch strings.ToUpper(string(t)) {
	case "INT64":
		return gbigquery.IntegerFieldType
	case "FLOAT64":
		return gbigquery.FloatFieldType
	case "BOOL":
		return gbigquery.BooleanFieldType
	}
	return gbigquery.FieldType(strings.ToUpper(string(t)))
}

// specOf returns the table of a registered view: the join key,
// event_timestamp and created_timestamp (REQUIRED), then the features
// (NULLABLE), in the view's order.
func (s *Store) specOf(view string) (tableSpec, error) {
	v, ok := s.reg.View(view)
	if !ok {
		return tableSpec{}, fmt.Errorf("%w: view %q is not registered", features.ErrInput, view)
	}
	ent := s.reg.EntityOf(v)
	sp := tableSpec{view: v.Name, joinKey: ent.JoinKey, keyType: ent.KeyType, features: v.Features(),
		partition: gbigquery.DayPartitioningType}
	if v.Cadence == features.Hourly {
		sp.partition = gbigquery.HourPartitioningType
	}
	kt, err := fieldType(ent.KeyType)
	if err != nil {
		return tableSpec{}, err
	}
	sp.schema = gbigquery.Schema{
		{Name: ent.JoinKey, Type: kt, Required: true, Description: "entity " + ent.Name},
		{Name: EventTimestamp, Type: gbigquery.TimestampFieldType, Required: true, Description: "as-of time of the values: the end of the run's window"},
		{Name: CreatedTimestamp, Type: gbigquery.TimestampFieldType, Required: true, Description: "when the run computed the row (its version)"},
	}
	for _, f := range sp.features {
		ft, err := fieldType(f.Type)
		if err != nil {
			return tableSpec{}, fmt.Errorf("view %s feature %s: %w", v.Name, f.Name, err)
		}
		sp.schema = append(sp.schema, &gbigquery.FieldSchema{Name: f.Name, Type: ft, Description: f.Description})
	}
	return sp, nil
}

// ensureTable creates the view's table when missing, or checks that the
// existing one takes the view's rows, adding a NULLABLE column for each
// new feature. An incompatible table is an ErrSchema naming table and
// column, and nothing is changed. Concurrent callers (shards of one
// window) are fine: a lost creation or update race is re-checked.
func (s *Store) ensureTable(ctx context.Context, sp tableSpec) error {
	name := s.dataset.String() + "." + sp.view
	t := s.ds().Table(sp.view)
	for attempt := 0; ; attempt++ {
		md, err := t.Metadata(ctx)
		if isNotFound(err) {
			err = t.Create(ctx, &gbigquery.TableMetadata{
				Schema:           sp.schema,
				TimePartitioning: &gbigquery.TimePartitioning{Type: sp.partition, Field: EventTimestamp},
				Clustering:       &gbigquery.Clustering{Fields: []string{sp.joinKey}},
				Description:      "Skewfree history of feature view " + sp.view + " (append-only; newest event_timestamp, then created_timestamp, wins)",
			})
			if err == nil {
				s.opts.Logger.Info("bigquery table created", "table", name, "partitioning", sp.partition, "clustering", sp.joinKey)
				return nil
			}
			if isConflict(err) && attempt < 3 {
				continue // created meanwhile: check it
			}
			return resourceError("create table "+name, err)
		}
		if err != nil {
			return resourceError("table "+name, err)
		}
		add, err := s.compatible(name, sp, md)
		if err != nil {
			return err
		}
		if len(add) == 0 {
			return nil
		}
		schema := append(append(gbigquery.Schema{}, md.Schema...), add...)
		_, err = t.Update(ctx, gbigquery.TableMetadataToUpdate{Schema: schema}, md.ETag)
		if err == nil {
			for _, f := range add {
				s.opts.Logger.Info("bigquery column added", "table", name, "column", f.Name, "type", f.Type)
			}
			return nil
		}
		if isPrecondition(err) && attempt < 3 {
			continue // changed meanwhile: check again
		}
		return resourceError("add columns to table "+name, err)
	}
}

// compatible checks table md against sp and returns the feature columns to
// add. Columns of the table that the view no longer has stay (new rows
// hold NULL there) unless they are REQUIRED.
func (s *Store) compatible(name string, sp tableSpec, md *gbigquery.TableMetadata) (add gbigquery.Schema, err error) {
	if tp := md.TimePartitioning; tp != nil && (!strings.EqualFold(tp.Field, EventTimestamp) || tp.Type != sp.partition) {
		field := tp.Field
		if field == "" {
			field = "_PARTITIONTIME"
		}
		return nil, fmt.Errorf("%w: table %s is partitioned by %s on %s; view %s needs %s partitions on %s (drop or rename the table)",
			ErrSchema, name, tp.Type, field, sp.view, sp.partition, EventTimestamp)
	}
	have := map[string]*gbigquery.FieldSchema{}
	for _, f := range md.Schema {
		have[strings.ToLower(f.Name)] = f
	}
	want := map[string]bool{}
	for i, w := range sp.schema {
		want[strings.ToLower(w.Name)] = true
		h, ok := have[strings.ToLower(w.Name)]
		if !ok {
			if w.Required {
				return nil, fmt.Errorf("%w: table %s has no column %s (view %s's %s); its rows cannot be appended",
					ErrSchema, name, w.Name, sp.view, role(i, sp))
			}
			add = append(add, w)
			continue
		}
		if h.Repeated || normalType(h.Type) != w.Type {
			kind := string(normalType(h.Type))
			if h.Repeated {
				kind = "REPEATED " + kind
			}
			return nil, fmt.Errorf("%w: table %s column %s is %s; view %s's %s is %s", ErrSchema, name, h.Name, kind, sp.view, role(i, sp), w.Type)
		}
		if h.Required && !w.Required {
			return nil, fmt.Errorf("%w: table %s column %s is REQUIRED; view %s's feature may be null (make the column NULLABLE)", ErrSchema, name, h.Name, sp.view)
		}
	}
	for _, h := range md.Schema {
		if h.Required && !want[strings.ToLower(h.Name)] {
			return nil, fmt.Errorf("%w: table %s column %s is REQUIRED and view %s has no such column (removed join key or feature?)", ErrSchema, name, h.Name, sp.view)
		}
	}
	return add, nil
}

// role names column i of a table spec for messages.
func role(i int, sp tableSpec) string {
	switch i {
	case 0:
		return "join key"
	case 1, 2:
		return "timestamp"
	}
	return "feature"
}

func isConflict(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusConflict
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}
