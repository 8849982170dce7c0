// Package skew measures training-serving skew. CheckWindow compares the
// online store with the offline rows of a view's window (what `starter
// skew-check --view` prints); CheckServed compares what the reader served,
// as its served log recorded it (serving/servedlog), with training sets
// built --as-known-at at the logged instants (`starter skew-check
// --served`). Commands only parse flags and print these reports.
package skew

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
)

// WindowOptions select what CheckWindow compares.
type WindowOptions struct {
	View string
	// WindowEnd is the window to check. Default: the view's newest.
	WindowEnd time.Time
	// Sample is how many of the window's entities to check; 0: all.
	Sample int
	// Examples bounds the MISMATCH lines kept. Default 10.
	Examples int
	// Now is the clock of the check's reference time. Default time.Now.
	Now func() time.Time
}

// WindowReport is the result of CheckWindow.
type WindowReport struct {
	View     string
	Stamp    string // the window end, as in file names
	Entities int    // entities checked
	Features int
	// Mismatches are feature values online that differ from the window's
	// newest version, or are missing while still within the TTL.
	Mismatches int
	Newer      int // values newer online: a later window, not this one's business
	Expired    int // past their TTL offline, absent online as they should be
	// Examples are the first MISMATCH lines.
	Examples []string
}

// Summary is the report's last line.
func (r *WindowReport) Summary() string {
	return fmt.Sprintf("%s window %s: %d entities x %d features checked: %d mismatches, %d values newer online, %d expired (past TTL offline, absent online)",
		r.View, r.Stamp, r.Entities, r.Features, r.Mismatches, r.Newer, r.Expired)
}

// CheckWindow reads the offline partition of a window (by default the
// view's newest) and the online values of a sample of its entities, and
// counts every feature value that differs. Online holds the newest window
// per entity, so check the newest window; a mismatch means something wrote
// one store and not the other. A value missing online (NOT_FOUND, or
// OUTSIDE_MAX_AGE) while its offline row is still within the view's TTL at
// the time of the check is a mismatch too: that window's push never
// happened.
func CheckWindow(ctx context.Context, reg *features.Registry, off *parquet.Store, online serving.Store, opts WindowOptions) (*WindowReport, error) {
	if opts.Examples == 0 {
		opts.Examples = 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v, ok := reg.View(opts.View)
	if !ok {
		return nil, fmt.Errorf("unknown view %q", opts.View)
	}
	end := opts.WindowEnd
	if end.IsZero() {
		files, err := off.ViewFiles(ctx, v.Name, time.Time{}, time.Time{})
		if err != nil {
			return nil, err
		}
		// File names sort by window end within and across date folders.
		for _, f := range slices.Backward(files) {
			if n, ok := parquet.ParseFileName(filepath.Base(f)); ok {
				end = n.WindowEnd
				break
			}
		}
	}
	stamp := parquet.WindowStamp(end)
	ent := reg.EntityOf(v)
	var refs []string
	for _, f := range v.Features() {
		refs = append(refs, v.Name+":"+f.Name)
	}
	// Every version of the window, the newest per key: what online holds
	// once each run's push finished.
	var frame *features.Frame
	if !end.IsZero() {
		var err error
		if frame, err = off.ReadWindow(ctx, v.Name, end, parquet.HistorySpec(ent, v.Features())); err != nil {
			return nil, err
		}
	}
	if frame == nil {
		return nil, fmt.Errorf("no offline partition of %s for window %q", v.Name, stamp)
	}
	rows := rand.Perm(frame.Len())
	if opts.Sample > 0 && opts.Sample < len(rows) {
		rows = rows[:opts.Sample]
	}
	keys := make([]features.Value, len(rows))
	for i, r := range rows {
		keys[i] = frame.Key.Value(r)
	}
	// The check's reference time is taken by the reader after its Redis
	// read, so a key Redis expired before the read is past its TTL at the
	// reference time too (not a false mismatch).
	var ref time.Time
	reader, err := serving.New(reg, online, serving.Options{Now: func() time.Time { ref = opts.Now(); return ref }})
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	res, err := reader.Get(ctx, refs, serving.Entities{ent.JoinKey: keys})
	if err != nil {
		return nil, err
	}
	rep := &WindowReport{View: v.Name, Stamp: stamp, Entities: len(rows), Features: len(frame.Columns)}
	example := func(format string, args ...any) {
		rep.Mismatches++
		if len(rep.Examples) < opts.Examples {
			rep.Examples = append(rep.Examples, fmt.Sprintf(format, args...))
		}
	}
	for i, r := range rows {
		event := features.FromMicros(frame.Time[r])
		// The reader's own comparison, in its µs: ref - TTL <= event_timestamp.
		withinTTL := v.TTL == 0 || features.Micros(ref)-v.TTL.Microseconds() <= frame.Time[r]
		for j, c := range frame.Columns {
			got, want := res.Rows[i][j], c.Value(r)
			switch {
			case got.Status == serving.Present && got.EventTime.After(event):
				rep.Newer++ // a newer window is online: not this window's business
			case got.Status != serving.Present && !withinTTL:
				rep.Expired++ // past its TTL offline too: absent online as it should be
			case got.Status != serving.Present:
				// this window's value should be served and is not
				example("MISMATCH %s=%s %s: %s online, but the offline row from %s is within the TTL (%s) at %s", ent.JoinKey, keys[i], c.Name,
					got.Status, event.Format(time.RFC3339), v.TTL, ref.Format(time.RFC3339))
			case got.EventTime.Before(event):
				// this window never reached the online store
				example("MISMATCH %s=%s %s: online is from %s, offline from %s", ent.JoinKey, keys[i], c.Name,
					got.EventTime.Format(time.RFC3339), event.Format(time.RFC3339))
			case !got.Value.Equal(want):
				example("MISMATCH %s=%s %s: online %s, offline %s", ent.JoinKey, keys[i], c.Name, got.Value, want)
			}
		}
	}
	return rep, nil
}
