package parquet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// Versions: every run of a window writes its own files, named by the run's
// created_timestamp, so history is append-only (DESIGN.md, "Offline store").
//
//	<view>/date=D/part-<window end>-v<created>[-<shard>].parquet
//	<view>/date=D/_published/part-<window end>-v<created>.json
//
// The second is the publication marker: written once every row of the
// version is online. Readers of *.parquet skip "_" folders.

// versionLayout formats created times in file names: UTC, always six
// fractional digits, so names of one window sort by created.
const versionLayout = "20060102T150405.000000Z"

// PublishedDir is the folder, inside a date= folder, of publication markers.
const PublishedDir = "_published"

// VersionStamp formats a run's created time as it appears in file names,
// e.g. 20261121T020000.123456Z.
func VersionStamp(created time.Time) string { return created.UTC().Format(versionLayout) }

// versionName is the stem shared by a version's files and its marker.
func versionName(end, created time.Time) string {
	return "part-" + WindowStamp(end) + "-v" + VersionStamp(created)
}

func dateDir(view string, end time.Time) string {
	return join(view, "date="+end.UTC().Format(time.DateOnly))
}

// VersionFile is the path, relative to the root, of the file a run created
// at created writes for view's window ending at end; shard < 0 means the
// window is not sharded.
func VersionFile(view string, end, created time.Time, shard int) string {
	return partFile(view, end, versionName(end, created), shard)
}

// partFile is the path, relative to the root, of a window's file whose name
// starts with stem, for one shard (shard < 0: the whole window).
func partFile(view string, end time.Time, stem string, shard int) string {
	if shard >= 0 {
		stem += fmt.Sprintf("-%04d", shard)
	}
	return join(dateDir(view, end), stem+".parquet")
}

// PublishedFile is the path, relative to the root, of a version's
// publication marker.
func PublishedFile(view string, end, created time.Time) string {
	return markerIn(dateDir(view, end), end, created)
}

// markerIn is the path of a version's publication marker given its date
// folder (as a path relative to the root or not).
func markerIn(dir string, end, created time.Time) string {
	return join(dir, PublishedDir, versionName(end, created)+".json")
}

// FileName is what an offline file's name says about its rows.
type FileName struct {
	WindowEnd time.Time
	Created   time.Time // zero: the old, unversioned form part-<E>[-<shard>]
	Shard     int       // -1: the whole window
}

// Versioned reports whether the name carries a run's created time.
func (n FileName) Versioned() bool { return !n.Created.IsZero() }

// ParseFileName reads a file name (base name) of the offline layout, new
// (part-<E>-v<created>[-<shard>].parquet) or old (part-<E>[-<shard>].parquet).
// ok is false for any other name: a file some other tool wrote.
func ParseFileName(base string) (n FileName, ok bool) {
	stem, ok := strings.CutSuffix(base, ".parquet")
	if !ok {
		return n, false
	}
	if stem, ok = strings.CutPrefix(stem, "part-"); !ok {
		return n, false
	}
	parts := strings.Split(stem, "-")
	end, err := time.Parse("20060102T150405Z", parts[0])
	if err != nil {
		return FileName{}, false
	}
	n = FileName{WindowEnd: end, Shard: -1}
	parts = parts[1:]
	if len(parts) > 0 && strings.HasPrefix(parts[0], "v") {
		c, err := time.Parse(versionLayout, parts[0][1:])
		if err != nil || c.IsZero() {
			return FileName{}, false
		}
		n.Created = c
		parts = parts[1:]
	}
	if len(parts) > 0 {
		sh, err := strconv.Atoi(parts[0])
		if err != nil || sh < 0 || len(parts[0]) < 4 {
			return FileName{}, false
		}
		n.Shard = sh
		parts = parts[1:]
	}
	if len(parts) > 0 {
		return FileName{}, false
	}
	return n, true
}

// Publication records that every row of a version is online: the marker
// MarkPublished writes. Published is a time at or after the moment the last
// row was pushed; `--as-known-at` training sets see the version from then.
type Publication struct {
	View       string      `json:"view"`
	WindowEnd  time.Time   `json:"window_end"`
	Created    time.Time   `json:"created"`
	Published  time.Time   `json:"published"`
	Partitions []Partition `json:"partitions"`
}

// MarkPublished writes p's marker, atomically. It is idempotent: a marker
// already there is kept (the first publication of a version is its time),
// so a retried activity changes nothing. Every partition must exist.
func (s *Store) MarkPublished(ctx context.Context, p Publication) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.View == "" || p.WindowEnd.IsZero() || p.Created.IsZero() || p.Published.IsZero() {
		return fmt.Errorf("offline store: publish: view, window end, created and published time are required (got %+v)", p)
	}
	for _, part := range p.Partitions {
		n, ok := ParseFileName(path.Base(filepath.ToSlash(part.Path)))
		if !ok || !n.WindowEnd.Equal(p.WindowEnd) || !n.Created.Equal(p.Created.UTC().Truncate(time.Microsecond)) {
			return fmt.Errorf("offline store: publish %s: partition %s is not a file of this version", versionName(p.WindowEnd, p.Created), part.Path)
		}
		if _, err := s.fs.Stat(ctx, filepath.ToSlash(part.Path)); err != nil {
			return fmt.Errorf("offline store: publish %s: partition %s: %w", versionName(p.WindowEnd, p.Created), s.fs.Location(filepath.ToSlash(part.Path)), err)
		}
	}
	rel := PublishedFile(p.View, p.WindowEnd, p.Created)
	if _, err := s.fs.Stat(ctx, rel); err == nil {
		return nil
	}
	p.WindowEnd, p.Created, p.Published = p.WindowEnd.UTC(), p.Created.UTC(), p.Published.UTC()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("offline store: publish: %w", err)
	}
	// Create: a concurrent or earlier attempt's marker wins, whole.
	err = s.fs.WriteFile(ctx, rel, Create, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("offline store: write %s: %w", s.fs.Location(rel), err)
	}
	return nil
}

// Publication reads a version's marker; ok is false when the version was
// never published.
func (s *Store) Publication(ctx context.Context, view string, end, created time.Time) (p Publication, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return p, false, err
	}
	return s.readMarker(ctx, PublishedFile(view, end, created))
}

func (s *Store) readMarker(ctx context.Context, name string) (p Publication, ok bool, err error) {
	b, err := s.fs.ReadFile(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("offline store: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Published.IsZero() {
		return p, false, fmt.Errorf("offline store: publication marker %s is not valid (%v)", s.fs.Location(name), err)
	}
	return p, true, nil
}

// WindowVersion is one run's output of a window.
type WindowVersion struct {
	Created   time.Time // zero: files in the old, unversioned form
	Files     []string  // relative to the root, sorted
	Rows      int64
	Published time.Time // zero: not published (push never finished, or an old file)
}

// WindowVersions lists the versions of view's window ending at end, oldest
// first (unversioned files, if any, first of all).
func (s *Store) WindowVersions(ctx context.Context, view string, end time.Time) ([]WindowVersion, error) {
	dir := dateDir(view, end)
	ents, err := s.fs.List(ctx, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("offline store: %w", err)
	}
	byCreated := map[time.Time]*WindowVersion{}
	var out []*WindowVersion
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, ok := ParseFileName(e.Name)
		if !ok || e.Dir || !n.WindowEnd.Equal(end.UTC()) {
			continue
		}
		v := byCreated[n.Created]
		if v == nil {
			v = &WindowVersion{Created: n.Created}
			byCreated[n.Created] = v
			out = append(out, v)
		}
		rel := join(dir, e.Name)
		f, err := openFS(ctx, s.fs, rel)
		if err != nil {
			return nil, fmt.Errorf("offline store: %w", err)
		}
		v.Rows += f.NumRows()
		f.Close()
		v.Files = append(v.Files, rel)
	}
	slices.SortFunc(out, func(a, b *WindowVersion) int { return a.Created.Compare(b.Created) })
	res := make([]WindowVersion, len(out))
	for i, v := range out {
		slices.Sort(v.Files)
		if v.Versioned() {
			p, ok, err := s.Publication(ctx, view, end, v.Created)
			if err != nil {
				return nil, err
			}
			if ok {
				v.Published = p.Published
			}
		}
		res[i] = *v
	}
	return res, nil
}

// Versioned reports whether the version has a created time in its names.
func (v WindowVersion) Versioned() bool { return !v.Created.IsZero() }

// KnownAt says, for each file (paths as ViewFiles lists them), from when its
// rows are known under the as-known-at rule, in microseconds:
//   - a version of ours with a publication marker: the marker's time;
//   - a version of ours without one (its push never finished):
//     features.NeverKnown;
//   - any other file (another tool's, or the old unversioned form):
//     features.KnownAtCreated, each row at its created_timestamp (a null or
//     missing one: never).
func (s *Store) KnownAt(ctx context.Context, files []string) ([]int64, error) {
	out := make([]int64, len(files))
	cache := map[string]int64{}
	for i, loc := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name, err := s.name(loc)
		if err != nil {
			return nil, err
		}
		n, ok := ParseFileName(path.Base(name))
		if !ok || !n.Versioned() {
			out[i] = features.KnownAtCreated
			continue
		}
		marker := markerIn(path.Dir(name), n.WindowEnd, n.Created)
		at, seen := cache[marker]
		if !seen {
			p, ok, err := s.readMarker(ctx, marker)
			switch {
			case err != nil:
				return nil, err
			case ok:
				at = features.Micros(p.Published)
			default:
				at = features.NeverKnown
			}
			cache[marker] = at
		}
		out[i] = at
	}
	return out, nil
}

// ReadWindow reads every version of view's window ending at end and keeps,
// per entity key, the row of the newest version (greatest created_timestamp;
// a null or missing one is oldest; among equals the file sorting last): what
// the online store holds for the window once every version was pushed.
// Rows come out in key order.
func (s *Store) ReadWindow(ctx context.Context, view string, end time.Time, spec FrameSpec) (*features.Frame, error) {
	vs, err := s.WindowVersions(ctx, view, end)
	if err != nil {
		return nil, err
	}
	spec.Created = true
	var all *features.Frame
	for _, v := range vs {
		for _, rel := range v.Files {
			fr, err := readFS(ctx, s.fs, rel, spec)
			if err != nil {
				return nil, err
			}
			if fr.Created == nil {
				fr.Created = make([]int64, fr.Len())
				for i := range fr.Created {
					fr.Created[i] = math.MinInt64
				}
			}
			if all == nil {
				all = fr
			} else {
				all.Append(fr)
			}
		}
	}
	if all == nil {
		return nil, nil
	}
	// Stable sort by key, then created: the last row of each key wins.
	rows := make([]int, all.Len())
	for i := range rows {
		rows[i] = i
	}
	keyCmp := func(a, b int) int { return features.CompareKeys(all.Key, a, all.Key, b) }
	slices.SortStableFunc(rows, func(a, b int) int {
		return cmp.Or(keyCmp(a, b), cmp.Compare(all.Time[a], all.Time[b]), cmp.Compare(all.Created[a], all.Created[b]))
	})
	var keep []int
	for i, r := range rows {
		if i+1 < len(rows) && keyCmp(r, rows[i+1]) == 0 && all.Time[r] == all.Time[rows[i+1]] {
			continue
		}
		keep = append(keep, r)
	}
	return all.Take(keep), nil
}
