package cli

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
)

func skewCheckCmd(reg *features.Registry) *cobra.Command {
	var (
		view, windowEnd string
		sample          int
	)
	c := &cobra.Command{
		Use:   "skew-check --view V [--window-end T] [--sample N]",
		Short: "Compare online values with the offline rows of a view's newest window",
		Long: `skew-check reads the offline partition of a window (default: the view's newest) and
the online values of a sample of its entities, and reports every feature value that
differs. Online holds the newest window per entity, so check the newest window; a
mismatch means something wrote one store and not the other. A value missing online
(NOT_FOUND, or OUTSIDE_MAX_AGE) while its offline row is still within the view's TTL at
the time of the check is a mismatch too: that window's push never happened. Exits 1 on
any mismatch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, ok := reg.View(view)
			if !ok {
				return fmt.Errorf("unknown view %q", view)
			}
			cfg, err := commandConfig(cmd)
			if err != nil {
				return err
			}
			stores, err := app.OpenStores(ctx, reg, cfg)
			if err != nil {
				return err
			}
			defer stores.Close()
			if stores.Online == nil {
				return fmt.Errorf("skew-check needs the online store: set SKEWFREE_REDIS_URL")
			}
			files, err := stores.Offline.ViewFiles(ctx, v.Name, time.Time{}, time.Time{})
			if err != nil {
				return err
			}
			var end time.Time
			if windowEnd != "" {
				if end, err = parseTime("--window-end", windowEnd); err != nil {
					return err
				}
			} else {
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
			// Every version of the window, the newest per key: what online
			// holds once each run's push finished.
			var off *features.Frame
			if !end.IsZero() {
				if off, err = stores.Offline.ReadWindow(ctx, v.Name, end, parquet.HistorySpec(ent, v.Features())); err != nil {
					return err
				}
			}
			if off == nil {
				return fmt.Errorf("no offline partition of %s for window %q", v.Name, stamp)
			}
			rows := rand.Perm(off.Len())
			if sample > 0 && sample < len(rows) {
				rows = rows[:sample]
			}
			keys := make([]features.Value, len(rows))
			for i, r := range rows {
				keys[i] = off.Key.Value(r)
			}
			// The check's reference time is taken by the reader after its
			// Redis read, so a key Redis expired before the read is past
			// its TTL at the reference time too (not a false mismatch).
			var ref time.Time
			reader, err := serving.New(reg, stores.Online, serving.Options{Now: func() time.Time { ref = time.Now(); return ref }})
			if err != nil {
				return err
			}
			defer reader.Close()
			res, err := reader.Get(ctx, refs, serving.Entities{ent.JoinKey: keys})
			if err != nil {
				return err
			}
			var mismatches, newer, expired int
			out := cmd.OutOrStdout()
			for i, r := range rows {
				event := features.FromMicros(off.Time[r])
				// The reader's own comparison, in its µs: ref - TTL <= event_timestamp.
				withinTTL := v.TTL == 0 || features.Micros(ref)-v.TTL.Microseconds() <= off.Time[r]
				for j, c := range off.Columns {
					got, want := res.Rows[i][j], c.Value(r)
					switch {
					case got.Status == serving.Present && got.EventTime.After(event):
						newer++ // a newer window is online: not this window's business
					case got.Status != serving.Present && !withinTTL:
						expired++ // past its TTL offline too: absent online as it should be
					case got.Status != serving.Present:
						mismatches++ // this window's value should be served and is not
						if mismatches <= 10 {
							fmt.Fprintf(out, "MISMATCH %s=%s %s: %s online, but the offline row from %s is within the TTL (%s) at %s\n", ent.JoinKey, keys[i], c.Name,
								got.Status, event.Format(time.RFC3339), v.TTL, ref.Format(time.RFC3339))
						}
					case got.EventTime.Before(event):
						mismatches++ // this window never reached the online store
						if mismatches <= 10 {
							fmt.Fprintf(out, "MISMATCH %s=%s %s: online is from %s, offline from %s\n", ent.JoinKey, keys[i], c.Name,
								got.EventTime.Format(time.RFC3339), features.FromMicros(off.Time[r]).Format(time.RFC3339))
						}
					case !got.Value.Equal(want):
						mismatches++
						if mismatches <= 10 {
							fmt.Fprintf(out, "MISMATCH %s=%s %s: online %s, offline %s\n", ent.JoinKey, keys[i], c.Name, got.Value, want)
						}
					}
				}
			}
			fmt.Fprintf(out, "%s window %s: %d entities x %d features checked: %d mismatches, %d values newer online, %d expired (past TTL offline, absent online)\n",
				v.Name, stamp, len(rows), len(off.Columns), mismatches, newer, expired)
			if mismatches > 0 {
				return fmt.Errorf("%d online values differ from the offline rows", mismatches)
			}
			return nil
		},
	}
	c.Flags().StringVar(&view, "view", "", "feature view")
	c.Flags().StringVar(&windowEnd, "window-end", "", "window to check, RFC 3339 (default: the newest)")
	c.Flags().IntVar(&sample, "sample", 1000, "entities to check (0: all)")
	return c
}
