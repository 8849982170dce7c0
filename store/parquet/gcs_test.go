package parquet_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// listRecorder is an FS that records the folders it was asked to list.
type listRecorder struct {
	parquet.FS
	mu   sync.Mutex
	dirs []string
}

func (l *listRecorder) List(ctx context.Context, dir string) ([]parquet.Entry, error) {
	l.mu.Lock()
	l.dirs = append(l.dirs, dir)
	l.mu.Unlock()
	return l.FS.List(ctx, dir)
}

// On Cloud Storage, a ranged listing asks only for the view's top level and
// the date= prefixes of the range: a year of history costs the listing of
// the days a join needs, not of the year.
func TestGCSListingPrunesByDatePrefix(t *testing.T) {
	ctx := context.Background()
	f, _ := openGCS(t, "off")
	rec := &listRecorder{FS: f}
	s := parquet.OpenFS(rec)
	for d := range 10 {
		at := end.Add(time.Duration(d) * 24 * time.Hour)
		if _, err := s.WriteWindow(ctx, "v", at, at.Add(time.Minute), -1, sampleFrame(1, at), ""); err != nil {
			t.Fatal(err)
		}
	}
	rec.dirs = nil
	files, err := s.ViewFiles(ctx, "v", end.Add(3*24*time.Hour), end.Add(4*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || !strings.HasPrefix(files[0], "gs://b/off/v/date=2026-11-23/") || !strings.HasPrefix(files[1], "gs://b/off/v/date=2026-11-24/") {
		t.Fatalf("files %v", files)
	}
	if want := []string{"v", "v/date=2026-11-23", "v/date=2026-11-24"}; !slices.Equal(rec.dirs, want) {
		t.Fatalf("listed %v, want only %v", rec.dirs, want)
	}
	if got := f.Stats().Lists.Load(); got < 3 {
		t.Fatalf("the fake saw %d listings", got)
	}
}

// Sources on Cloud Storage: the same layout, the same window reads, and a
// missing source folder is ErrNoSource naming the gs:// location.
func TestGCSSourcesRoundTrip(t *testing.T) {
	ctx := context.Background()
	local, reg := demoSources(t, 60, 3)
	f, _ := openGCS(t, "raw")
	remote := parquet.SourcesFS(f)
	src, _ := reg.Source("orders")
	from, to := demoStart, demoStart.Add(3*24*time.Hour)
	want, err := local.Read(ctx, src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := remote.Write(ctx, src, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("partitions %v, want one per day", parts)
	}
	got, err := remote.Read(ctx, src, from.Add(24*time.Hour), to)
	if err != nil {
		t.Fatal(err)
	}
	wantDay2, _ := local.Read(ctx, src, from.Add(24*time.Hour), to)
	if !slices.Equal(rowsOf(got), rowsOf(wantDay2)) || got.Len() == 0 {
		t.Fatalf("read %d rows from gs://, want %d", got.Len(), wantDay2.Len())
	}
	key := "user_id"
	sh, err := remote.ReadShard(ctx, src, from, to, key, 1, 3)
	if err != nil || sh.Len() == 0 || sh.Len() >= want.Len() {
		t.Fatalf("shard: %v rows, %v", sh.Len(), err)
	}
	missing := &features.Source{Name: "gone", Path: "gone", TimestampField: "ts"}
	if _, err := remote.Read(ctx, missing, from, to); !errors.Is(err, parquet.ErrNoSource) || !strings.Contains(err.Error(), "gs://b/raw/gone") {
		t.Fatalf("missing source: %v", err)
	}
}

// Run records and their ranges on Cloud Storage.
func TestGCSRunRecords(t *testing.T) {
	ctx := context.Background()
	f, _ := openGCS(t, "off")
	s := parquet.OpenFS(f)
	for d := range 3 {
		at := end.Add(time.Duration(d) * 24 * time.Hour)
		r := features.RunRecord{View: "v", WindowEnd: at, Created: at.Add(time.Hour), Shard: -1, Status: features.RunOK, RowsWritten: int64(d)}
		if err := s.WriteRunRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.RowsWritten += 10 // a retry rewrites its record
		if err := s.WriteRunRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RunRecords(ctx, "v", end.Add(24*time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RowsWritten != 11 || got[1].RowsWritten != 12 {
		t.Fatalf("records %+v", got)
	}
	if _, err := f.Stat(ctx, parquet.RunRecordFile("v", end, end.Add(time.Hour), -1)); err != nil {
		t.Fatalf("record not at its documented name: %v", err)
	}
}

// A publication marker on Cloud Storage is written once: concurrent
// attempts (a retried activity racing its first attempt) leave the first
// marker, whole.
func TestGCSMarkerFirstWins(t *testing.T) {
	ctx := context.Background()
	f, _ := openGCS(t, "off")
	s := parquet.OpenFS(f)
	c1 := end.Add(time.Hour)
	p := writeVersion(t, s, c1, -1, 3)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.MarkPublished(ctx, parquet.Publication{View: "v", WindowEnd: end, Created: c1,
				Published: c1.Add(time.Duration(i+1) * time.Minute), Partitions: []parquet.Partition{p}})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	pub, ok, err := s.Publication(ctx, "v", end, c1)
	if err != nil || !ok {
		t.Fatalf("marker: %v %v", ok, err)
	}
	if err := s.MarkPublished(ctx, parquet.Publication{View: "v", WindowEnd: end, Created: c1, Published: c1.Add(time.Hour), Partitions: []parquet.Partition{p}}); err != nil {
		t.Fatal(err)
	}
	again, _, _ := s.Publication(ctx, "v", end, c1)
	if !again.Published.Equal(pub.Published) {
		t.Fatalf("a later attempt moved the marker from %s to %s", pub.Published, again.Published)
	}
}
