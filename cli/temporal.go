package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/workflows"
)

// ConfigFromEnv reads the documented environment variables (package
// config) and fills in the defaults.
func ConfigFromEnv(logger *slog.Logger) app.Config {
	c := config.FromEnv(nil)
	c.Logger = logger
	return c.WithDefaults()
}

// commandConfig is the configuration of a command: the environment, then
// the root's --project flag, validated.
func commandConfig(cmd *cobra.Command) (app.Config, error) {
	cfg := ConfigFromEnv(slog.New(slog.DiscardHandler))
	if f := cmd.Flags().Lookup("project"); f != nil && f.Changed {
		cfg.Project = f.Value.String()
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("--project or %s: %w", config.EnvProject, err)
	}
	return cfg, nil
}

func dial(cmd *cobra.Command) (client.Client, app.Config, error) {
	cfg, err := commandConfig(cmd)
	if err != nil {
		return nil, cfg, err
	}
	if cfg.ActivityTimeout, cfg.HeartbeatTimeout, err = config.TimeoutsFromEnv(nil); err != nil {
		return nil, cfg, err
	}
	c, err := app.Dial(cmd.Context(), cfg)
	return c, cfg, err
}

func applyCmd(reg *features.Registry) *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Create, update and delete the views' Temporal schedules to match the registry",
		Long: `apply makes one schedule per view, id materialize-<view>, firing every cadence on the
UTC boundary (hourly at :00, daily at 00:00); each run materializes the window that ends
at its nominal time, after the view's allowed lateness. Schedules of views that no longer
exist are deleted. It prints what it changed.

apply touches only the schedules it created for this project (marked in their memo):
other projects' schedules and unmarked ones are never updated or deleted. An unmarked
schedule holding exactly a view's id and starting that view's MaterializeWorkflow on
the project's task queue (one made before the mark existed) is adopted: recreated with
the mark, paused state kept. Projects other than the default prefix their ids and task
queue with "<project>."; the default project keeps the plain ones. Backfill a past range from the Temporal
UI (the schedule's Backfill action) or with starter backfill: both run the same windows.

Then apply publishes the registry's catalog in the online store (SKEWFREE_REDIS_URL, under
the project's key prefix), where reader services pick it up without a restart; publishing
an unchanged registry writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := app.EnsureSearchAttributes(cmd.Context(), c, cfg.Namespace); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			changes, err := app.ApplyProject(cmd.Context(), c, reg, cfg.Project)
			for _, ch := range changes {
				fmt.Fprintln(cmd.OutOrStdout(), ch)
			}
			if err != nil {
				return err
			}
			return publishCatalog(cmd, reg, cfg)
		},
	}
}

// startOptions are how the starter starts a window: the schedule's id for
// it, joining a run already in progress, re-running a finished one.
func startOptions(v *features.View, end time.Time, project workflows.Project) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       project.MaterializeID(v.Name, end),
		TaskQueue:                project.TaskQueue(),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.ViewAttr.ValueSet(v.Name), workflows.WindowEndAttr.ValueSet(end)),
		Memo:                     map[string]any{"view": v.Name, "window_end": end.Format(time.RFC3339)},
	}
}

func materializeRemote(cmd *cobra.Command, v *features.View, end time.Time, wait bool) error {
	c, cfg, err := dial(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	proj := workflows.Project(cfg.Project)
	in := proj.InputFor(v, end)
	in.Timeouts = app.Timeouts(cfg)
	run, err := c.ExecuteWorkflow(cmd.Context(), startOptions(v, end, proj), workflows.MaterializeWorkflow, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", proj.MaterializeID(v.Name, end), err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "started %s (run %s)\n", run.GetID(), run.GetRunID())
	if !wait {
		return nil
	}
	var res workflows.MaterializeResult
	if err := run.Get(cmd.Context(), &res); err != nil {
		return fmt.Errorf("%s: %w", run.GetID(), err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d events -> %d rows in %d partitions; online %d written, %d stale, %d expired\n",
		res.View, res.WindowEnd.Format(time.RFC3339), res.Events, res.Rows, len(res.Partitions), res.Online.Written, res.Online.Stale, res.Online.Expired)
	return nil
}

func backfillCmd(reg *features.Registry) *cobra.Command {
	var (
		view, from, to string
		wait, rerun    bool
		concurrency    int
	)
	c := &cobra.Command{
		Use:   "backfill --view V --from T --to T [--wait]",
		Short: "Materialize every window of a view in (from, to]",
		Long: `backfill starts BackfillWorkflow, which runs every window ending in (from, to] as a
child MaterializeWorkflow with the schedule's ids (materialize-<view>-<window end>), at
most --concurrency at a time, and survives worker restarts. Online values keep the
newest window whatever order windows finish in. With --wait it shows progress until done:
a bar on a terminal, else (a file, a CI log) a plain line every few seconds.

Windows that already have a version in the offline store are skipped (counted as
skipped), so repeating a backfill adds no versions; --rerun computes them again (each
run adds a version). The Temporal UI's schedule backfill always re-runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := reg.View(view)
			if !ok {
				return fmt.Errorf("unknown view %q", view)
			}
			f, t, err := parseRange(from, to)
			if err != nil {
				return err
			}
			windows := len(features.WindowEnds(v, f, t))
			if windows == 0 {
				return fmt.Errorf("no %s window ends in (%s, %s]", v.Cadence, from, to)
			}
			cl, cfg, err := dial(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			proj := workflows.Project(cfg.Project)
			in := workflows.BackfillInputFor(proj.InputFor(v, time.Time{}), f, t, concurrency)
			in.Rerun = rerun
			in.Timeouts = app.Timeouts(cfg)
			id := proj.BackfillID(v.Name, f, t)
			if rerun {
				// A re-run is a new request, not the same backfill again.
				id += "-rerun"
			}
			run, err := cl.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{
				ID: id, TaskQueue: proj.TaskQueue(),
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
				TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.ViewAttr.ValueSet(v.Name)),
				Memo:                     map[string]any{"view": v.Name, "from": f.Format(time.RFC3339), "to": t.Format(time.RFC3339)},
			}, workflows.BackfillWorkflow, in)
			if err != nil {
				return fmt.Errorf("start %s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "started %s\n", id)
			if !wait {
				return nil
			}
			return waitBackfill(cmd, cl, run, windows)
		},
	}
	c.Flags().StringVar(&view, "view", "", "feature view")
	c.Flags().StringVar(&from, "from", "", "range start (exclusive), RFC 3339")
	c.Flags().StringVar(&to, "to", "", "range end (inclusive), RFC 3339")
	c.Flags().BoolVar(&wait, "wait", false, "wait, showing progress")
	c.Flags().IntVar(&concurrency, "concurrency", 4, "windows computed at once")
	c.Flags().BoolVar(&rerun, "rerun", false, "also compute windows that already have a version (adds a version of each)")
	return c
}

// waitBackfill polls the progress query until the backfill (across
// continue-as-new runs) ends, showing it as a bar on a terminal and as plain
// lines every few seconds elsewhere.
func waitBackfill(cmd *cobra.Command, cl client.Client, run client.WorkflowRun, total int) error {
	bar := newProgress(cmd.ErrOrStderr(), run.GetID(), total)
	var last workflows.Progress
	done := make(chan error, 1)
	go func() {
		var p workflows.Progress
		done <- run.Get(cmd.Context(), &p) // follows continue-as-new
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			p, qerr := queryProgress(cmd.Context(), cl, run.GetID())
			if qerr != nil {
				p = last
			}
			bar.Finish(p)
			fmt.Fprintf(cmd.OutOrStdout(), "backfill %s: %d of %d windows done, %d skipped (already stored), %d failed, %d already running elsewhere %v\n",
				run.GetID(), p.Done, p.Total, p.Skipped, p.Failed, p.Joined, p.JoinedWindows)
			return err
		case <-tick.C:
			if p, err := queryProgress(cmd.Context(), cl, run.GetID()); err == nil {
				last = p
				bar.Update(p)
			}
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		}
	}
}

func queryProgress(ctx context.Context, cl client.Client, id string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := cl.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}
