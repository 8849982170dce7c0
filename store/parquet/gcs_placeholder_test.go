package parquet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/store/parquet"
)

// Folders made in the Cloud Console ("create folder") are size-0 objects
// named "dir/". Such a folder, empty or not, at any level of the layout,
// must not break a join's or a window's listing: it reads as a folder.
func TestGCSFolderPlaceholders(t *testing.T) {
	ctx := context.Background()
	f, srv := openGCS(t, "off")
	c, err := srv.Client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, name := range []string{"off/", "off/v/", "off/v/date=2026-11-20/", "off/v/date=2026-11-21/", "off/v/date=2026-11-21/sub/"} {
		if err := c.Bucket("b").Object(name).NewWriter(ctx).Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := parquet.OpenFS(f)
	if _, err := s.WriteWindow(ctx, "v", end, end.Add(time.Minute), -1, sampleFrame(3, end), ""); err != nil {
		t.Fatal(err)
	}
	files, err := s.ViewFiles(ctx, "v", time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("listing with empty console folders: %v", err)
	}
	if len(files) != 1 || !strings.HasSuffix(files[0], ".parquet") {
		t.Fatalf("files %v, want the one window file", files)
	}
	ents, err := f.List(ctx, "v/date=2026-11-21")
	if err != nil || len(ents) != 1 || ents[0].Name != "sub" || !ents[0].Dir {
		t.Fatalf("a folder holding a placeholder: %+v, %v", ents, err)
	}
	if ents, err := f.List(ctx, "v/date=2026-11-21/sub"); err != nil || len(ents) != 0 {
		t.Fatalf("an empty console folder: %+v, %v; want no entries, no error", ents, err)
	}
	if _, err := s.RunRecords(ctx, "v", time.Time{}, time.Time{}); err != nil {
		t.Fatalf("run records with empty console folders: %v", err)
	}
	if ok, err := s.HasWindow(ctx, "v", end.Add(24*time.Hour)); err != nil || ok {
		t.Fatalf("window of an empty console folder: %v, %v", ok, err)
	}
}
