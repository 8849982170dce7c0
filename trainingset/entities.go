package trainingset

import (
	"fmt"
	"os"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// EntityTable is an entity table opened and checked exactly as Build opens
// it (Parquet, CSV or a folder), for the other engines of the join
// (trainingset/bqjoin). Not safe for concurrent use.
type EntityTable struct {
	File  *parquet.File
	Times []int64 // event_timestamp of each row, microseconds; never null
}

// OpenEntityTable opens path as Build would for the requested features
// (their views' join keys type a CSV file's key columns) and reads its
// event_timestamp column.
func OpenEntityTable(reg *features.Registry, path string, refs []features.FeatureRef) (*EntityTable, error) {
	in, err := openEntities(reg, Options{Entities: path, Features: refs})
	if err != nil {
		return nil, fmt.Errorf("entity file: %w", err)
	}
	if err := checkEntityFile(in); err != nil {
		in.Close()
		return nil, err
	}
	times, err := readAllTimes(in)
	if err != nil {
		in.Close()
		return nil, err
	}
	return &EntityTable{File: in, Times: times}, nil
}

// Column reads a whole column as type t (a join key).
func (e *EntityTable) Column(name string, t features.Type) (*features.Column, error) {
	if !e.File.HasColumn(name) {
		return nil, fmt.Errorf("entity file %s: missing column %s", e.File.Name(), name)
	}
	c, err := readAllColumn(e.File, name, t)
	if err != nil {
		return nil, fmt.Errorf("entity file: %w", err)
	}
	return c, nil
}

// WriteParquet writes the entity rows, every column passed through, followed
// by extra (one value per row), to path atomically.
func (e *EntityTable) WriteParquet(path string, extra []*features.Column) error {
	if err := parquet.WriteFileAtomic(path, func(w *os.File) error {
		return parquet.WriteExtended(w, e.File, extra)
	}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Close releases the file.
func (e *EntityTable) Close() error { return e.File.Close() }

// TimeColumn reads a whole TIMESTAMP column as microseconds (Int64).
func (e *EntityTable) TimeColumn(name string) (*features.Column, error) {
	c := features.NewColumn(name, features.Int64, 0)
	for _, rg := range e.File.RowGroups() {
		var err error
		if c.Ints, c.Valid, err = e.File.ReadTimes(rg, name, c.Ints, c.Valid); err != nil {
			return nil, fmt.Errorf("entity file: %w", err)
		}
	}
	return c, nil
}
