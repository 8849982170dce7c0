package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/catalog"
	"github.com/skewfree/skewfree/catalog/web"
	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving/httpapi"
	"github.com/skewfree/skewfree/store/parquet"
)

// catalogFlags are the flags every catalog command shares.
type catalogFlags struct {
	offline string
	at      string
}

func (f *catalogFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.offline, "offline", "", "offline store whose run records give freshness and runs; default SKEWFREE_OFFLINE, else "+app.DefaultOffline)
	c.Flags().StringVar(&f.at, "at", "", "judge freshness at this RFC 3339 time instead of now")
}

// runs opens the offline store's run records; nil (every view "never
// published") when the store's folder does not exist: reading the catalog
// never creates it.
func (f *catalogFlags) runs() (catalog.RunLister, error) {
	url := pick(f.offline, config.EnvOffline, app.DefaultOffline)
	if strings.HasPrefix(url, "gs://") {
		s, _, err := app.OpenOffline(context.Background(), url)
		return s, err
	}
	root, err := parquet.LocalPath(url)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return parquet.Open(root)
}

func (f *catalogFlags) now() (time.Time, error) {
	if f.at == "" {
		return time.Now().UTC(), nil
	}
	return parseTime("--at", f.at)
}

func (f *catalogFlags) build(cmd *cobra.Command, reg *features.Registry) (*catalog.Catalog, error) {
	runs, err := f.runs()
	if err != nil {
		return nil, err
	}
	now, err := f.now()
	if err != nil {
		return nil, err
	}
	return catalog.Build(cmd.Context(), reg, catalog.Options{Now: now, Runs: runs})
}

func catalogCmd(reg *features.Registry) *cobra.Command {
	var (
		asJSON bool
		flags  catalogFlags
	)
	c := &cobra.Command{
		Use:   "catalog [--json] | catalog serve [--addr HOST:PORT]",
		Short: "List entities, views (schedule, TTL, owner, freshness), features and feature services",
		Long: `catalog prints every definition of the registry: views with their schedule, TTL,
owner and freshness, features with the services that use them, and feature services.

Freshness comes from the run records in the offline store (--offline, else
SKEWFREE_OFFLINE): a view is stale when now > its newest published window end +
cadence + lateness, and "never published" without a published run.

With --json it prints the catalog export other tools read: every field of the
registry's export, plus per view "schedule", "freshness", "lineage", "checks"
(the declared checks with their latest results) and "on_check_failure", per
feature "ref" and "in_words", and a top-level "lineage" edge list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := flags.build(cmd, reg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			}
			return catalog.WriteTable(out, cat)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the catalog as JSON")
	flags.add(c)
	c.AddCommand(catalogServeCmd(reg))
	return c
}

func catalogServeCmd(reg *features.Registry) *cobra.Command {
	var (
		addr  string
		flags catalogFlags
	)
	c := &cobra.Command{
		Use:   "serve [--addr " + web.DefaultAddr + "]",
		Short: "Serve the catalog as a web page",
		Long: `serve answers the catalog web page on --addr until interrupted: a searchable list of
views, features and feature services, and a page for each with its definition in
words, lineage, freshness, check results and charts of recent windows. It reads
the offline store's run records on every request, so freshness stays current.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := flags.runs()
			if err != nil {
				return err
			}
			clock := time.Now
			if flags.at != "" {
				at, err := flags.now()
				if err != nil {
					return err
				}
				clock = func() time.Time { return at }
			}
			h, err := web.New(reg, web.Options{Runs: runs, Now: clock, Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))})
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("catalog serve: %w (try --addr)", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "catalog: http://%s/\n", l.Addr())
			return httpapi.Serve(cmd.Context(), l, h, 5*time.Second)
		},
	}
	c.Flags().StringVar(&addr, "addr", web.DefaultAddr, "address to listen on")
	flags.add(c)
	return c
}

func describeCmd(reg *features.Registry) *cobra.Command {
	var (
		flags catalogFlags
		runs  int
	)
	c := &cobra.Command{
		Use:   "describe view|feature|service NAME",
		Short: "Describe one view, feature or feature service: definition in words, owner, tags, users, last runs and checks",
		Long: `describe prints one definition for people: what it computes in words, its
schedule, TTL, owner and tags, the feature services that use it, its freshness,
and its last runs with their data-quality checks (from the offline store's run
records: --offline, else SKEWFREE_OFFLINE).

A feature is named view:feature, or by its bare name when only one view has it.
An unknown name fails with the closest existing names.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("describe takes a kind (view, feature or service) and a name, got %d arguments", len(args))
			}
			switch args[0] {
			case "view", "feature", "service":
				return nil
			}
			return fmt.Errorf("describe: unknown kind %q: want view, feature or service", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := flags.build(cmd, reg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch args[0] {
			case "view":
				v, err := cat.View(args[1])
				if err != nil {
					return err
				}
				return catalog.DescribeView(out, v, runs)
			case "feature":
				f, err := cat.Feature(args[1])
				if err != nil {
					return err
				}
				return catalog.DescribeFeature(out, f, runs)
			default:
				s, err := cat.Service(args[1])
				if err != nil {
					return err
				}
				return catalog.DescribeService(out, cat, s)
			}
		},
	}
	flags.add(c)
	c.Flags().IntVar(&runs, "runs", 10, "how many recent windows to list")
	return c
}
