package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// FS is where the offline store and the sources keep their files: a local
// folder (DirFS) or a Cloud Storage prefix (package store/parquet/gcsfs).
// Everything Store and Sources write or read goes through it, so both
// places hold the same layout with the same guarantees.
//
// Names are slash-separated paths relative to the root ("" is the root).
// Implementations must be safe for concurrent use.
type FS interface {
	// Location is name as people and other tools address it: a local
	// path, or gs://bucket/prefix/name. ViewFiles lists locations.
	Location(name string) string
	// Open opens name for random-access reads. What it reads is the content
	// name had when opened, whatever is written to name meanwhile. A
	// missing name is an error matching fs.ErrNotExist.
	Open(ctx context.Context, name string) (Object, error)
	// ReadFile reads a small file whole (markers, run records). A missing
	// name is an error matching fs.ErrNotExist.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// WriteFile stores what write produces as name, atomically: readers see
	// the earlier content or all of the new one, never a part, and when
	// write or the store fails nothing of it is left. With Create, an
	// existing name is kept and the error matches fs.ErrExist. write may be
	// called more than once (a replace that lost a race to another writer
	// retries): each call must produce the same bytes from the start.
	WriteFile(ctx context.Context, name string, mode WriteMode, write func(io.Writer) error) error
	// Remove deletes name; a missing name is no error.
	Remove(ctx context.Context, name string) error
	// List returns the entries directly below dir, files and folders, in
	// no particular order. A dir that does not exist (on an object store:
	// no object below it) is an error matching fs.ErrNotExist.
	List(ctx context.Context, dir string) ([]Entry, error)
	// Stat returns name's size; a missing name is an error matching
	// fs.ErrNotExist.
	Stat(ctx context.Context, name string) (int64, error)
}

// WriteMode says what FS.WriteFile does with an existing file.
type WriteMode int

const (
	// Replace swaps the content for the new one, whole (a retry of the
	// same run rewriting its own file).
	Replace WriteMode = iota
	// Create keeps an existing file (fs.ErrExist): the first write wins,
	// as publication markers need.
	Create
)

// Entry is one name below a folder.
type Entry struct {
	Name string // base name
	Dir  bool
}

// Object is an open file. The caller closes it; ReadAt is safe for
// concurrent use.
type Object interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// ByteRange is a part of an object: Len bytes from Off.
type ByteRange struct{ Off, Len int64 }

// Prefetcher is an Object that fetches byte ranges ahead of the reads that
// need them: a remote object turns many small page reads into one request
// per range. File hands it the column chunks a read will take.
type Prefetcher interface {
	Prefetch(ranges []ByteRange) error
}

// DirFS is a local folder. Writes go to a hidden temporary file, are synced
// and renamed (Replace) or hard-linked (Create) into place.
type DirFS string

var _ FS = DirFS("")

func (d DirFS) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// checkName refuses a name that would leave the root.
func checkName(name string) error {
	if strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("file name %q is not a path inside the store", name)
	}
	return nil
}

// Location implements FS.
func (d DirFS) Location(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}

// Open implements FS.
func (d DirFS) Open(ctx context.Context, name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return osObject{f, st.Size()}, nil
}

type osObject struct {
	*os.File
	size int64
}

func (o osObject) Size() int64 { return o.size }

// ReadFile implements FS.
func (d DirFS) ReadFile(ctx context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// WriteFile implements FS.
func (d DirFS) WriteFile(ctx context.Context, name string, mode WriteMode, write func(io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	return writeLocal(p, mode, func(f *os.File) error { return write(f) })
}

// Remove implements FS.
func (d DirFS) Remove(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List implements FS.
func (d DirFS) List(ctx context.Context, dir string) ([]Entry, error) {
	p, err := d.path(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(ents))
	for i, e := range ents {
		out[i] = Entry{Name: e.Name(), Dir: e.IsDir()}
	}
	return out, nil
}

// Stat implements FS.
func (d DirFS) Stat(ctx context.Context, name string) (int64, error) {
	p, err := d.path(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// join is path.Join for store names.
func join(elem ...string) string { return path.Join(elem...) }

// OpenFileFS opens the Parquet file name of fsys (on Cloud Storage by range
// reads of one pinned generation); the File's name is its location.
func OpenFileFS(ctx context.Context, fsys FS, name string) (*File, error) {
	return openFS(ctx, fsys, name)
}
