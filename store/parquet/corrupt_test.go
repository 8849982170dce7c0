package parquet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// Corrupting any byte of a window file makes reading it an error at worst:
// a decoder panic comes back as a *features.PanicError, never a crash.
func TestCorruptFilesNeverPanic(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := parquet.WriteFrame(&buf, sampleFrame(40, end), parquet.EventTimestamp, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	spec := parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp, Created: true,
		Columns: []features.Field{{Name: "cnt", Type: features.Int64}, {Name: "avg", Type: features.Float64}, {Name: "last", Type: features.String}, {Name: "flag", Type: features.Bool}}}
	path := filepath.Join(dir, "f.parquet")
	// Every byte of the footer (schema, types, offsets), every 16th of the
	// pages.
	footer := len(good) - 8 - int(binary.LittleEndian.Uint32(good[len(good)-8:]))
	panics, tries := 0, 0
	for i := range good {
		if i < footer && i%16 != 0 {
			continue
		}
		tries += 2
		for _, flip := range []byte{0x01, 0x80} {
			bad := bytes.Clone(good)
			bad[i] ^= flip
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := parquet.ReadFile(path, spec)
			var pe *features.PanicError
			if errors.As(err, &pe) {
				panics++
			}
		}
	}
	t.Logf("%d corruptions of %d bytes; %d decoder panics recovered", tries, len(good), panics)
}
