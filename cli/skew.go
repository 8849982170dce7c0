package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/skew"
)

func skewCheckCmd(reg *features.Registry) *cobra.Command {
	var (
		view, windowEnd, from, to, offline, source string
		sample, examples                           int
		served                                     bool
	)
	c := &cobra.Command{
		Use:   "skew-check --view V [--window-end T] [--sample N] | --served --from T1 --to T2",
		Short: "Compare online values with offline rows, or served values with as-known-at training sets",
		Long: `skew-check --view reads the offline partition of a window (default: the view's newest) and
the online values of a sample of its entities, and reports every feature value that
differs. Online holds the newest window per entity, so check the newest window; a
mismatch means something wrote one store and not the other. A value missing online
(NOT_FOUND, or OUTSIDE_MAX_AGE) while its offline row is still within the view's TTL at
the time of the check is a mismatch too: that window's push never happened. Exits 1 on
any mismatch.

skew-check --served --from T1 --to T2 reads the reader's served log (under the offline
store's _served/ folder, see SKEWFREE_SERVED_LOG_RATE) for requests in [T1, T2), builds a
training set --as-known-at for the logged (key, request time) rows (fresh views from the
logged source events under --source), and reports per
feature the rates of mismatches (both PRESENT, different values), missing values (served
PRESENT, null offline) and extra values (a value offline, served NOT_FOUND or
OUTSIDE_MAX_AGE), with examples. Exits 1 if any is not zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if served {
				if view != "" || windowEnd != "" {
					return fmt.Errorf("--served checks the served log: drop --view and --window-end")
				}
				if from == "" || to == "" {
					return fmt.Errorf("--served needs --from and --to")
				}
				f, t, err := parseRange(from, to)
				if err != nil {
					return err
				}
				store, err := openOffline(offline)
				if err != nil {
					return err
				}
				// Fresh views' training values come from their logged
				// source events.
				sources, closeSources, err := app.OpenSources(ctx, pick(source, "SKEWFREE_SOURCE", app.DefaultSource))
				if err != nil {
					return err
				}
				defer closeSources.Close()
				rep, err := skew.CheckServed(ctx, reg, store, skew.ServedOptions{From: f, To: t, Examples: examples, Sources: sources})
				if err != nil {
					return err
				}
				return printServed(cmd, rep)
			}
			if view == "" {
				return fmt.Errorf("give --view (or --served)")
			}
			opts := skew.WindowOptions{View: view, Sample: sample}
			if windowEnd != "" {
				var err error
				if opts.WindowEnd, err = parseTime("--window-end", windowEnd); err != nil {
					return err
				}
			}
			if _, ok := reg.View(view); !ok {
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
			rep, err := skew.CheckWindow(ctx, reg, stores.Offline, stores.Online, opts)
			if err != nil {
				return err
			}
			for _, e := range rep.Examples {
				fmt.Fprintln(out, e)
			}
			fmt.Fprintln(out, rep.Summary())
			if rep.Mismatches > 0 {
				return fmt.Errorf("%d online values differ from the offline rows", rep.Mismatches)
			}
			return nil
		},
	}
	c.Flags().StringVar(&view, "view", "", "feature view")
	c.Flags().StringVar(&windowEnd, "window-end", "", "window to check, RFC 3339 (default: the newest)")
	c.Flags().IntVar(&sample, "sample", 1000, "entities to check (0: all)")
	c.Flags().BoolVar(&served, "served", false, "check the served log against training sets built --as-known-at")
	c.Flags().StringVar(&from, "from", "", "with --served: first request time, RFC 3339 (inclusive)")
	c.Flags().StringVar(&to, "to", "", "with --served: last request time, RFC 3339 (exclusive)")
	c.Flags().IntVar(&examples, "examples", 3, "with --served: example lines per feature")
	c.Flags().StringVar(&offline, "offline", "", "with --served: offline store (file://path or gs://bucket/prefix); default SKEWFREE_OFFLINE")
	c.Flags().StringVar(&source, "source", "", "with --served: raw data root (file://path or gs://bucket/prefix) for fresh views' logged events; default SKEWFREE_SOURCE")
	return c
}

// printServed prints a served check's table and examples, and fails on
// any disagreement.
func printServed(cmd *cobra.Command, rep *skew.ServedReport) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "served log %s to %s: %d files read, %d rows checked against training sets built --as-known-at\n",
		rep.From.Format(time.RFC3339Nano), rep.To.Format(time.RFC3339Nano), rep.Files, rep.Rows)
	if len(rep.Unknown) > 0 {
		fmt.Fprintf(out, "not checked (no longer in the registry, or of another type): %v\n", rep.Unknown)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tROWS\tMISMATCH\tMISSING\tEXTRA")
	pct := func(f *skew.FeatureReport, n int) string { return fmt.Sprintf("%d (%.2f%%)", n, 100*f.Rate(n)) }
	for _, f := range rep.Features {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.Ref, f.Rows, pct(f, f.Mismatch), pct(f, f.Missing), pct(f, f.Extra))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range rep.Features {
		for _, e := range f.Examples {
			fmt.Fprintln(out, e)
		}
	}
	var mis, miss, extra int
	for _, f := range rep.Features {
		mis, miss, extra = mis+f.Mismatch, miss+f.Missing, extra+f.Extra
	}
	fmt.Fprintf(out, "%d mismatches, %d missing, %d extra\n", mis, miss, extra)
	if n := rep.Disagreements(); n > 0 {
		return fmt.Errorf("%d served values differ from the --as-known-at training set", n)
	}
	if rep.Rows == 0 {
		fmt.Fprintln(out, "note: no served rows in the range; is SKEWFREE_SERVED_LOG_RATE set on the reader?")
	}
	return nil
}
