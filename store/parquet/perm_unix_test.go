//go:build unix

package parquet_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/skewfree/skewfree/store/parquet"
)

// Offline files and markers are readable as the umask allows (0644 under
// the usual 022), not 0600 as os.CreateTemp makes them.
func TestFilesReadableAsUmaskAllows(t *testing.T) {
	for _, mask := range []int{0o022, 0o027, 0o077} {
		old := syscall.Umask(mask)
		s, _ := parquet.Open(t.TempDir())
		p := writeVersion(t, s, end.Add(time.Hour), -1, 2)
		err := s.MarkPublished(context.Background(), parquet.Publication{View: "v", WindowEnd: end, Created: end.Add(time.Hour),
			Published: end.Add(2 * time.Hour), Partitions: []parquet.Partition{p}})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644 &^ mask)
		for _, rel := range []string{p.Path, parquet.PublishedFile("v", end, end.Add(time.Hour))} {
			st, err := os.Stat(filepath.Join(s.Root(), rel))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != want {
				t.Errorf("umask %03o: %s has mode %03o, want %03o", mask, rel, st.Mode().Perm(), want)
			}
		}
	}
}
