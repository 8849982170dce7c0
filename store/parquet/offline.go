package parquet

import (
	"context"
	"errors"
	"fmt"
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

// Store is the offline store under one local root. Safe for concurrent use:
// writers of different windows never touch the same file, and a window's file
// appears by rename, whole.
type Store struct {
	root string
}

// Open opens the offline store at url: file:///abs/path, file://rel/path or a
// plain path. The root is created when missing.
func Open(url string) (*Store, error) {
	root, err := LocalPath(url)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("offline store: %w", err)
	}
	return &Store{root: root}, nil
}

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
	case strings.Contains(url, "://"):
		return "", fmt.Errorf("offline store: %q is not a local location (want file://path)", url)
	}
	return filepath.Clean(url), nil
}

// Root is the store's local folder.
func (s *Store) Root() string { return s.root }

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
	if err := writeAtomic(filepath.Join(s.root, rel), func(w *os.File) error {
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
	dir := filepath.Join(s.root, dateDir(view, end))
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("offline store: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, ok := ParseFileName(e.Name())
		if !ok || !n.WindowEnd.Equal(end) || !n.Versioned() || !n.Created.Equal(created.UTC().Truncate(time.Microsecond)) ||
			n.Shard < 0 || n.Shard < shards {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
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
	err := os.Remove(filepath.Join(s.root, VersionFile(view, end, created, -1)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("offline store: %w", err)
	}
	return nil
}

// writeAtomic writes a file by temp file, fsync and rename.
func writeAtomic(path string, write func(*os.File) error) error {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
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
// date= folders; files outside date= folders are always listed. Hidden files
// (".", "_") are in-progress writes or tool metadata and are skipped.
func (s *Store) ViewFiles(ctx context.Context, view string, from, to time.Time) ([]string, error) {
	return listParquet(ctx, filepath.Join(s.root, view), from, to)
}

func listParquet(ctx context.Context, dir string, from, to time.Time) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if date, ok := strings.CutPrefix(name, "date="); ok {
				day, err := time.Parse(time.DateOnly, date)
				if err != nil {
					return nil // not our partitioning; read it
				}
				if (!from.IsZero() && day.Before(from.UTC().Truncate(24*time.Hour))) || (!to.IsZero() && day.After(to.UTC())) {
					return fs.SkipDir
				}
			}
			return nil
		}
		if strings.HasSuffix(name, ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
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
	dir := filepath.Join(s.root, dateDir(view, end))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline store: list %s: %w", dir, err)
	}
	stamp := "part-" + WindowStamp(end)
	checked := map[time.Time]bool{}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".parquet") {
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
