package trainingset

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// IsFolder reports whether an entity table path names a folder.
func IsFolder(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// openFolder reads every Parquet file below dir (sorted by path; hidden
// files and folders starting with "." or "_" skipped, as writes in progress
// are) into one in-memory entity table: the union of their columns, in the
// order first seen, nulls where a file lacks a column. A column must have
// one type in every file. A served log folder (serving/servedlog), whose
// files differ in their feature columns, reads this way.
func openFolder(dir string) (*parquet.File, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("entity folder %s holds no .parquet files", dir)
	}
	slices.Sort(files)

	type union struct {
		col  *features.Column
		time bool // a TIMESTAMP column (Int64 µs)
	}
	var order []string
	cols := map[string]*union{}
	rows := 0
	for _, path := range files {
		n, err := readInto(path, rows, func(name string, typ features.Type, isTime bool) (*features.Column, error) {
			u := cols[name]
			if u == nil {
				u = &union{col: features.NewNullColumn(name, typ, rows), time: isTime}
				cols[name] = u
				order = append(order, name)
			}
			if u.col.Type != typ || u.time != isTime {
				return nil, fmt.Errorf("entity file %s: column %s has another type than in the folder's earlier files", path, name)
			}
			return u.col, nil
		})
		if err != nil {
			return nil, err
		}
		rows += n
		for _, u := range cols { // nulls where this file lacks the column
			for u.col.Len() < rows {
				_ = u.col.Append(features.Null)
			}
		}
	}
	out := make([]*features.Column, len(order))
	var optional []string
	for i, name := range order {
		out[i] = cols[name].col
		if cols[name].time && name != EntityColumn {
			optional = append(optional, name)
		}
	}
	var buf bytes.Buffer
	if err := parquet.WriteTableTimes(&buf, out, []string{EntityColumn}, optional, nil); err != nil {
		return nil, fmt.Errorf("entity folder %s: %w", dir, err)
	}
	return parquet.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dir)
}

// readInto appends every column of one file to the column col returns for
// it, and returns the file's row count.
func readInto(path string, before int, col func(name string, typ features.Type, isTime bool) (*features.Column, error)) (int, error) {
	f, err := parquet.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := checkEntityFile(f); err != nil {
		return 0, err
	}
	for _, name := range f.Columns() {
		isTime := f.IsTimestamp(name)
		typ, ok := features.Int64, true
		if !isTime {
			typ, ok = f.TypeOf(name)
		}
		if !ok {
			return 0, fmt.Errorf("entity file %s: column %s has type %s, which an entity folder cannot hold", path, name, f.ColumnType(name))
		}
		c, err := col(name, typ, isTime)
		if err != nil {
			return 0, err
		}
		if c.Len() != before {
			return 0, errors.New("entity folder: internal error: column lengths differ")
		}
		for _, rg := range f.RowGroups() {
			if isTime {
				c.Ints, c.Valid, err = f.ReadTimes(rg, name, c.Ints, c.Valid)
			} else {
				_, err = f.ReadColumn(rg, name, typ, c)
			}
			if err != nil {
				return 0, fmt.Errorf("entity file: %w", err)
			}
		}
	}
	return int(f.NumRows()), nil
}
