package app

import (
	"context"
	"fmt"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/skewfree/skewfree/features"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
)

// openBigQuery opens the BigQuery history in cfg.BigQuery (project.dataset)
// with Application Default Credentials, or without credentials against
// cfg.BigQueryEndpoint (an emulator), checking the dataset is there.
func (s *Stores) openBigQuery(ctx context.Context, reg *features.Registry, cfg Config) error {
	ds, err := bqstore.ParseDataset(cfg.BigQuery)
	if err != nil {
		return err
	}
	var opts []option.ClientOption
	if cfg.BigQueryEndpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.BigQueryEndpoint), option.WithoutAuthentication())
	}
	client, err := gbigquery.NewClient(ctx, ds.Project, opts...)
	if err != nil {
		return fmt.Errorf("bigquery %s: %w", ds, err)
	}
	h, err := bqstore.Open(ctx, client, reg, ds, bqstore.Options{Project: cfg.Project, Logger: cfg.Logger})
	if err != nil {
		client.Close()
		return err
	}
	s.bq, s.History, s.Tables = client, h, bqstore.NewSources(client)
	return nil
}
