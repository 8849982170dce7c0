package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// IsGCS reports whether loc is a Cloud Storage location (gs://bucket/...).
func IsGCS(loc string) bool { return strings.HasPrefix(loc, "gs://") }

// FetchLocal makes a file a command reads available on local disk: a local
// path is returned as is; gs://bucket/object is copied, through gcsfs (Application
// Default Credentials, or STORAGE_EMULATOR_HOST), into a temporary folder
// under its own base name (so .csv stays CSV); gs://bucket/folder (an entity
// folder, such as a served log's _served) is copied with every .parquet
// file below it, hidden names ("." or "_") skipped as a local folder reads.
// cleanup removes the copy; it is never nil.
func FetchLocal(ctx context.Context, loc, tempDir string) (local string, cleanup func(), err error) {
	cleanup = func() {}
	if !IsGCS(loc) {
		return loc, cleanup, nil
	}
	bucket, key, err := gcsfs.ParseURL(loc)
	if err != nil {
		return "", cleanup, err
	}
	if key == "" {
		return "", cleanup, fmt.Errorf("%s names a whole bucket: give an object or a folder in it", loc)
	}
	parent, base := path.Split(key)
	fsys, err := gcsfs.Open(ctx, "gs://"+bucket+"/"+strings.TrimSuffix(parent, "/"), gcsfs.Options{})
	if err != nil {
		return "", cleanup, err
	}
	defer fsys.Close()
	tmp, err := os.MkdirTemp(tempDir, "skewfree-gcs-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	defer func() {
		if err != nil {
			cleanup()
			cleanup = func() {}
		}
	}()
	local = filepath.Join(tmp, base)
	if _, serr := fsys.Stat(ctx, base); serr == nil {
		return local, cleanup, download(ctx, fsys, base, local)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return "", cleanup, serr
	}
	// A folder: every .parquet file below it.
	n := 0
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := fsys.List(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			rel := path.Join(dir, e.Name)
			switch {
			case strings.HasPrefix(e.Name, ".") || strings.HasPrefix(e.Name, "_"):
			case e.Dir:
				if err := walk(rel); err != nil {
					return err
				}
			case strings.HasSuffix(e.Name, ".parquet"):
				if err := download(ctx, fsys, rel, filepath.Join(tmp, filepath.FromSlash(rel))); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	}
	if err := walk(base); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", cleanup, fmt.Errorf("%s: no such object or folder: %w", loc, err)
		}
		return "", cleanup, err
	}
	if n == 0 {
		return "", cleanup, fmt.Errorf("%s: the folder holds no .parquet files", loc)
	}
	return local, cleanup, nil
}

// download copies name of fsys to the local file to.
func download(ctx context.Context, fsys parquet.FS, name, to string) (err error) {
	obj, err := fsys.Open(ctx, name)
	if err != nil {
		return err
	}
	defer obj.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return parquet.WriteFileAtomic(to, func(f *os.File) error {
		if _, err := io.Copy(f, io.NewSectionReader(obj, 0, obj.Size())); err != nil {
			return fmt.Errorf("copy %s: %w", fsys.Location(name), err)
		}
		return nil
	})
}

// StageOutput is where a command writes a file that goes to loc: loc itself
// when local; for gs://bucket/object a temporary local file, which commit
// uploads as one object (whole or not at all, replacing an existing one).
// cleanup removes the temporary file, except after a failed commit: the
// result is then kept (the error names it), so a refused upload does not
// cost the work. Both are never nil.
func StageOutput(ctx context.Context, loc, tempDir string) (local string, commit func(context.Context) error, cleanup func(), err error) {
	commit, cleanup = func(context.Context) error { return nil }, func() {}
	if !IsGCS(loc) {
		return loc, commit, cleanup, nil
	}
	bucket, key, err := gcsfs.ParseURL(loc)
	if err != nil {
		return "", commit, cleanup, err
	}
	parent, base := path.Split(key)
	if base == "" {
		return "", commit, cleanup, fmt.Errorf("%s names no object", loc)
	}
	// Checked before the work: a missing bucket or permission fails now.
	fsys, err := gcsfs.Open(ctx, "gs://"+bucket+"/"+strings.TrimSuffix(parent, "/"), gcsfs.Options{})
	if err != nil {
		return "", commit, cleanup, err
	}
	tmp, err := os.MkdirTemp(tempDir, "skewfree-out-")
	if err != nil {
		fsys.Close()
		return "", commit, cleanup, err
	}
	local = filepath.Join(tmp, base)
	keep := false
	cleanup = func() {
		if !keep {
			os.RemoveAll(tmp)
		}
		fsys.Close()
	}
	commit = func(ctx context.Context) error {
		// The write may run more than once (a replace that lost a race
		// retries): each run uploads the file from its start.
		err := fsys.WriteFile(ctx, base, parquet.Replace, func(w io.Writer) error {
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
		if err != nil {
			keep = true
			return fmt.Errorf("upload %s: %w (the result is kept at %s)", loc, err, local)
		}
		return nil
	}
	return local, commit, cleanup, nil
}
