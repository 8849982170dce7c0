package parquet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/skewfree/skewfree/features"
)

// IngestTimestamp is the column that pushed events carry in their source
// files: when the push that brought them was accepted (TIMESTAMP micros,
// UTC, nullable). Events written by other means lack it, or hold null: they
// count as ingested at their event time. See docs/format/fresh.md.
const IngestTimestamp = features.IngestTimestampColumn

// PushFile is where one push request's events of one UTC event day lie,
// relative to the source root:
// <source path>/date=YYYY-MM-DD/push-<ingest, 20061102T150405.000000Z>-<first 16 hex digits of SHA-256(request id)>.parquet.
// Request ids may hold any bytes; the hash keeps file names safe. The
// ingest time comes first so that a folder lists in ingest order.
func PushFile(src *features.Source, day string, ingest time.Time, requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	name := "push-" + ingest.UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(h[:8]) + ".parquet"
	return filepath.Join(src.Path, "date="+day, name)
}

// AppendPush stores the events of one accepted push request durably: one
// file per UTC day of their event times (PushFile), each with the source's
// timestamp, its fields in definition order and IngestTimestamp (= ingest
// for every row), written atomically (temporary file, fsync, rename). f's
// columns must be the source's fields in order (f.Key unused). A retry of
// the same request (same ingest time, id and events) rewrites identical
// files under the same names, so the events are stored once however often
// it is retried. Source readers (Read, ReadShard) see the rows at once: a
// file is either absent or complete.
func (s *Sources) AppendPush(ctx context.Context, src *features.Source, f *features.Frame, ingest time.Time, requestID string) ([]Partition, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("sources: push to %s: %w", src.Name, err)
	}
	if len(f.Columns) != len(src.Fields) {
		return nil, fmt.Errorf("sources: push to %s: %d columns, the source has %d fields", src.Name, len(f.Columns), len(src.Fields))
	}
	for i, c := range f.Columns {
		if c.Name != src.Fields[i].Name || c.Type != src.Fields[i].Type {
			return nil, fmt.Errorf("sources: push to %s: column %d is %s %s, want %s %s", src.Name, i, c.Name, c.Type, src.Fields[i].Name, src.Fields[i].Type)
		}
	}
	byDay := map[string][]int{}
	for i, t := range f.Time {
		d := features.FromMicros(t).Format(time.DateOnly)
		byDay[d] = append(byDay[d], i)
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	in := features.Micros(ingest)
	var out []Partition
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("sources: push to %s: %w", src.Name, err)
		}
		part := f.Take(byDay[d])
		ing := features.NewColumn(IngestTimestamp, features.Int64, part.Len())
		for range part.Len() {
			ing.Ints = append(ing.Ints, in)
			ing.Valid = append(ing.Valid, true)
		}
		cols := make([]outColumn, 0, len(part.Columns)+2)
		cols = append(cols, outColumn{name: src.TimestampField, times: part.Time})
		for _, c := range part.Columns {
			cols = append(cols, outColumn{name: c.Name, col: c})
		}
		cols = append(cols, outColumn{name: IngestTimestamp, col: ing, optTime: true})
		rel := PushFile(src, d, ingest, requestID)
		if err := s.fs.WriteFile(ctx, filepath.ToSlash(rel), Replace, func(w io.Writer) error {
			return writeColumns(w, cols, part.Len(), nil)
		}); err != nil {
			return out, fmt.Errorf("sources: push to %s: write %s: %w", src.Name, rel, err)
		}
		out = append(out, Partition{Path: rel, Rows: int64(part.Len())})
	}
	return out, nil
}

// Root is the location of the sources: a local folder, or gs://bucket/prefix.
func (s *Sources) Root() string { return s.fs.Location("") }
