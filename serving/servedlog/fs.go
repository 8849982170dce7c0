package servedlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/skewfree/skewfree/store/parquet"
)

// FSWriter writes the log's files under Folder of an offline store's
// parquet.FS: a local folder, or Cloud Storage (store/parquet/gcsfs), where
// each file is one object, whole or absent, created only if absent (names
// are unique per instance and sequence, so a retried upload never
// duplicates or overwrites a file).
type FSWriter struct{ FS parquet.FS }

var _ Writer = FSWriter{}

// InFS is the served log of the offline store kept in fsys
// (<root>/_served).
func InFS(fsys parquet.FS) FSWriter { return FSWriter{FS: fsys} }

// WriteFile implements Writer.
func (w FSWriter) WriteFile(ctx context.Context, name string, write func(io.Writer) error) error {
	if w.FS == nil || name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return fmt.Errorf("servedlog: bad file %q", name)
	}
	rel := path.Join(Folder, name)
	if err := w.FS.WriteFile(ctx, rel, parquet.Create, write); err != nil {
		return fmt.Errorf("servedlog: write %s: %w", w.FS.Location(rel), err)
	}
	return nil
}

// FilesFS lists the served log files under Folder of fsys whose date=
// folder may hold request times in [from, to] (zero: unbounded), as names
// relative to fsys's root, sorted. Hidden names ("." or "_") are skipped;
// no log at all is no file and no error.
func FilesFS(ctx context.Context, fsys parquet.FS, from, to time.Time) ([]string, error) {
	var files []string
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := fsys.List(ctx, dir)
		if err != nil {
			if dir == Folder && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".") || strings.HasPrefix(e.Name, "_") {
				continue
			}
			if !e.Dir {
				if strings.HasSuffix(e.Name, ".parquet") {
					files = append(files, path.Join(dir, e.Name))
				}
				continue
			}
			if date, ok := strings.CutPrefix(e.Name, "date="); ok {
				if day, err := time.Parse(time.DateOnly, date); err == nil &&
					((!from.IsZero() && day.Before(from.UTC().Truncate(24*time.Hour))) || (!to.IsZero() && day.After(to.UTC()))) {
					continue
				}
			}
			if err := walk(path.Join(dir, e.Name)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(Folder); err != nil {
		return nil, fmt.Errorf("servedlog: list %s: %w", fsys.Location(Folder), err)
	}
	slices.Sort(files)
	return files, nil
}

// ReadFileFS reads the served log file name (as FilesFS lists it) of fsys.
// Log.Path is its location.
func ReadFileFS(ctx context.Context, fsys parquet.FS, name string) (*Log, error) {
	f, err := parquet.OpenFileFS(ctx, fsys, name)
	if err != nil {
		return nil, fmt.Errorf("servedlog: %w", err)
	}
	defer f.Close()
	return readLog(f, fsys.Location(name))
}
