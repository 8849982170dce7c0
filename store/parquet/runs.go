package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// RunsDir is the folder, inside a date= folder, of run records:
//
//	<view>/date=D/_runs/part-<window end>-v<created>[-<shard>].json
//
// one JSON object per file (docs/format/runs.md). Like publication markers,
// they sit in a "_" folder that Parquet readers skip.
const RunsDir = "_runs"

// RunRecordFile is the path, relative to the root, of a run's record.
func RunRecordFile(view string, end, created time.Time, shard int) string {
	stem := versionName(end, created)
	if shard >= 0 {
		stem += fmt.Sprintf("-%04d", shard)
	}
	return join(dateDir(view, end), RunsDir, stem+".json")
}

// WriteRunRecord writes r atomically, replacing an earlier record of the same
// run (a retry, or the push adding its counts and publication time).
func (s *Store) WriteRunRecord(ctx context.Context, r features.RunRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.View == "" || r.WindowEnd.IsZero() || r.Created.IsZero() {
		return fmt.Errorf("offline store: run record: view, window end and created time are required (got %q, %v, %v)", r.View, r.WindowEnd, r.Created)
	}
	if err := checkSegment(r.View); err != nil {
		return fmt.Errorf("offline store: run record: %w", err)
	}
	rel := RunRecordFile(r.View, r.WindowEnd, r.Created, r.Shard)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("offline store: run record %s: %w", rel, err)
	}
	if err := s.fs.WriteFile(ctx, rel, Replace, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("offline store: write %s: %w", s.fs.Location(rel), err)
	}
	return nil
}

// RunRecords lists view's run records for windows ending in [from, to),
// oldest window first, then by created time and shard. A zero from or to
// leaves that side open.
func (s *Store) RunRecords(ctx context.Context, view string, from, to time.Time) ([]features.RunRecord, error) {
	if err := checkSegment(view); err != nil {
		return nil, fmt.Errorf("offline store: run records: %w", err)
	}
	dates, err := s.fs.List(ctx, view)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offline store: run records of %s: %w", view, err)
	}
	var out []features.RunRecord
	for _, d := range dates {
		day, ok := strings.CutPrefix(d.Name, "date=")
		if !d.Dir || !ok {
			continue
		}
		date, err := time.Parse(time.DateOnly, day)
		if err != nil {
			continue
		}
		// A window ending at 00:00 of a day lives in that day's folder.
		if (!from.IsZero() && date.Add(24*time.Hour).Before(from)) || (!to.IsZero() && !date.Before(to)) {
			continue
		}
		dir := join(view, d.Name, RunsDir)
		ents, err := s.fs.List(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("offline store: run records of %s: %w", view, err)
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if e.Dir || !strings.HasSuffix(e.Name, ".json") || strings.HasPrefix(e.Name, ".") {
				continue
			}
			b, err := s.fs.ReadFile(ctx, join(dir, e.Name))
			if err != nil {
				return nil, fmt.Errorf("offline store: run records of %s: %w", view, err)
			}
			var r features.RunRecord
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("offline store: run record %s: %w", s.fs.Location(join(dir, e.Name)), err)
			}
			if (!from.IsZero() && r.WindowEnd.Before(from)) || (!to.IsZero() && !r.WindowEnd.Before(to)) {
				continue
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b features.RunRecord) int {
		if c := a.WindowEnd.Compare(b.WindowEnd); c != 0 {
			return c
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return a.Shard - b.Shard
	})
	return out, nil
}

// checkSegment refuses a view name that would leave the view's folder.
func checkSegment(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("view name %q is not a single path segment", name)
	}
	return nil
}
