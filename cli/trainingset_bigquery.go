package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"github.com/spf13/cobra"
	"google.golang.org/api/option"

	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/trainingset/bqjoin"
)

// Engines of training-set.
const (
	engineLocal    = "local"
	engineBigQuery = "bigquery"
)

const (
	// envBigQuery is the history dataset, project.dataset.
	envBigQuery = "SKEWFREE_BIGQUERY"
)

// bigQueryFlags are training-set's flags for --engine bigquery.
type bigQueryFlags struct {
	engine, dataset, outTable string
	dryRun                    bool
}

func (b *bigQueryFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&b.engine, "engine", engineLocal, "where the join runs: local (this process, offline Parquet store) or bigquery (history tables of SKEWFREE_BIGQUERY)")
	c.Flags().StringVar(&b.dataset, "bigquery", "", "BigQuery history dataset project.dataset for --engine bigquery; default SKEWFREE_BIGQUERY")
	c.Flags().StringVar(&b.outTable, "out-table", "", "--engine bigquery: write the training set to this table (name in the dataset, or project.dataset.name), replacing it, instead of --out")
	c.Flags().BoolVar(&b.dryRun, "dry-run", false, "--engine bigquery: print the bytes each view's statement would scan and write nothing")
}

// check validates the flag combination before any work.
func (b *bigQueryFlags) check(entities, out string) error {
	switch b.engine {
	case engineLocal:
		if b.outTable != "" || b.dryRun || b.dataset != "" {
			return errors.New("--out-table, --dry-run and --bigquery need --engine bigquery")
		}
		if entities == "" || out == "" {
			return errors.New("--entities and --out are required")
		}
	case engineBigQuery:
		if entities == "" {
			return errors.New("--entities is required")
		}
		if !b.dryRun && (out == "") == (b.outTable == "") {
			return errors.New("--engine bigquery: give exactly one of --out and --out-table (or --dry-run)")
		}
	default:
		return fmt.Errorf("--engine %q: want local or bigquery", b.engine)
	}
	return nil
}

func (b *bigQueryFlags) run(cmd *cobra.Command, reg *features.Registry, opt bqjoin.Options) error {
	name := pick(b.dataset, envBigQuery, "")
	if name == "" {
		return fmt.Errorf("--engine bigquery needs a dataset: set %s=project.dataset or --bigquery", envBigQuery)
	}
	ds, err := bqjoin.ParseDataset(name)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	client, err := bigQueryClient(ctx, ds.Project)
	if err != nil {
		return err
	}
	defer client.Close()
	opt.OutTable, opt.DryRun = b.outTable, b.dryRun
	if opt.DryRun {
		opt.Out = ""
	}
	st, err := bqjoin.Build(ctx, client, ds, reg, opt)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if opt.DryRun {
		for _, v := range st.ViewBytes {
			fmt.Fprintf(w, "view %s: %d bytes (%s)\n", v.View, v.Bytes, humanBytes(v.Bytes))
		}
		fmt.Fprintf(w, "total: %d bytes (%s) would be scanned for %d entity rows\n", st.Bytes, humanBytes(st.Bytes), st.EntityRows)
		return nil
	}
	dest := opt.Out
	if dest == "" {
		dest = opt.OutTable
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "training set (bigquery %s): %d rows x %d features -> %s in %s (%d bytes processed)\n",
		ds, st.EntityRows, len(opt.Features), dest, st.Elapsed.Round(time.Millisecond), st.Bytes)
	return nil
}

// bigQueryClient uses Application Default Credentials, or without
// authentication the emulator of SKEWFREE_BIGQUERY_ENDPOINT or
// BIGQUERY_EMULATOR_HOST (config.BigQueryEndpointFromEnv, as the worker).
func bigQueryClient(ctx context.Context, project string) (*gbigquery.Client, error) {
	var opts []option.ClientOption
	if ep := config.BigQueryEndpointFromEnv(nil); ep != "" {
		opts = append(opts, option.WithEndpoint(ep), option.WithoutAuthentication())
	}
	c, err := gbigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery client for project %s: %w", project, err)
	}
	return c, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
