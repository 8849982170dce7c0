// Package cli is the `starter` command line, importable so that a team can
// build its own starter around its own registry in three lines:
//
//	func main() { os.Exit(cli.Main(myrepo.Registry())) }
//
// Flags and environment variables are read here and nowhere below.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
	"github.com/skewfree/skewfree/trainingset/bqjoin"
)

// Env returns the environment variable or its default.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Main runs the command line with os.Args and returns the exit code. Errors
// are one line on stderr.
func Main(reg *features.Registry) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, reg, os.Args[1:], os.Stdout, os.Stderr)
}

// Run executes one command line and returns its exit code: 0, or 1 after
// printing the error as one line on stderr.
func Run(ctx context.Context, reg *features.Registry, args []string, stdout, stderr io.Writer) int {
	cmd := New(reg)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "starter: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	return 0
}

// New returns the root command over reg.
func New(reg *features.Registry) *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "Skewfree's command line: materialize, backfill, build training sets, show the catalog",
		Long: `starter drives a Skewfree feature repository.

Locations come from flags or the environment:
  SKEWFREE_OFFLINE  offline store (file://path), default ` + app.DefaultOffline + `
  SKEWFREE_SOURCE   raw source data (file://path), default ` + app.DefaultSource + `
  SKEWFREE_PROJECT  project name (--project), default ` + app.DefaultProject + `: qualifies schedule and
                    workflow ids, the task queue and the Redis key prefix

Windows that materialize and backfill start (schedules keep the defaults) take their activities' timeouts from
  SKEWFREE_ACTIVITY_TIMEOUT   longest run of one activity, default 30m
  SKEWFREE_HEARTBEAT_TIMEOUT  silence after which a worker counts as dead, default 2m`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("project", "", "project name; default SKEWFREE_PROJECT, else "+app.DefaultProject)
	root.AddCommand(catalogCmd(reg), describeCmd(reg), generateCmd(reg), trainingSetCmd(reg), materializeCmd(reg), applyCmd(reg), backfillCmd(reg), skewCheckCmd(reg), historyCmd(reg))
	return root
}

func generateCmd(reg *features.Registry) *cobra.Command {
	var (
		opt   demo.GenOptions
		out   string
		start string
		seed  uint64
	)
	c := &cobra.Command{
		Use:   "generate",
		Short: "Write deterministic sample raw events (orders, page views) for the demo repository",
		Long: `generate writes the demo repository's raw sources as Parquet, one file per source and
UTC day, under --out (default SKEWFREE_SOURCE). The same flags always give the same events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if start != "" {
				t, err := time.Parse(time.DateOnly, start)
				if err != nil {
					return fmt.Errorf("--start %q: want YYYY-MM-DD", start)
				}
				opt.Start = t
			}
			opt.Seed = seed
			frames, err := demo.Generate(opt)
			if err != nil {
				return err
			}
			src, _, err := app.OpenSources(cmd.Context(), pick(out, "SKEWFREE_SOURCE", app.DefaultSource))
			if err != nil {
				return err
			}
			for _, name := range []string{"orders", "page_views"} {
				s, ok := reg.Source(name)
				if !ok {
					return fmt.Errorf("registry has no source %q: generate writes the demo repository's sources", name)
				}
				parts, err := src.Write(cmd.Context(), s, frames[name])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d events in %d daily files\n", name, frames[name].Len(), len(parts))
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "raw data root (file://path); default SKEWFREE_SOURCE, else "+app.DefaultSource)
	c.Flags().IntVar(&opt.Users, "users", 1000, "number of users")
	c.Flags().IntVar(&opt.Products, "products", 200, "number of products")
	c.Flags().IntVar(&opt.Days, "days", 7, "number of days")
	c.Flags().StringVar(&start, "start", "2026-11-01", "first day, YYYY-MM-DD (UTC)")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	return c
}

func trainingSetCmd(reg *features.Registry) *cobra.Command {
	var (
		entities, featList, service, out, offline, visibility, source string
		asKnownAt                                                     bool
		budgetMB                                                      int64
		bq                                                            bigQueryFlags
	)
	c := &cobra.Command{
		Use:   "training-set --entities FILE.parquet|FILE.csv (--features view:feat,... | --service NAME) --out FILE.parquet",
		Short: "Build a point-in-time correct training set",
		Long: `training-set joins an entity table against the offline history.

--entities and --out may be gs://bucket/... (Application Default Credentials, or
STORAGE_EMULATOR_HOST): the entity table (a file, or a folder of Parquet files) is
copied to a temporary local folder first; the output is written locally, then
uploaded as one object.

The entity table is a Parquet file with the join key column of every requested view
(e.g. user_id), a TIMESTAMP column event_timestamp, and any other columns (labels),
which pass through unchanged.

A file ending in .csv is read as CSV: a header line naming the columns, the join
key(s), event_timestamp as RFC 3339 with its offset (2026-11-20T13:05:00Z), and
other columns typed by their values: int64 if every non-empty value is an integer,
else float64 if every one is a number, else bool if every one is true or false,
else string. Empty fields are null (never in keys or event_timestamp). Errors name
the row, line and column.

For each row at time T and each view with TTL ttl and
allowed lateness L it takes that key's history row that is available at T,
event_timestamp + L <= T (the view's scheduled run for window E starts at E + L, so
serving cannot have it earlier), and within TTL, T - ttl <= event_timestamp, with the
greatest event_timestamp (ties: greatest created_timestamp); nulls when there is
none. --visibility=feast uses Feast's plain event_timestamp <= T instead. Every input
row is kept, in order. Feature columns are named view__feature.

With --as-known-at a history row's version must also have been published (all its
rows online) by T, so the row holds what the reader service returned at T, and
values computed after T (backfills, corrections) never leak into it. Files of other
tools count as known at their rows' created_timestamp (null: never).

Fresh (streaming) views are computed from their logged source events (--source)
by the rule of docs/format/fresh.md: at T, an event counts from its ingest time
with --as-known-at (exactly as online), else from its event time plus the view's
ingest delay.


--engine bigquery runs the same join inside BigQuery on the history tables of
SKEWFREE_BIGQUERY (project.dataset; --bigquery): the entity rows are uploaded, each
view is one statement reading only the partitions [min T - TTL - lateness, max T],
and the result is written to --out (Parquet) or --out-table (a table, replaced).
--dry-run prints the bytes BigQuery would scan and writes nothing. Credentials:
Application Default Credentials; SKEWFREE_BIGQUERY_ENDPOINT=http://host:port (or
BIGQUERY_EMULATOR_HOST=host:port) targets an emulator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bq.check(entities, out); err != nil {
				return err
			}
			if (featList == "") == (service == "") {
				return fmt.Errorf("give exactly one of --features and --service")
			}
			var refs []string
			if service != "" {
				s, ok := reg.Service(service)
				if !ok {
					return fmt.Errorf("unknown feature service %q", service)
				}
				refs = s.Features
			} else {
				for _, r := range strings.Split(featList, ",") {
					if r = strings.TrimSpace(r); r != "" {
						refs = append(refs, r)
					}
				}
			}
			resolved, err := reg.ResolveRefs(refs)
			if err != nil {
				return err
			}
			vis, err := features.ParseVisibility(visibility)
			if err != nil {
				return fmt.Errorf("--visibility: %w", err)
			}
			// A gs:// entity table (file or folder) is copied to local
			// disk through gcsfs; a gs:// --out is written locally, then
			// uploaded as one object.
			ctx := cmd.Context()
			entLocal, cleanEnt, err := app.FetchLocal(ctx, entities, "")
			if err != nil {
				return fmt.Errorf("--entities: %w", err)
			}
			defer cleanEnt()
			outLocal, commitOut, cleanOut, err := app.StageOutput(ctx, out, "")
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			defer cleanOut()
			if bq.engine == engineBigQuery {
				if err := bq.run(cmd, reg, bqjoin.Options{Entities: entLocal, Features: resolved, Out: outLocal,
					Visibility: vis, AsKnownAt: asKnownAt}); err != nil {
					return renamePath(err, entLocal, entities)
				}
				if out == "" || bq.dryRun {
					return nil
				}
				if err := commitOut(ctx); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				return nil
			}
			store, err := openOffline(offline)
			if err != nil {
				return err
			}
			var sources trainingset.LoggedEvents
			for _, r := range resolved {
				if v, _ := reg.View(r.View); v != nil && v.Fresh != nil && sources == nil {
					s, _, err := app.OpenSources(cmd.Context(), pick(source, "SKEWFREE_SOURCE", app.DefaultSource))
					if err != nil {
						return err
					}
					sources = s
				}
			}
			st, err := trainingset.Build(cmd.Context(), reg, store, trainingset.Options{
				Entities: entLocal, Features: resolved, Out: outLocal, Visibility: vis, AsKnownAt: asKnownAt, MemoryBudget: budgetMB << 20,
				Sources: sources,
			})
			if err != nil {
				return renamePath(err, entLocal, entities)
			}
			if err := commitOut(ctx); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "training set: %d rows x %d features -> %s in %s (history rows scanned %d in %d files, partitions %d, peak RSS %d MiB)\n",
				st.EntityRows, len(resolved), out, st.Elapsed.Round(time.Millisecond), st.HistoryRows, st.Files, st.Partitions, PeakRSS()>>20)
			return nil
		},
	}
	c.Flags().StringVar(&entities, "entities", "", "entity table (Parquet, or CSV when the name ends in .csv, or a folder of Parquet files; local or gs://bucket/...) with join keys and event_timestamp")
	c.Flags().StringVar(&featList, "features", "", "comma-separated view:feature references")
	c.Flags().StringVar(&service, "service", "", "feature service whose features to join")
	c.Flags().StringVar(&out, "out", "", "output Parquet file, local or gs://bucket/object (written atomically)")
	c.Flags().StringVar(&offline, "offline", "", "offline store (file://path); default SKEWFREE_OFFLINE")
	c.Flags().BoolVar(&asKnownAt, "as-known-at", false, "also require the history row's version to be published by the entity row's event_timestamp")
	c.Flags().StringVar(&visibility, "visibility", "available", "when a history row becomes visible: available (event_timestamp + lateness <= T) or feast (event_timestamp <= T)")
	c.Flags().Int64Var(&budgetMB, "memory-budget-mb", 1024, "join state budget; larger entity tables are split by key hash")
	c.Flags().StringVar(&source, "source", "", "raw data root (file://path) for fresh views' logged events; default SKEWFREE_SOURCE")
	bq.register(c)
	return c
}

func materializeCmd(reg *features.Registry) *cobra.Command {
	var (
		view, windowEnd, from, to, offline, source string
		local, wait                                bool
	)
	c := &cobra.Command{
		Use:   "materialize --view V --window-end T [--wait] | --local (--window-end T | --from T --to T)",
		Short: "Compute a feature window: offline partition, then online values",
		Long: `materialize computes a window of a view with its transform, writes its offline
partition and pushes the same rows to Redis. Times are RFC 3339 (UTC); --window-end
must fall on the view's cadence.

By default it starts MaterializeWorkflow on Temporal with the id
materialize-<view>-<window end>, the id the view's schedule uses for that window, so
a window already running is joined, not run twice. --wait waits for the result.

--local runs in this process without Temporal and writes the offline partition only;
--from/--to then run every window end in (from, to].`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := reg.View(view)
			if !ok {
				return fmt.Errorf("unknown view %q", view)
			}
			var ends []time.Time
			switch {
			case windowEnd != "" && from == "" && to == "":
				t, err := parseTime("--window-end", windowEnd)
				if err != nil {
					return err
				}
				if err := features.CheckWindowEnd(v, t); err != nil {
					return err
				}
				ends = []time.Time{t}
			case local && windowEnd == "" && from != "" && to != "":
				f, t, err := parseRange(from, to)
				if err != nil {
					return err
				}
				ends = features.WindowEnds(v, f, t)
			default:
				return fmt.Errorf("give --window-end (or, with --local, --from and --to)")
			}
			if !local {
				return materializeRemote(cmd, v, ends[0], wait)
			}
			store, err := openOffline(offline)
			if err != nil {
				return err
			}
			src, _, err := app.OpenSources(cmd.Context(), pick(source, "SKEWFREE_SOURCE", app.DefaultSource))
			if err != nil {
				return err
			}
			for _, end := range ends {
				p, err := pipeline.MaterializeOffline(cmd.Context(), reg, src, store, v.Name, end, time.Now().UTC())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d rows -> %s\n", v.Name, end.Format(time.RFC3339), p.Rows, p.Path)
			}
			return nil
		},
	}
	c.Flags().StringVar(&view, "view", "", "feature view")
	c.Flags().StringVar(&windowEnd, "window-end", "", "window end, RFC 3339")
	c.Flags().StringVar(&from, "from", "", "with --local: range start (exclusive), RFC 3339")
	c.Flags().StringVar(&to, "to", "", "with --local: range end (inclusive), RFC 3339")
	c.Flags().StringVar(&offline, "offline", "", "with --local: offline store; default SKEWFREE_OFFLINE")
	c.Flags().StringVar(&source, "source", "", "with --local: raw data root; default SKEWFREE_SOURCE")
	c.Flags().BoolVar(&local, "local", false, "run in this process, without Temporal (offline only)")
	c.Flags().BoolVar(&wait, "wait", false, "wait for the window to finish and print its result")
	return c
}

func parseRange(from, to string) (time.Time, time.Time, error) {
	f, err := parseTime("--from", from)
	if err != nil {
		return f, f, err
	}
	t, err := parseTime("--to", to)
	if err != nil {
		return f, t, err
	}
	if !f.Before(t) {
		return f, t, fmt.Errorf("--from %s is not before --to %s", from, to)
	}
	return f, t, nil
}

// openOffline opens the offline store a command's --offline flag names,
// else SKEWFREE_OFFLINE, else the local stack's.
// A gs:// store's client lives as long as the command.
func openOffline(flag string) (*parquet.Store, error) {
	s, _, err := app.OpenOffline(context.Background(), pick(flag, config.EnvOffline, app.DefaultOffline))
	return s, err
}

func pick(flag, env, def string) string {
	if flag != "" {
		return flag
	}
	return Env(env, def)
}

func parseTime(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-11-20T00:00:00Z", flag, s)
	}
	return t.UTC(), nil
}

// PeakRSS is the process's peak resident memory in bytes.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10 // kilobytes on Linux
}

// renamePath names from (a gs:// entity table) where err names its local
// copy local, which is gone by the time the user reads the message.
func renamePath(err error, local, from string) error {
	if err == nil || local == from || !strings.Contains(err.Error(), local) {
		return err
	}
	return renamed{msg: strings.ReplaceAll(err.Error(), local, from), err: err}
}

// renamed is an error with another text and the same chain.
type renamed struct {
	msg string
	err error
}

func (r renamed) Error() string { return r.msg }
func (r renamed) Unwrap() error { return r.err }
