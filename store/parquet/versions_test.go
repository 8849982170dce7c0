package parquet_test

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

func TestParseFileName(t *testing.T) {
	c := time.Date(2026, 11, 21, 2, 0, 0, 123456000, time.UTC)
	e := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		want parquet.FileName
		ok   bool
	}{
		{"part-20261121T000000Z-v20261121T020000.123456Z.parquet", parquet.FileName{WindowEnd: e, Created: c, Shard: -1}, true},
		{"part-20261121T000000Z-v20261121T020000.123456Z-0003.parquet", parquet.FileName{WindowEnd: e, Created: c, Shard: 3}, true},
		{"part-20261121T000000Z.parquet", parquet.FileName{WindowEnd: e, Shard: -1}, true},
		{"part-20261121T000000Z-0012.parquet", parquet.FileName{WindowEnd: e, Shard: 12}, true},
		{"part-20261121T000000Z-v2026.parquet", parquet.FileName{}, false},
		{"part-20261121T000000Z-x.parquet", parquet.FileName{}, false},
		{"part-20261121T000000Z-0001-0002.parquet", parquet.FileName{}, false},
		{"part-00000-5f1c.snappy.parquet", parquet.FileName{}, false}, // Spark
		{"export.parquet", parquet.FileName{}, false},
		{"part-20261121T000000Z-v20261121T020000.123456Z.json", parquet.FileName{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parquet.ParseFileName(tc.name)
			if ok != tc.ok || !got.WindowEnd.Equal(tc.want.WindowEnd) || !got.Created.Equal(tc.want.Created) || (ok && got.Shard != tc.want.Shard) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	// The names WriteWindow writes parse back, and sort by window end, then
	// created, then shard (a version is sharded or not, never both).
	var names, whole []string
	for _, end := range []time.Time{e, e.Add(24 * time.Hour)} {
		for _, cr := range []time.Time{c, c.Add(time.Hour)} {
			for _, sh := range []int{-1, 0, 1} {
				rel := parquet.VersionFile("v", end, cr, sh)
				n, ok := parquet.ParseFileName(filepath.Base(rel))
				if !ok || !n.WindowEnd.Equal(end) || !n.Created.Equal(cr) || n.Shard != sh {
					t.Fatalf("%s parsed as %+v %v", rel, n, ok)
				}
				if sh < 0 {
					whole = append(whole, rel)
				} else {
					names = append(names, rel)
				}
			}
		}
	}
	if !slices.IsSorted(names) || !slices.IsSorted(whole) {
		t.Fatalf("version names do not sort by (window end, created, shard): %v %v", names, whole)
	}
}

func writeVersion(t *testing.T, s *parquet.Store, created time.Time, shard, n int) parquet.Partition {
	t.Helper()
	f := sampleFrame(n, end)
	for i := range f.Created {
		f.Created[i] = features.Micros(created)
	}
	p, err := s.WriteWindow(context.Background(), "v", end, created, shard, f, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A re-run (new created) adds a version; a retry of a run (same created)
// replaces only its own file.
func TestReRunAddsVersionRetryReplacesOwn(t *testing.T) {
	onEachFS(t, testReRunAddsVersionRetryReplacesOwn)
}

func testReRunAddsVersionRetryReplacesOwn(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	c1, c2 := end.Add(2*time.Hour), end.Add(26*time.Hour+123456*time.Microsecond)
	p1 := writeVersion(t, s, c1, -1, 3)
	p2 := writeVersion(t, s, c2, -1, 5)
	if p1.Path == p2.Path {
		t.Fatalf("two runs of a window wrote the same file %s", p1.Path)
	}
	if again := writeVersion(t, s, c1, -1, 4); again.Path != p1.Path {
		t.Fatalf("a retry wrote %s, its first attempt %s", again.Path, p1.Path)
	}
	files, _ := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if len(files) != 2 {
		t.Fatalf("files %v, want one per version", files)
	}
	vs, err := s.WindowVersions(ctx, "v", end)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || !vs[0].Created.Equal(c1) || vs[0].Rows != 4 || !vs[1].Created.Equal(c2) || vs[1].Rows != 5 ||
		!slices.Equal(vs[1].Files, []string{p2.Path}) || !vs[0].Published.IsZero() {
		t.Fatalf("versions %+v", vs)
	}
}

// Stale-shard cleanup of one run never touches another run's files, sharded
// or not, nor old unversioned files.
func TestShardCleanupTouchesOnlyItsVersion(t *testing.T) {
	onEachFS(t, testShardCleanupTouchesOnlyItsVersion)
}

func testShardCleanupTouchesOnlyItsVersion(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	c1, c2 := end.Add(2*time.Hour), end.Add(3*time.Hour)
	for sh := range 4 {
		writeVersion(t, s, c1, sh, 2)
	}
	writeVersion(t, s, c1, -1, 2) // c1's unsharded attempt: removes c1's shards only
	// An old unversioned file of the window, as an earlier release wrote it.
	legacy := parquet.WindowFile("v", end, 3)
	put(t, s, legacy, get(t, s, parquet.VersionFile("v", end, c1, -1)))
	for sh := range 4 {
		writeVersion(t, s, c2, sh, 2)
	}
	if err := s.RemoveStaleShards(ctx, "v", end, c2, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveWindowFile(ctx, "v", end, c2); err != nil {
		t.Fatal(err)
	}
	files, _ := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	want := []string{
		"part-20261120T000000Z-0003.parquet",
		"part-20261120T000000Z-v20261120T020000.000000Z.parquet",
		"part-20261120T000000Z-v20261120T030000.000000Z-0000.parquet",
		"part-20261120T000000Z-v20261120T030000.000000Z-0001.parquet",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files\n got %v\nwant %v", got, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublicationMarkers(t *testing.T) { onEachFS(t, testPublicationMarkers) }

func testPublicationMarkers(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	c1, c2 := end.Add(2*time.Hour), end.Add(3*time.Hour)
	p1 := writeVersion(t, s, c1, -1, 3)
	p2 := writeVersion(t, s, c2, -1, 3)
	pub := c1.Add(90 * time.Second)
	mark := func(created, at time.Time, parts ...parquet.Partition) error {
		return s.MarkPublished(ctx, parquet.Publication{View: "v", WindowEnd: end, Created: created, Published: at, Partitions: parts})
	}
	if err := mark(c1, pub, p1); err != nil {
		t.Fatal(err)
	}
	// A retry keeps the first publication time.
	if err := mark(c1, pub.Add(time.Hour), p1); err != nil {
		t.Fatal(err)
	}
	// A marker names only files of its own version, and existing ones.
	if err := mark(c1, pub, p2); err == nil || !strings.Contains(err.Error(), "not a file of this version") {
		t.Fatalf("marking another version's file: %v", err)
	}
	if err := mark(c2.Add(time.Hour), pub, parquet.Partition{Path: parquet.VersionFile("v", end, c2.Add(time.Hour), -1)}); err == nil {
		t.Fatal("published a version with no file")
	}
	vs, err := s.WindowVersions(ctx, "v", end)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || !vs[0].Published.Equal(pub) || !vs[1].Published.IsZero() {
		t.Fatalf("versions %+v: want the first published at %s, the second not", vs, pub)
	}
	// Readers of *.parquet do not see markers.
	legacy := parquet.WindowFile("v", end, -1)
	put(t, s, legacy, get(t, s, p1.Path))
	put(t, s, "v/export.parquet", get(t, s, p1.Path))
	files, _ := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if len(files) != 4 {
		t.Fatalf("files %v", files)
	}
	known, err := s.KnownAt(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int64{}
	for i, f := range files {
		byName[path.Base(f)] = known[i]
	}
	want := map[string]int64{
		path.Base(p1.Path): features.Micros(pub),    // published
		path.Base(p2.Path): features.NeverKnown,     // ours, never published
		path.Base(legacy):  features.KnownAtCreated, // old name: its rows' created_timestamp
		"export.parquet":   features.KnownAtCreated, // another tool's
	}
	for name, w := range want {
		if byName[name] != w {
			t.Errorf("%s known at %d, want %d", name, byName[name], w)
		}
	}
}

// ReadWindow keeps the newest version's row per key: a correction wins where
// it has the key, the first run's row stays where it does not.
func TestReadWindowNewestPerKey(t *testing.T) { onEachFS(t, testReadWindowNewestPerKey) }

func testReadWindowNewestPerKey(t *testing.T, s *parquet.Store) {
	ctx := context.Background()
	c1, c2 := end.Add(2*time.Hour), end.Add(3*time.Hour)
	writeVersion(t, s, c1, -1, 5)
	f := sampleFrame(3, end)
	for i := range f.Created {
		f.Created[i] = features.Micros(c2)
		f.Columns[0].Ints[i] += 100
	}
	if _, err := s.WriteWindow(ctx, "v", end, c2, -1, f, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadWindow(ctx, "v", end, parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Columns: sampleFields})
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 5 {
		t.Fatalf("%d rows, want one per key (5)", got.Len())
	}
	for i := range got.Len() {
		wantCnt, wantCreated := int64(i), c1
		if i < 3 {
			wantCnt, wantCreated = int64(i)+100, c2
		}
		if got.Columns[0].Ints[i] != wantCnt || got.Created[i] != features.Micros(wantCreated) {
			t.Errorf("key %s: cnt %d created %s, want %d from %s", got.Key.Strings[i], got.Columns[0].Ints[i],
				features.FromMicros(got.Created[i]), wantCnt, wantCreated)
		}
	}
}
