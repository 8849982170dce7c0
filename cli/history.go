package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/features"
)

func historyCmd(reg *features.Registry) *cobra.Command {
	var view, windowEnd, offline string
	c := &cobra.Command{
		Use:   "history --view V --window-end T",
		Short: "List the versions of a window in the offline store",
		Long: `history lists every version of a view's window: each run (scheduled, re-run,
backfill) writes its own files, named by its created_timestamp, and keeps the
earlier ones. For each version it prints when it was created, when it was
published (every row online; "-" when its push never finished), its rows and
files. Readers take the newest version per key; --as-known-at training sets take
the newest version published by their row's time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := reg.View(view)
			if !ok {
				return fmt.Errorf("unknown view %q", view)
			}
			end, err := parseTime("--window-end", windowEnd)
			if err != nil {
				return err
			}
			if err := features.CheckWindowEnd(v, end); err != nil {
				return err
			}
			store, err := openOffline(offline)
			if err != nil {
				return err
			}
			vs, err := store.WindowVersions(cmd.Context(), v.Name, end)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(vs) == 0 {
				fmt.Fprintf(out, "%s window %s: no versions\n", v.Name, end.Format(time.RFC3339))
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tPUBLISHED\tROWS\tFILES")
			for _, ver := range vs {
				created, published := "- (unversioned file)", "-"
				if ver.Versioned() {
					created = ver.Created.UTC().Format(time.RFC3339Nano)
				}
				if !ver.Published.IsZero() {
					published = ver.Published.UTC().Format(time.RFC3339Nano)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", created, published, ver.Rows, strings.Join(ver.Files, ","))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&view, "view", "", "feature view")
	c.Flags().StringVar(&windowEnd, "window-end", "", "window end, RFC 3339")
	c.Flags().StringVar(&offline, "offline", "", "offline store (file://path); default SKEWFREE_OFFLINE")
	return c
}
