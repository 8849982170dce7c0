package servedlog

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skewfree/skewfree/store/parquet"
)

// Folder is the served log's folder under the offline root.
const Folder = "_served"

// Writer stores the log's files. Implementations must write each file
// atomically (a reader sees all of it or nothing) and be safe for use by
// one goroutine at a time. Dir is the local one; InFS writes through a parquet.FS (Cloud Storage).
type Writer interface {
	// WriteFile stores the bytes write produces as the file name, a
	// slash-separated path relative to the log's folder
	// (date=YYYY-MM-DD/served-....parquet).
	WriteFile(ctx context.Context, name string, write func(io.Writer) error) error
}

// Dir writes the log's files under a local folder (usually
// <offline root>/_served, see OfflineDir), by temp file and rename.
type Dir string

var _ Writer = Dir("")

// OfflineDir is the served log's folder under an offline store's root.
func OfflineDir(root string) Dir { return Dir(filepath.Join(root, Folder)) }

// WriteFile implements Writer.
func (d Dir) WriteFile(ctx context.Context, name string, write func(io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d == "" || name == "" || strings.Contains(name, "..") {
		return fmt.Errorf("servedlog: bad file %q in %q", name, string(d))
	}
	path := filepath.Join(string(d), filepath.FromSlash(name))
	if err := parquet.WriteFileAtomic(path, func(f *os.File) error { return write(f) }); err != nil {
		return fmt.Errorf("servedlog: write %s: %w", path, err)
	}
	return nil
}

// fileName is date=YYYY-MM-DD/served-<first request time>-<instance>-<seq>.parquet:
// names sort by time within a date, and the instance keeps replicas apart.
func fileName(firstMicros int64, instance string, seq uint64) string {
	t := time.UnixMicro(firstMicros).UTC()
	return fmt.Sprintf("date=%s/served-%s-%s-%06d.parquet", t.Format(time.DateOnly), t.Format("20060102T150405.000000Z"), instance, seq)
}
