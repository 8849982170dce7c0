package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// Store is the offline store under one root: a local folder or a Cloud
// Storage prefix, through an FS. Safe for concurrent use: writers of
// different windows never touch the same file, and a window's file appears
// whole (by rename on disk, by object finalization on Cloud Storage).
type Store struct {
	fs FS
}

// Open opens the offline store at url: file:///abs/path, file://rel/path or a
// plain path. The root is created when missing. gs:// locations open through
// package gcsfs and OpenFS (app.OpenOffline does both).
func Open(url string) (*Store, error) {
	root, err := LocalPath(url)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("offline store: %w", err)
	}
	return &Store{fs: DirFS(root)}, nil
}

// OpenFS opens the offline store kept in fsys.
func OpenFS(fsys FS) *Store { return &Store{fs: fsys} }

// FS is where the store keeps its files.
func (s *Store) FS() FS { return s.fs }

// LocalPath turns a file:// URL or a plain path into a path.
func LocalPath(url string) (string, error) {
	switch {
	case url == "":
		return "", errors.New("offline store: empty location (set SKEWFREE_OFFLINE or --offline)")
	case strings.HasPrefix(url, "file://"):
		p := strings.TrimPrefix(url, "file://")
		if p == "" {
			return "", fmt.Errorf("offline store: %q has no path", url)
		}
		return filepath.Clean(p), nil
	case strings.HasPrefix(url, "gs://"):
		return "", fmt.Errorf("offline store: %q is on Cloud Storage: open it with app.OpenOffline (package gcsfs), not as a local path", url)
	case strings.Contains(url, "://"):
		return "", fmt.Errorf("offline store: %q is not a local location (want file://path or gs://bucket/prefix)", url)
	}
	return filepath.Clean(url), nil
}

// Root is the store's location: its local folder, or gs://bucket/prefix.
func (s *Store) Root() string { return s.fs.Location("") }

// Partition is a written window: its file (relative to the root) and rows.
type Partition struct {
	Path string `json:"path"`
	Rows int64  `json:"rows"`
}

// WindowStamp formats a window end as it appears in file names.
func WindowStamp(end time.Time) string { return end.UTC().Format("20060102T150405Z") }

// WindowFile is the path, relative to the root, of a window's file in the
// old, unversioned form (part-<E>[-<shard>].parquet); shard < 0 means the
// window is not sharded. Readers still accept such files; WriteWindow writes
// VersionFile names.
func WindowFile(view string, end time.Time, shard int) string {
	return partFile(view, end, "part-"+WindowStamp(end), shard)
}

// WriteWindow writes the rows of view's window ending at end as the version
// created at created (the run's created_timestamp): its own file, named by
// VersionFile, so earlier versions of the window stay. A retry of the same
// run (same created) replaces only this version's file. shard < 0 writes the
// whole window and removes any shard files of this same version; shard >= 0
// writes one shard (see RemoveStaleShards). The file is written under a
// temporary name, synced and renamed, so readers see the old file or the new
// one, never a part.
func (s *Store) WriteWindow(ctx context.Context, view string, end, created time.Time, shard int, f *features.Frame, fingerprint string) (Partition, error) {
	if err := ctx.Err(); err != nil {
		return Partition{}, err
	}
	if created.IsZero() {
		return Partition{}, fmt.Errorf("offline store: write %s window %s: no created time (every run is a version named by it)",
			view, end.UTC().Format(time.RFC3339))
	}
	for i, t := range f.Time {
		if t != features.Micros(end) {
			return Partition{}, fmt.Errorf("offline store: row %d of %s has event_timestamp %s, want the window end %s",
				i, view, features.FromMicros(t).Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339))
		}
	}
	rel := VersionFile(view, end, created, shard)
	meta := map[string]string{FingerprintKey: fingerprint}
	if err := s.fs.WriteFile(ctx, rel, Replace, func(w io.Writer) error {
		return WriteFrame(w, f, EventTimestamp, meta)
	}); err != nil {
		return Partition{}, fmt.Errorf("offline store: write %s: %w", rel, err)
	}
	if shard < 0 {
		if err := s.RemoveStaleShards(ctx, view, end, created, 0); err != nil {
			return Partition{}, err
		}
	}
	return Partition{Path: rel, Rows: int64(f.Len())}, nil
}

// RemoveStaleShards deletes the shard files of one version of a window
// (created) numbered >= shards (all of them for 0), so a retry of a run with
// fewer shards holds no rows twice. Files of other versions, and files in
// the old unversioned form, are never touched.
func (s *Store) RemoveStaleShards(ctx context.Context, view string, end, created time.Time, shards int) error {
	if created.IsZero() {
		return nil // no version named: nothing of ours to remove
	}
	dir := dateDir(view, end)
	ents, err := s.fs.List(ctx, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("offline store: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, ok := ParseFileName(e.Name)
		if e.Dir || !ok || !n.WindowEnd.Equal(end) || !n.Versioned() || !n.Created.Equal(created.UTC().Truncate(time.Microsecond)) ||
			n.Shard < 0 || n.Shard < shards {
			continue
		}
		if err := s.fs.Remove(ctx, join(dir, e.Name)); err != nil {
			return fmt.Errorf("offline store: remove stale shard: %w", err)
		}
	}
	return nil
}

// RemoveWindowFile deletes the unsharded file of one version of a window
// (created), if any; other versions are never touched.
func (s *Store) RemoveWindowFile(ctx context.Context, view string, end, created time.Time) error {
	if created.IsZero() {
		return nil
	}
	if err := s.fs.Remove(ctx, VersionFile(view, end, created, -1)); err != nil {
		return fmt.Errorf("offline store: %w", err)
	}
	return nil
}

// writeAtomic writes a file by temp file, fsync and rename.
func writeAtomic(path string, write func(*os.File) error) error {
	return writeLocal(path, Replace, write)
}

// writeLocal writes a file by temp file, fsync and then rename (Replace) or
// hard link (Create: an existing file is kept, fs.ErrExist).
func writeLocal(path string, mode WriteMode, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := createTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if mode == Create {
		err := os.Link(tmp.Name(), path)
		os.Remove(tmp.Name())
		ok = true
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %w", path, fs.ErrExist)
			}
			return err
		}
	} else {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
		ok = true
	}
	removeStaleTemps(dir, filepath.Base(path))
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // persist the rename; not every filesystem supports it
		d.Close()
	}
	return nil
}

// createTemp creates a new file dir/prefix<random> for writing. Unlike
// os.CreateTemp (always 0600) it asks for 0644, which the process umask then
// narrows: offline files, training sets and sources are shared data, readable
// by whoever the umask lets read them, like any file a tool writes.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("create a temporary file in %s: too many name collisions", dir)
}

// staleTemp is the age past which a temp file of ours cannot belong to a
// live writer: activities time out well before it. Younger ones may be a
// concurrent attempt's and are left alone.
const staleTemp = 2 * time.Hour

// removeStaleTemps deletes temp files a crashed writer of the same file left.
// Readers skip them anyway; this only reclaims the space.
func removeStaleTemps(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+base+".tmp-*"))
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && time.Since(st.ModTime()) > staleTemp {
			_ = os.Remove(m)
		}
	}
}

// WriteFileAtomic writes a frame to a standalone file (a training set, a
// source partition) atomically.
func WriteFileAtomic(path string, write func(*os.File) error) error { return writeAtomic(path, write) }

// ViewFiles lists the Parquet files of a view whose rows may have an
// event_timestamp in [from, to] (either zero = unbounded), pruning by the
// date= folders: on Cloud Storage only the date= prefixes of the range are
// listed. Files outside date= folders are always listed. Hidden files (".",
// "_") are in-progress writes or tool metadata and are skipped. The result
// holds locations (FS.Location): local paths, or gs:// URLs; OpenFile and
// KnownAt take them back.
func (s *Store) ViewFiles(ctx context.Context, view string, from, to time.Time) ([]string, error) {
	names, err := listParquet(ctx, s.fs, view, from, to)
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		names[i] = s.fs.Location(n)
	}
	return names, nil
}

// listParquet lists the *.parquet names below dir (sorted), pruning date=
// folders outside [from, to] and skipping hidden names. A missing dir holds
// no file.
func listParquet(ctx context.Context, fsys FS, dir string, from, to time.Time) ([]string, error) {
	var files []string
	var walk func(d string, top bool) error
	walk = func(d string, top bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := fsys.List(ctx, d)
		if err != nil {
			if top && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, e := range ents {
			name := e.Name
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				continue
			}
			if !e.Dir {
				if strings.HasSuffix(name, ".parquet") {
					files = append(files, join(d, name))
				}
				continue
			}
			if date, ok := strings.CutPrefix(name, "date="); ok {
				day, err := time.Parse(time.DateOnly, date)
				if err == nil && ((!from.IsZero() && day.Before(from.UTC().Truncate(24*time.Hour))) || (!to.IsZero() && day.After(to.UTC()))) {
					continue
				}
			}
			if err := walk(join(d, name), false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dir, true); err != nil {
		return nil, fmt.Errorf("list %s: %w", fsys.Location(dir), err)
	}
	slices.Sort(files)
	return files, nil
}

// name turns a location ViewFiles listed back into a name of the store.
func (s *Store) name(loc string) (string, error) {
	root := s.fs.Location("")
	rel, ok := strings.CutPrefix(loc, strings.TrimSuffix(root, "/")+"/")
	if !ok {
		if local, isDir := s.fs.(DirFS); isDir && !strings.Contains(loc, "://") {
			// A local path in another spelling (relative, uncleaned).
			r, err := filepath.Rel(string(local), loc)
			if err == nil && !strings.HasPrefix(r, "..") {
				return filepath.ToSlash(r), nil
			}
		}
		return "", fmt.Errorf("offline store: %s is not a file of the store at %s", loc, root)
	}
	return filepath.ToSlash(rel), nil
}

// OpenFile opens a file ViewFiles listed (a location), through the store's
// FS: on Cloud Storage by range reads of one pinned generation.
func (s *Store) OpenFile(ctx context.Context, loc string) (*File, error) {
	name, err := s.name(loc)
	if err != nil {
		return nil, err
	}
	return openFS(ctx, s.fs, name)
}

// OpenPartition opens a partition by its path relative to the root (as
// WriteWindow returns it), wherever the store is: a worker on another host
// reads back what one wrote.
func (s *Store) OpenPartition(ctx context.Context, rel string) (*File, error) {
	return openFS(ctx, s.fs, filepath.ToSlash(rel))
}

// openFS opens a Parquet file of fsys.
func openFS(ctx context.Context, fsys FS, name string) (*File, error) {
	obj, err := fsys.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := NewFile(obj, obj.Size(), fsys.Location(name))
	if err != nil {
		obj.Close()
		return nil, err
	}
	f.closer = obj
	return f, nil
}

// HasWindow reports whether view's window ending at end is stored for good:
// it has a published version (one with a publication marker), a file written
// before versions (part-<stamp>[-<shard>].parquet), or a file another tool
// named part-<stamp>-<anything>.parquet. A version of ours without a marker
// does not count: its run failed or is still pushing (a lone shard of a
// failed sharded run, a complete version whose push never finished), so a
// backfill must compute the window again. Hidden files (writes in progress)
// do not count.
func (s *Store) HasWindow(ctx context.Context, view string, end time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	dir := dateDir(view, end)
	ents, err := s.fs.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline store: list %s: %w", s.fs.Location(dir), err)
	}
	stamp := "part-" + WindowStamp(end)
	checked := map[time.Time]bool{}
	for _, e := range ents {
		name := e.Name
		if e.Dir || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".parquet") {
			continue
		}
		rest := strings.TrimPrefix(name, stamp)
		if rest == name || (rest != ".parquet" && !strings.HasPrefix(rest, "-")) {
			continue
		}
		n, ok := ParseFileName(name)
		if !ok || !n.Versioned() {
			return true, nil // another tool's file, or one from before versions
		}
		if checked[n.Created] {
			continue
		}
		checked[n.Created] = true
		_, published, err := s.Publication(ctx, view, end, n.Created)
		if err != nil {
			return false, err
		}
		if published {
			return true, nil
		}
	}
	return false, nil
}
